-------------------------------------------------------------------------------
-- Agent-to-agent grants
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.canonical_actions(actions text[]) RETURNS text[]
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_canonical_actions';
COMMENT ON FUNCTION execlave.canonical_actions(text[]) IS 'Validate a list of actions (22023 for unknown or repeated names, listing the valid ones; 22004 for NULLs) and return it in canonical order';

CREATE FUNCTION execlave.actions_valid(actions text[]) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_actions_valid';
COMMENT ON FUNCTION execlave.actions_valid(text[]) IS 'True for a non-empty list of distinct valid actions (the CHECK of execlave.grants)';

CREATE TABLE execlave.grants (
    id          uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    source_id   uuid        NOT NULL REFERENCES execlave.agents (id),
    target_id   uuid        NOT NULL REFERENCES execlave.agents (id),
    actions     text[]      NOT NULL,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  text        NOT NULL DEFAULT CURRENT_USER,
    revoked_at  timestamptz,
    revoked_by  text,
    replaces    uuid,
    CONSTRAINT grants_pkey PRIMARY KEY (id),
    CONSTRAINT grants_replaces_fkey FOREIGN KEY (replaces) REFERENCES execlave.grants (id),
    CONSTRAINT grants_actions_check CHECK (execlave.actions_valid(actions)),
    CONSTRAINT grants_revoked_check CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);
CREATE INDEX grants_pair_idx ON execlave.grants (source_id, target_id);
CREATE INDEX grants_target_idx ON execlave.grants (target_id);
COMMENT ON TABLE execlave.grants IS 'Agent-to-agent access grants: source may perform actions on target until expires_at, unless revoked. Live grants of one pair are merged';
COMMENT ON COLUMN execlave.grants.actions IS 'Allowed actions, distinct, in canonical order: execute, read, write, delete, invoke, query, subscribe, delegate';
COMMENT ON COLUMN execlave.grants.expires_at IS 'The grant allows nothing from this instant on (NULL: never expires)';
COMMENT ON COLUMN execlave.grants.replaces IS 'For a grant re-issued by a partial revoke: the grant it replaces';
SELECT pg_catalog.pg_extension_config_dump('execlave.grants', '');

CREATE TABLE execlave.grant_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    grant_id    uuid        NOT NULL,
    operation   text        NOT NULL CHECK (operation IN ('grant', 'revoke')),
    source_id   uuid        NOT NULL,
    target_id   uuid        NOT NULL,
    actions     text[]      NOT NULL,
    expires_at  timestamptz,
    actor       text        NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX grant_history_grant_idx ON execlave.grant_history (grant_id);
COMMENT ON TABLE execlave.grant_history IS 'Append-only change history of grants: every grant and revoke, with who and when';
SELECT pg_catalog.pg_extension_config_dump('execlave.grant_history', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.grant_history_id_seq', '');

CREATE TRIGGER grant_history_append_only
    BEFORE UPDATE OR DELETE ON execlave.grant_history
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();

CREATE TRIGGER grants_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execlave.grants
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.invalidate_cache();

-- BEFORE trigger (runs as the caller): grants are immutable but for being
-- revoked once; stamps who and when.
CREATE FUNCTION execlave.grants_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.actions := execlave.canonical_actions(NEW.actions);
        IF NEW.expires_at <= clock_timestamp() THEN
            RAISE EXCEPTION 'expires_at must be in the future'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('expires_at is %s; the time is now %s.', NEW.expires_at, clock_timestamp()),
                      HINT = 'Pass a future timestamptz, or NULL for a grant that never expires.';
        END IF;
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
        NEW.revoked_at := NULL;
        NEW.revoked_by := NULL;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at, NEW.created_at,
        NEW.created_by, NEW.replaces)
       IS DISTINCT FROM
       (OLD.id, OLD.source_id, OLD.target_id, OLD.actions, OLD.expires_at, OLD.created_at,
        OLD.created_by, OLD.replaces)
       OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
        RAISE EXCEPTION 'grants cannot be changed, only revoked once'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Revoke the grant with execlave_revoke() and grant anew.';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := now();
        NEW.revoked_by := execlave.actor();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.grants_before_write() IS 'Trigger: validates and canonicalises actions, refuses past expiries, stamps creation and revocation with the acting role, refuses any other change';

CREATE TRIGGER grants_before_write
    BEFORE INSERT OR UPDATE ON execlave.grants
    FOR EACH ROW EXECUTE FUNCTION execlave.grants_before_write();

