-------------------------------------------------------------------------------
-- API keys and the HTTP API (schema execlave_api, served by PostgREST)
-------------------------------------------------------------------------------
CREATE TABLE execlave.api_keys (
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    name         text        NOT NULL,
    environment  text        NOT NULL,
    scope        text        NOT NULL,
    agent_id     uuid        REFERENCES execlave.agents (id),
    key_prefix   text        NOT NULL,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by   text        NOT NULL DEFAULT CURRENT_USER,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    revoked_by   text,
    last_used_at timestamptz,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_prefix_key UNIQUE (key_prefix),
    CONSTRAINT api_keys_name_check CHECK (octet_length(name) BETWEEN 1 AND 200),
    CONSTRAINT api_keys_environment_check CHECK (environment ~ '^[a-z0-9]{1,16}$'),
    CONSTRAINT api_keys_scope_check CHECK (scope IN ('admin', 'agent')),
    CONSTRAINT api_keys_agent_check CHECK ((scope = 'agent') = (agent_id IS NOT NULL)),
    CONSTRAINT api_keys_hash_check CHECK (octet_length(key_hash) = 32)
);
-- Keys are immutable but for being revoked once and for their last use.
CREATE FUNCTION execlave.api_keys_before_update() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (NEW.id, NEW.name, NEW.environment, NEW.scope, NEW.agent_id, NEW.key_prefix, NEW.key_hash,
        NEW.created_at, NEW.created_by, NEW.expires_at)
       IS DISTINCT FROM
       (OLD.id, OLD.name, OLD.environment, OLD.scope, OLD.agent_id, OLD.key_prefix, OLD.key_hash,
        OLD.created_at, OLD.created_by, OLD.expires_at)
       OR (OLD.revoked_at IS NOT NULL AND (NEW.revoked_at, NEW.revoked_by) IS DISTINCT FROM (OLD.revoked_at, OLD.revoked_by)) THEN
        RAISE EXCEPTION 'API keys cannot be changed, only revoked once'
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Revoke it with execlave_revoke_api_key() and create a new one.';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := now();
        NEW.revoked_by := execlave.actor();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.api_keys_before_update() IS 'Trigger: API keys are immutable but for one revocation (stamped) and their last use';
CREATE TRIGGER api_keys_before_update BEFORE UPDATE ON execlave.api_keys
    FOR EACH ROW EXECUTE FUNCTION execlave.api_keys_before_update();
COMMENT ON TABLE execlave.api_keys IS 'API keys of the HTTP API: only the SHA-256 of a key and its display prefix are kept; key_hash is readable by the extension owner only';
COMMENT ON COLUMN execlave.api_keys.key_prefix IS 'ag_<environment>_ and the first 8 characters of the secret: shown in lists, used to find the key';
COMMENT ON COLUMN execlave.api_keys.last_used_at IS 'Last request with the key, to the minute (written at most once a minute, by read-write requests)';
SELECT pg_catalog.pg_extension_config_dump('execlave.api_keys', '');

CREATE FUNCTION execlave.random_base62(n integer) RETURNS text
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'execlave_random_base62';
COMMENT ON FUNCTION execlave.random_base62(integer) IS 'Internal: n random characters [0-9A-Za-z] (pg_strong_random)';
CREATE FUNCTION execlave.api_key_matches(stored bytea, key text) RETURNS boolean
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_api_key_matches';
COMMENT ON FUNCTION execlave.api_key_matches(bytea, text) IS 'Internal: SHA-256(key) = stored, compared in constant time';

