-- The audit log (services/audit): who did what to which resource, when, from where, with the
-- before and after of what changed. One hash chain per team (services/audit/chain.py).
--
-- Append-only: triggers refuse UPDATE, DELETE and TRUNCATE of audit_entries, so history cannot be
-- changed by accident. The one way out is the purge of a whole team after an account's end
-- (services/audit/store.py: purge_team), which runs
--     SELECT set_config('mno.audit_purge', 'on', true)   -- i.e. SET LOCAL mno.audit_purge = on
-- in its transaction; the triggers then let DELETEs through until that transaction ends. That
-- setting is a guard against mistakes, not a security boundary: whoever can run SQL can set it
-- (and whoever owns the table can disable the triggers). What catches them is the hash chain:
-- `mno audit verify`.
--
-- No foreign key to teams: history must outlive an accidental DELETE of a team; the purge is
-- explicit.

CREATE TABLE audit_entries (
    team_id uuid NOT NULL,
    seq bigint NOT NULL CHECK (seq > 0),  -- per team, 1-based, gapless
    id uuid NOT NULL UNIQUE,
    -- The audited transaction's now(): equal to the timestamps the change itself wrote.
    occurred_at timestamptz NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('session', 'api_key', 'operator', 'system')),
    actor_user_id text,
    actor_api_key_id text,
    actor_session_id text,
    actor_ip text,
    actor_user_agent text,
    -- Byte-wise collation: `action LIKE 'apikeys.%'` can then use the index below.
    action text COLLATE "C" NOT NULL,
    resource_type text NOT NULL,
    resource_id text,
    before jsonb,
    after jsonb,
    correlation_id text,
    prev_hash text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (team_id, seq)
);
CREATE INDEX audit_entries_action ON audit_entries (team_id, action, seq);
CREATE INDEX audit_entries_resource ON audit_entries (team_id, resource_type, resource_id, seq);
CREATE INDEX audit_entries_actor_user ON audit_entries (team_id, actor_user_id, seq)
    WHERE actor_user_id IS NOT NULL;
CREATE INDEX audit_entries_actor_api_key ON audit_entries (team_id, actor_api_key_id, seq)
    WHERE actor_api_key_id IS NOT NULL;
CREATE INDEX audit_entries_time ON audit_entries (team_id, occurred_at);

-- The end of each team's chain. store.append locks this row (SELECT ... FOR UPDATE), so appends of
-- one team are serialised and the chain cannot fork, and moves it in the same transaction as the
-- insert. Verification compares the chain with it to see a removed tail. seq 0 with the genesis
-- hash: a team whose first append is under way (or rolled back).
CREATE TABLE audit_heads (
    team_id uuid PRIMARY KEY,
    seq bigint NOT NULL CHECK (seq >= 0),
    hash text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_purge_allowed() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(current_setting('mno.audit_purge', true), '') = 'on'
$$;

CREATE FUNCTION audit_entries_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND super_agent.audit_purge_allowed() THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit entries are only ever removed by purging their team (services/audit/store.py: purge_team).';
END;
$$;

CREATE TRIGGER audit_entries_append_only
    BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_refuse_change();

CREATE TRIGGER audit_entries_no_truncate
    BEFORE TRUNCATE ON audit_entries
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_refuse_change();

-- Every insert must extend its team's chain at the head: the next seq, chained from the head's
-- hash (the store then moves the head in the same statement). Catches a caller that did not lock
-- the head, or inserts made around the store.
CREATE FUNCTION audit_entries_check_link() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    head_seq bigint;
    head_hash text;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM super_agent.audit_heads WHERE team_id = NEW.team_id;
    IF NOT FOUND OR NEW.seq <> head_seq + 1 OR NEW.prev_hash <> head_hash THEN
        RAISE EXCEPTION 'audit entry % of team % does not extend the chain at its head (%)',
            NEW.seq, NEW.team_id, coalesce(head_seq::text, 'none')
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_entries_extend_head
    BEFORE INSERT ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_check_link();

-- Heads only move forward, and only go with a purge.
CREATE FUNCTION audit_heads_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF super_agent.audit_purge_allowed() THEN
            RETURN OLD;
        END IF;
        RAISE EXCEPTION 'audit_heads rows are only removed by a team purge'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.team_id <> OLD.team_id OR NEW.seq <= OLD.seq THEN
        RAISE EXCEPTION 'audit head of team % may only move forward (% to %)', OLD.team_id, OLD.seq, NEW.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_heads_forward_only
    BEFORE UPDATE OR DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only();

CREATE TRIGGER audit_heads_no_truncate
    BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_refuse_change();