-- AFTER trigger: the change history.
CREATE FUNCTION execlave.grants_after_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO execlave.grant_history
            (grant_id, operation, source_id, target_id, actions, expires_at, actor, at)
        VALUES (NEW.id, 'grant', NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at,
                NEW.created_by, NEW.created_at);
    ELSIF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        INSERT INTO execlave.grant_history
            (grant_id, operation, source_id, target_id, actions, expires_at, actor, at)
        VALUES (NEW.id, 'revoke', NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at,
                NEW.revoked_by, NEW.revoked_at);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.grants_after_write() IS 'Trigger: appends every grant and revoke to execlave.grant_history';

CREATE TRIGGER grants_after_write
    AFTER INSERT OR UPDATE ON execlave.grants
    FOR EACH ROW EXECUTE FUNCTION execlave.grants_after_write();

CREATE FUNCTION execlave_grant(source text, target text, actions text[],
                               expires_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src uuid;
    tgt uuid;
    canonical text[];
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(source, 'source');
    PERFORM execlave.check_not_null(target, 'target');
    canonical := execlave.canonical_actions(actions);
    src := execlave.resolve_agent(source);
    tgt := execlave.resolve_agent(target);

    INSERT INTO execlave.grants (source_id, target_id, actions, expires_at)
    VALUES (src, tgt, canonical, execlave_grant.expires_at)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave_grant(text, text, text[], timestamptz) IS 'Allow source to perform actions on target (agents by key or UUID) until expires_at (NULL: no expiry). Returns the grant id. Grants of one pair are merged';

CREATE FUNCTION execlave_revoke(grant_id uuid) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    was_revoked timestamptz;
BEGIN
    PERFORM execlave.check_not_null(grant_id, 'grant_id');
    SELECT g.revoked_at INTO was_revoked FROM execlave.grants g WHERE g.id = grant_id FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'grant % does not exist', grant_id USING ERRCODE = 'EX005';
    END IF;
    IF was_revoked IS NOT NULL THEN
        RETURN false;           -- already revoked
    END IF;
    UPDATE execlave.grants g SET revoked_at = now() WHERE g.id = grant_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave_revoke(uuid) IS 'Revoke one grant by id. Returns false if it was already revoked; EX005 if there is no such grant';

CREATE FUNCTION execlave_revoke(source text, target text, actions text[] DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    src uuid;
    tgt uuid;
    revoking text[];
    g record;
    remaining text[];
    n integer := 0;
BEGIN
    PERFORM execlave.check_not_null(source, 'source');
    PERFORM execlave.check_not_null(target, 'target');
    IF actions IS NOT NULL THEN
        revoking := execlave.canonical_actions(actions);
    END IF;
    src := execlave.resolve_agent(source);
    tgt := execlave.resolve_agent(target);

    FOR g IN
        SELECT * FROM execlave.grants gr
        WHERE gr.source_id = src AND gr.target_id = tgt
          AND gr.revoked_at IS NULL
          AND (gr.expires_at IS NULL OR gr.expires_at > clock_timestamp())
          AND (revoking IS NULL OR gr.actions && revoking)
        ORDER BY gr.created_at
        FOR NO KEY UPDATE
    LOOP
        UPDATE execlave.grants gr SET revoked_at = now() WHERE gr.id = g.id;
        n := n + 1;
        IF revoking IS NOT NULL THEN
            SELECT array_agg(a) INTO remaining FROM unnest(g.actions) a WHERE a <> ALL (revoking);
            IF remaining IS NOT NULL THEN
                -- the rest of the grant stays in force, under a new id
                INSERT INTO execlave.grants (source_id, target_id, actions, expires_at, replaces)
                VALUES (g.source_id, g.target_id, remaining, g.expires_at, g.id);
            END IF;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION execlave_revoke(text, text, text[]) IS 'Revoke the live grants from source to target (all actions, or only those listed; the rest of a partly revoked grant is re-issued as a new grant with the same expiry). Returns the number of grants revoked';

CREATE FUNCTION execlave_authorize(source text, target text, action text) RETURNS boolean
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize';
COMMENT ON FUNCTION execlave_authorize(text, text, text) IS 'May source perform action on target now? True only if both agents exist, neither is paused or archived, and a live grant (not revoked, expiry after the current clock) covers the action. Read-only, no query once warm';

CREATE FUNCTION execlave_authorize_explain(source text, target text, action text,
    OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamptz)
RETURNS record
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize_explain';
COMMENT ON FUNCTION execlave_authorize_explain(text, text, text) IS 'execlave_authorize with its reason: granted, no_grant, action_not_granted, expired, revoked, source_paused, target_paused, source_archived, target_archived, unknown_source, unknown_target; and the grant concerned';

