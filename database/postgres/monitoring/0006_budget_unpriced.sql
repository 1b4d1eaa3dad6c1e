-- What a hard limit does with calls whose model has no price (services/budgets, UnpricedPolicy).
-- Budgets made before this column keep admitting them ('allow', as they did); new budgets say
-- 'refuse' unless told otherwise (the API's default: a hard limit then holds whatever the model).
ALTER TABLE budgets
    ADD COLUMN unpriced text NOT NULL DEFAULT 'allow' CHECK (unpriced IN ('allow', 'refuse'));

-- Calls a budget counted at cost 0 because their model had no price when admitted.
ALTER TABLE budget_spend ADD COLUMN unpriced_events bigint NOT NULL DEFAULT 0;
