-- A team reads the webhook deliveries about its own account (GET /api/v1/github/deliveries): App
-- events of one of the account's installations, and events naming the account itself (a
-- Marketplace purchase; an installation GitHub sent before we recorded it). The payload is GitHub's
-- signed document, so these ids are its word. Text, not bigint: a cast in an index expression
-- would make a payload with an odd id fail its insert. The expressions are those of
-- services/identity/github_links.py.
CREATE INDEX webhook_deliveries_installation
    ON webhook_deliveries (((payload -> 'installation' ->> 'id')), id) WHERE endpoint = 'app';
CREATE INDEX webhook_deliveries_account
    ON webhook_deliveries ((COALESCE(payload -> 'marketplace_purchase' -> 'account' ->> 'id',
                                     payload -> 'installation' -> 'account' ->> 'id')), id);
