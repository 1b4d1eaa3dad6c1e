-- Search ranks only the packages whose name, keywords or summary match (the head of the search
-- document, weights A and B); description-only matches follow in name order, so a common word no
-- longer ranks every package of a team. Generated, so every writer of search_document keeps it.
ALTER TABLE packages
    ADD COLUMN head_document tsvector GENERATED ALWAYS AS (ts_filter(search_document, '{a,b}')) STORED;

CREATE INDEX packages_search_head ON packages USING gin (head_document);
-- The description-only tail is read in name order, stopping at the page's end.
CREATE INDEX packages_team_name ON packages (team_id, name, ecosystem);