CREATE FUNCTION execlave_create_api_key(name text, environment text, scope text,
                                        agent text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS TABLE (id uuid, api_key text, key_prefix text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    secret text;
    key text;
    agent_uuid uuid;
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(execlave_create_api_key.name, 'name');
    PERFORM execlave.check_not_null(execlave_create_api_key.environment, 'environment');
    PERFORM execlave.check_not_null(execlave_create_api_key.scope, 'scope');
    IF execlave_create_api_key.environment !~ '^[a-z0-9]{1,16}$' THEN
        RAISE EXCEPTION 'invalid environment "%"', execlave_create_api_key.environment
            USING ERRCODE = 'invalid_parameter_value', HINT = '1 to 16 lower-case letters or digits, e.g. prod, test, dev.';
    END IF;
    IF execlave_create_api_key.scope NOT IN ('admin', 'agent') THEN
        RAISE EXCEPTION 'invalid scope "%"', execlave_create_api_key.scope
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Valid scopes: admin, agent.';
    END IF;
    IF (execlave_create_api_key.scope = 'agent') <> (agent IS NOT NULL) THEN
        RAISE EXCEPTION 'an agent-scoped key needs an agent, and only an agent-scoped key takes one'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF execlave_create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF agent IS NOT NULL THEN
        agent_uuid := execlave.resolve_agent(agent);
    END IF;
    LOOP
        secret := execlave.random_base62(40);
        key := 'ag_' || execlave_create_api_key.environment || '_' || secret;
        BEGIN
            INSERT INTO execlave.api_keys (name, environment, scope, agent_id, key_prefix, key_hash, created_by, expires_at)
            VALUES (execlave_create_api_key.name, execlave_create_api_key.environment, execlave_create_api_key.scope,
                    agent_uuid, 'ag_' || execlave_create_api_key.environment || '_' || left(secret, 8),
                    sha256(convert_to(key, 'UTF8')), execlave.actor(), execlave_create_api_key.expires_at)
            RETURNING api_keys.id INTO new_id;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            NULL;               -- a prefix taken already (1 in 62^8): draw again
        END;
    END LOOP;
    RETURN QUERY SELECT new_id, key, 'ag_' || execlave_create_api_key.environment || '_' || left(secret, 8);
END
$$;
COMMENT ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz) IS 'Create an API key (scope admin, or agent bound to one agent); returns it once as ag_<environment>_<40 base62 characters>; only its SHA-256 and display prefix are stored';

CREATE FUNCTION execlave_revoke_api_key(key text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kid uuid;
    done boolean;
BEGIN
    PERFORM execlave.check_not_null(key, 'key');
    SELECT k.id INTO kid FROM execlave.api_keys k
    WHERE k.key_prefix = key OR k.id::text = key OR k.key_prefix = substr(key, 1, length(k.key_prefix));
    IF NOT FOUND THEN
        RAISE EXCEPTION 'API key "%" does not exist', left(key, 24) USING ERRCODE = 'EX009',
            HINT = 'Name it by its id or its prefix (execlave_list_api_keys()).';
    END IF;
    UPDATE execlave.api_keys k SET revoked_at = now(), revoked_by = execlave.actor()
    WHERE k.id = kid AND k.revoked_at IS NULL;
    GET DIAGNOSTICS done = ROW_COUNT;
    RETURN done;
END
$$;
COMMENT ON FUNCTION execlave_revoke_api_key(text) IS 'Revoke an API key (by id, prefix, or the key itself); false if it already was';

CREATE FUNCTION execlave_list_api_keys()
RETURNS TABLE (id uuid, name text, environment text, scope text, agent_key text, key_prefix text,
               created_at timestamptz, created_by text, expires_at timestamptz, revoked_at timestamptz,
               last_used_at timestamptz, state text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.id, k.name, k.environment, k.scope, a.key, k.key_prefix, k.created_at, k.created_by, k.expires_at,
           k.revoked_at, k.last_used_at,
           CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END
    FROM execlave.api_keys k LEFT JOIN execlave.agents a ON a.id = k.agent_id
    ORDER BY k.created_at, k.key_prefix
$$;
COMMENT ON FUNCTION execlave_list_api_keys() IS 'API keys with their prefix and state (active, expired, revoked); never the key or its hash';

