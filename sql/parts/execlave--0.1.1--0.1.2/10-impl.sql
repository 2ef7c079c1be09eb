
-------------------------------------------------------------------------------
-- The implementation layer: every user-facing function's implementation
-- lives in schema execlave (owned by the extension's owner, writable by
-- nobody else), and the @extschema@ functions are thin wrappers that call
-- it.  Code that runs with rights other than the caller's (the HTTP API's
-- SECURITY DEFINER functions, maintenance, workers) calls only execlave.*
-- and pg_catalog.* functions, so a name planted in the extension's schema
-- (public by default, writable on clusters created before PostgreSQL 15)
-- can never be what it resolves.  The C functions stay C in both schemas
-- (no wrapper cost on the hot paths).
-------------------------------------------------------------------------------

CREATE FUNCTION execlave.agent_status(agent text)
RETURNS text
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_agent_status';
COMMENT ON FUNCTION execlave.agent_status(agent text) IS 'Implementation of execlave_agent_status(): Status of an agent (by key or UUID) from the backend-local cache; sees every committed change at the next call';
REVOKE ALL ON FUNCTION execlave.agent_status(agent text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.agent_status(agent text) TO execlave_admin, execlave_app, execlave_reader;

CREATE FUNCTION execlave.anomaly_baseline(agent text)
RETURNS TABLE(metric text, observations bigint, mean double precision, stddev double precision)
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_anomaly_baseline';
COMMENT ON FUNCTION execlave.anomaly_baseline(agent text) IS 'Implementation of execlave_anomaly_baseline(): The running statistics trace.anomaly compares an agent''s traces with: exponentially weighted mean and standard deviation of latency, cost and total tokens, and the error rate';
REVOKE ALL ON FUNCTION execlave.anomaly_baseline(agent text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.anomaly_baseline(agent text) TO execlave_admin, execlave_app, execlave_reader;

CREATE FUNCTION execlave.assert_active(agent text)
RETURNS void
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_assert_active';
COMMENT ON FUNCTION execlave.assert_active(agent text) IS 'Implementation of execlave_assert_active(): Kill-switch check: raises EX001 if the agent is paused, EX004 if archived, EX002 if unknown';
REVOKE ALL ON FUNCTION execlave.assert_active(agent text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.assert_active(agent text) TO execlave_admin, execlave_app, execlave_reader;

CREATE FUNCTION execlave.authorize(source text, target text, action text)
RETURNS boolean
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize';
COMMENT ON FUNCTION execlave.authorize(source text, target text, action text) IS 'Implementation of execlave_authorize(): May source perform action on target now? True only if both agents exist, neither is paused or archived, and a live grant (not revoked, expiry after the current clock) covers the action. Read-only, no query once warm';
REVOKE ALL ON FUNCTION execlave.authorize(source text, target text, action text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.authorize(source text, target text, action text) TO execlave_admin, execlave_app, execlave_reader;

CREATE FUNCTION execlave.authorize_explain(source text, target text, action text, OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamp with time zone)
RETURNS record
LANGUAGE C VOLATILE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_authorize_explain';
COMMENT ON FUNCTION execlave.authorize_explain(source text, target text, action text, OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamp with time zone) IS 'Implementation of execlave_authorize_explain(): execlave_authorize with its reason: granted, no_grant, action_not_granted, expired, revoked, source_paused, target_paused, source_archived, target_archived, unknown_source, unknown_target; and the grant concerned';
REVOKE ALL ON FUNCTION execlave.authorize_explain(source text, target text, action text, OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.authorize_explain(source text, target text, action text, OUT authorized boolean, OUT reason text, OUT grant_id uuid, OUT expires_at timestamp with time zone) TO execlave_admin, execlave_app, execlave_reader;

CREATE FUNCTION execlave.create_api_key(name text, environment text, scope text, agent text DEFAULT NULL::text, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone)
RETURNS TABLE(id uuid, api_key text, key_prefix text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    secret text;
    key text;
    agent_uuid uuid;
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(create_api_key.name, 'name');
    PERFORM execlave.check_not_null(create_api_key.environment, 'environment');
    PERFORM execlave.check_not_null(create_api_key.scope, 'scope');
    IF create_api_key.environment !~ '^[a-z0-9]{1,16}$' THEN
        RAISE EXCEPTION 'invalid environment "%"', create_api_key.environment
            USING ERRCODE = 'invalid_parameter_value', HINT = '1 to 16 lower-case letters or digits, e.g. prod, test, dev.';
    END IF;
    IF create_api_key.scope NOT IN ('admin', 'agent') THEN
        RAISE EXCEPTION 'invalid scope "%"', create_api_key.scope
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Valid scopes: admin, agent.';
    END IF;
    IF (create_api_key.scope = 'agent') <> (agent IS NOT NULL) THEN
        RAISE EXCEPTION 'an agent-scoped key needs an agent, and only an agent-scoped key takes one'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF create_api_key.expires_at <= now() THEN
        RAISE EXCEPTION 'expires_at must be in the future' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF agent IS NOT NULL THEN
        agent_uuid := execlave.resolve_agent(agent);
    END IF;
    LOOP
        secret := execlave.random_base62(40);
        key := 'ag_' || create_api_key.environment || '_' || secret;
        BEGIN
            INSERT INTO execlave.api_keys (name, environment, scope, agent_id, key_prefix, key_hash, created_by, expires_at)
            VALUES (create_api_key.name, create_api_key.environment, create_api_key.scope,
                    agent_uuid, 'ag_' || create_api_key.environment || '_' || left(secret, 8),
                    sha256(convert_to(key, 'UTF8')), execlave.actor(), create_api_key.expires_at)
            RETURNING api_keys.id INTO new_id;
            EXIT;
        EXCEPTION WHEN unique_violation THEN
            NULL;               -- a prefix taken already (1 in 62^8): draw again
        END;
    END LOOP;
    RETURN QUERY SELECT new_id, key, 'ag_' || create_api_key.environment || '_' || left(secret, 8);
END
$$;
COMMENT ON FUNCTION execlave.create_api_key(name text, environment text, scope text, agent text, expires_at timestamp with time zone) IS 'Implementation of execlave_create_api_key(): Create an API key (scope admin, or agent bound to one agent); returns it once as ag_<environment>_<40 base62 characters>; only its SHA-256 and display prefix are stored';
REVOKE ALL ON FUNCTION execlave.create_api_key(name text, environment text, scope text, agent text, expires_at timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.create_api_key(name text, environment text, scope text, agent text, expires_at timestamp with time zone) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_create_api_key(name text, environment text, scope text, agent text DEFAULT NULL::text, expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone)
RETURNS TABLE(id uuid, api_key text, key_prefix text)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.create_api_key($1, $2, $3, $4, $5);
END;

CREATE FUNCTION execlave.create_policy(name text, type text, mode text, config jsonb DEFAULT '{}'::jsonb, agents text[] DEFAULT NULL::text[], metadata jsonb DEFAULT '{}'::jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(name, 'name');
    PERFORM execlave.check_not_null(type, 'type');
    PERFORM execlave.check_not_null(mode, 'mode');
    PERFORM execlave.check_not_null(config, 'config');
    PERFORM execlave.check_not_null(metadata, 'metadata');
    IF EXISTS (SELECT 1 FROM execlave.policies p WHERE p.name = create_policy.name) THEN
        RAISE EXCEPTION 'policy "%" already exists', name
            USING ERRCODE = 'unique_violation',
                  HINT = 'Change it with execlave_update_policy(), or choose another name.';
    END IF;
    INSERT INTO execlave.policies (name, type, mode, config, agent_ids, metadata)
    VALUES (name, type, mode, config, execlave.resolve_agents(agents), metadata)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave.create_policy(name text, type text, mode text, config jsonb, agents text[], metadata jsonb) IS 'Implementation of execlave_create_policy(): Create an active policy; agents (keys or UUIDs) NULL or empty = every agent. Returns its id. The config is validated per type (22023 naming the key)';
REVOKE ALL ON FUNCTION execlave.create_policy(name text, type text, mode text, config jsonb, agents text[], metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.create_policy(name text, type text, mode text, config jsonb, agents text[], metadata jsonb) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_create_policy(name text, type text, mode text, config jsonb DEFAULT '{}'::jsonb, agents text[] DEFAULT NULL::text[], metadata jsonb DEFAULT '{}'::jsonb)
RETURNS uuid
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.create_policy($1, $2, $3, $4, $5, $6);

CREATE FUNCTION execlave.create_webhook(url text, events text[] DEFAULT NULL::text[], secret text DEFAULT NULL::text, description text DEFAULT NULL::text)
RETURNS TABLE(id uuid, signing_secret text)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(url, 'url');
    IF events IS NOT NULL AND events = ARRAY['*'] THEN
        events := NULL;
    END IF;
    RETURN QUERY
    INSERT INTO execlave.webhooks AS w (url, events, secret, description)
    VALUES (url, events, coalesce(secret, execlave.new_webhook_secret()), description)
    RETURNING w.id, w.secret;
    IF execlave.webhook_worker_status() !~ '^running \(pid [0-9]+\)$' THEN
        RAISE WARNING 'deliveries to this endpoint are queued, but no webhook worker sends them for this database'
            USING DETAIL = 'webhook worker: ' || regexp_replace(execlave.webhook_worker_status(), ' \(pid [0-9]+\)', ''),
                  HINT = 'Preload execlave (shared_preload_libraries) and set execlave.database to this database, then restart.';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.create_webhook(url text, events text[], secret text, description text) IS 'Implementation of execlave_create_webhook(): Register a webhook endpoint for events (NULL or {*}: all types); returns its id and signing_secret (generated when not given; shown here and to execlave_admin only)';
REVOKE ALL ON FUNCTION execlave.create_webhook(url text, events text[], secret text, description text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.create_webhook(url text, events text[], secret text, description text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_create_webhook(url text, events text[] DEFAULT NULL::text[], secret text DEFAULT NULL::text, description text DEFAULT NULL::text)
RETURNS TABLE(id uuid, signing_secret text)
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.create_webhook($1, $2, $3, $4);
END;

CREATE FUNCTION execlave.delete_webhook(webhook uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    DELETE FROM execlave.webhooks w WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave.delete_webhook(webhook uuid) IS 'Implementation of execlave_delete_webhook(): Delete an endpoint and its deliveries';
REVOKE ALL ON FUNCTION execlave.delete_webhook(webhook uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.delete_webhook(webhook uuid) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_delete_webhook(webhook uuid)
RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.delete_webhook($1);

CREATE FUNCTION execlave.disable_policy(policy text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, false);
COMMENT ON FUNCTION execlave.disable_policy(policy text) IS 'Implementation of execlave_disable_policy(): Disable a policy (by name or id) without deleting it; false if it was already inactive';
REVOKE ALL ON FUNCTION execlave.disable_policy(policy text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.disable_policy(policy text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_disable_policy(policy text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.disable_policy($1);

CREATE FUNCTION execlave.disable_webhook(webhook uuid, reason text DEFAULT NULL::text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = false,
        disabled_reason = coalesce(reason, 'disabled by ' || execlave.actor())
    WHERE w.id = webhook AND w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave.disable_webhook(webhook uuid, reason text) IS 'Implementation of execlave_disable_webhook(): Stop deliveries to an endpoint (pending ones wait); false if already disabled';
REVOKE ALL ON FUNCTION execlave.disable_webhook(webhook uuid, reason text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.disable_webhook(webhook uuid, reason text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_disable_webhook(webhook uuid, reason text DEFAULT NULL::text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.disable_webhook($1, $2);

CREATE FUNCTION execlave.drop_policy(policy text)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM execlave.policies p WHERE p.id = execlave.resolve_policy(policy);
END
$$;
COMMENT ON FUNCTION execlave.drop_policy(policy text) IS 'Implementation of execlave_drop_policy(): Delete a policy (by name or id); its violations stay, with its id and name';
REVOKE ALL ON FUNCTION execlave.drop_policy(policy text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.drop_policy(policy text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_drop_policy(policy text)
RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.drop_policy($1);

CREATE FUNCTION execlave.enable_policy(policy text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, true);
COMMENT ON FUNCTION execlave.enable_policy(policy text) IS 'Implementation of execlave_enable_policy(): Enable a policy (by name or id); false if it was already active';
REVOKE ALL ON FUNCTION execlave.enable_policy(policy text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.enable_policy(policy text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_enable_policy(policy text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.enable_policy($1);

CREATE FUNCTION execlave.enable_webhook(webhook uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = true WHERE w.id = webhook AND NOT w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave.enable_webhook(webhook uuid) IS 'Implementation of execlave_enable_webhook(): Resume deliveries to a disabled endpoint (its waiting deliveries go out); false if already active';
REVOKE ALL ON FUNCTION execlave.enable_webhook(webhook uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.enable_webhook(webhook uuid) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_enable_webhook(webhook uuid)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.enable_webhook($1);

CREATE FUNCTION execlave.enforce(agent text, input text, model text DEFAULT NULL::text, estimated_cost numeric DEFAULT NULL::numeric, tools text[] DEFAULT NULL::text[], metadata jsonb DEFAULT NULL::jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_enforce';
COMMENT ON FUNCTION execlave.enforce(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) IS 'Implementation of execlave_enforce(): Pre-execution check: evaluates the agent''s active policies on the request and records violations. Returns {allowed, violations[], warnings[]}; never raises for a policy outcome';
REVOKE ALL ON FUNCTION execlave.enforce(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.enforce(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) TO execlave_admin, execlave_app;

CREATE FUNCTION execlave.enforce_strict(agent text, input text, model text DEFAULT NULL::text, estimated_cost numeric DEFAULT NULL::numeric, tools text[] DEFAULT NULL::text[], metadata jsonb DEFAULT NULL::jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_enforce_strict';
COMMENT ON FUNCTION execlave.enforce_strict(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) IS 'Implementation of execlave_enforce_strict(): execlave_enforce() for callers who prefer exceptions: raises EX001 for a paused agent and EX003 (violations in the detail) for a blocked request; otherwise returns the same answer';
REVOKE ALL ON FUNCTION execlave.enforce_strict(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.enforce_strict(agent text, input text, model text, estimated_cost numeric, tools text[], metadata jsonb) TO execlave_admin, execlave_app;

CREATE FUNCTION execlave.create_grant(source text, target text, actions text[], expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
    VALUES (src, tgt, canonical, create_grant.expires_at)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave.create_grant(source text, target text, actions text[], expires_at timestamp with time zone) IS 'Implementation of execlave_grant(): Allow source to perform actions on target (agents by key or UUID) until expires_at (NULL: no expiry). Returns the grant id. Grants of one pair are merged';
REVOKE ALL ON FUNCTION execlave.create_grant(source text, target text, actions text[], expires_at timestamp with time zone) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.create_grant(source text, target text, actions text[], expires_at timestamp with time zone) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_grant(source text, target text, actions text[], expires_at timestamp with time zone DEFAULT NULL::timestamp with time zone)
RETURNS uuid
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.create_grant($1, $2, $3, $4);

CREATE FUNCTION execlave.list_api_keys()
RETURNS TABLE(id uuid, name text, environment text, scope text, agent_key text, key_prefix text, created_at timestamp with time zone, created_by text, expires_at timestamp with time zone, revoked_at timestamp with time zone, last_used_at timestamp with time zone, state text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.id, k.name, k.environment, k.scope, a.key, k.key_prefix, k.created_at, k.created_by, k.expires_at,
           k.revoked_at, k.last_used_at,
           CASE WHEN k.revoked_at IS NOT NULL THEN 'revoked' WHEN k.expires_at <= now() THEN 'expired' ELSE 'active' END
    FROM execlave.api_keys k LEFT JOIN execlave.agents a ON a.id = k.agent_id
    ORDER BY k.created_at, k.key_prefix
$$;
COMMENT ON FUNCTION execlave.list_api_keys() IS 'Implementation of execlave_list_api_keys(): API keys with their prefix and state (active, expired, revoked); never the key or its hash';
REVOKE ALL ON FUNCTION execlave.list_api_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.list_api_keys() TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_list_api_keys()
RETURNS TABLE(id uuid, name text, environment text, scope text, agent_key text, key_prefix text, created_at timestamp with time zone, created_by text, expires_at timestamp with time zone, revoked_at timestamp with time zone, last_used_at timestamp with time zone, state text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.list_api_keys();
END;

CREATE FUNCTION execlave.list_webhooks()
RETURNS TABLE(id uuid, url text, events text[], active boolean, description text, created_at timestamp with time zone, disabled_at timestamp with time zone, disabled_reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.id, w.url, w.events, w.active, w.description, w.created_at, w.disabled_at, w.disabled_reason
    FROM execlave.webhooks w ORDER BY w.created_at, w.id
$$;
COMMENT ON FUNCTION execlave.list_webhooks() IS 'Implementation of execlave_list_webhooks(): Every webhook endpoint, without its secret';
REVOKE ALL ON FUNCTION execlave.list_webhooks() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.list_webhooks() TO execlave_admin, execlave_app, execlave_reader;
CREATE OR REPLACE FUNCTION execlave_list_webhooks()
RETURNS TABLE(id uuid, url text, events text[], active boolean, description text, created_at timestamp with time zone, disabled_at timestamp with time zone, disabled_reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.list_webhooks();
END;

CREATE FUNCTION execlave.pause_agent(agent text, reason text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
    cur_status text;
BEGIN
    PERFORM execlave.check_not_null(reason, 'reason');
    IF btrim(reason) = '' THEN
        RAISE EXCEPTION 'reason must not be empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say why the agent is paused; it is shown to whoever hits the kill switch.';
    END IF;
    IF octet_length(reason) > 2000 THEN
        RAISE EXCEPTION 'reason is too long (% bytes, at most 2000)', octet_length(reason)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    agent_id := execlave.resolve_agent(agent);

    SELECT a.status INTO cur_status FROM execlave.agents a WHERE a.id = agent_id FOR NO KEY UPDATE;
    IF cur_status = 'paused' THEN
        RETURN false;           -- already paused: the first reason and time stand
    ELSIF cur_status = 'archived' THEN
        RAISE EXCEPTION 'agent "%" is archived', agent USING ERRCODE = 'EX004';
    END IF;

    UPDATE execlave.agents a SET status = 'paused', pause_reason = reason WHERE a.id = agent_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave.pause_agent(agent text, reason text) IS 'Implementation of execlave_pause_agent(): Kill switch: pause an agent (by key or UUID) with a reason. Returns false, changing nothing, if it is already paused';
REVOKE ALL ON FUNCTION execlave.pause_agent(agent text, reason text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.pause_agent(agent text, reason text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_pause_agent(agent text, reason text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.pause_agent($1, $2);

CREATE FUNCTION execlave.redeliver(delivery bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text;
BEGIN
    PERFORM execlave.check_not_null(delivery, 'delivery');
    SELECT d.status INTO st FROM execlave.deliveries d WHERE d.id = delivery FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'delivery % does not exist', delivery USING ERRCODE = 'EX008';
    END IF;
    IF st IN ('pending', 'delivering') THEN
        RETURN false;           -- already queued or in flight
    END IF;
    UPDATE execlave.deliveries d
    SET status = 'pending', attempts = 0, next_attempt_at = now()
    WHERE d.id = delivery;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave.redeliver(delivery bigint) IS 'Implementation of execlave_redeliver(): Queue a delivery again (dead, retrying or succeeded) with a fresh attempt count; false if it is already pending or in flight';
REVOKE ALL ON FUNCTION execlave.redeliver(delivery bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.redeliver(delivery bigint) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_redeliver(delivery bigint)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.redeliver($1);

CREATE FUNCTION execlave.register_agent(key text, name text DEFAULT NULL::text, description text DEFAULT NULL::text, tags text[] DEFAULT '{}'::text[], metadata jsonb DEFAULT '{}'::jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
BEGIN
    PERFORM execlave.check_not_null(key, 'key');
    IF key = '' THEN
        RAISE EXCEPTION 'agent key must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(key) > 128 THEN
        RAISE EXCEPTION 'agent key is too long (% bytes, at most 128)', octet_length(key)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF key !~ '^[A-Za-z0-9][A-Za-z0-9._:@-]*$' THEN
        RAISE EXCEPTION 'invalid agent key "%"', key
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'A key starts with a letter or digit and continues with letters, digits, ''.'', ''_'', '':'', ''@'' or ''-''.';
    END IF;
    IF key ~ '^.{8}-.{4}-.{4}-.{4}-.{12}$' THEN
        RAISE EXCEPTION 'agent key "%" must not have the layout of a UUID (8-4-4-4-12)', key
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'UUIDs name agents by id; choose a descriptive key.';
    END IF;
    IF metadata IS NOT NULL AND jsonb_typeof(metadata) <> 'object' THEN
        RAISE EXCEPTION 'metadata must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    INSERT INTO execlave.agents (key, name, description, tags, metadata)
    VALUES (key, name, description, coalesce(tags, '{}'), coalesce(metadata, '{}'))
    ON CONFLICT ON CONSTRAINT agents_key_key DO NOTHING
    RETURNING id INTO agent_id;

    IF agent_id IS NULL THEN
        SELECT a.id INTO agent_id FROM execlave.agents a WHERE a.key = register_agent.key;
    END IF;
    RETURN agent_id;
END
$$;
COMMENT ON FUNCTION execlave.register_agent(key text, name text, description text, tags text[], metadata jsonb) IS 'Implementation of execlave_register_agent(): Register an agent; idempotent on key (an existing agent is returned unchanged). Returns its UUID';
REVOKE ALL ON FUNCTION execlave.register_agent(key text, name text, description text, tags text[], metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.register_agent(key text, name text, description text, tags text[], metadata jsonb) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_register_agent(key text, name text DEFAULT NULL::text, description text DEFAULT NULL::text, tags text[] DEFAULT '{}'::text[], metadata jsonb DEFAULT '{}'::jsonb)
RETURNS uuid
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.register_agent($1, $2, $3, $4, $5);

CREATE FUNCTION execlave.resume_agent(agent text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent_id uuid;
    cur_status text;
BEGIN
    agent_id := execlave.resolve_agent(agent);

    SELECT a.status INTO cur_status FROM execlave.agents a WHERE a.id = agent_id FOR NO KEY UPDATE;
    IF cur_status <> 'paused' THEN
        RETURN false;           -- not paused: nothing to resume
    END IF;

    UPDATE execlave.agents a SET status = 'active' WHERE a.id = agent_id;
    RETURN true;
END
$$;
COMMENT ON FUNCTION execlave.resume_agent(agent text) IS 'Implementation of execlave_resume_agent(): Resume a paused agent (by key or UUID). Returns false, changing nothing, if it is not paused';
REVOKE ALL ON FUNCTION execlave.resume_agent(agent text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.resume_agent(agent text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_resume_agent(agent text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.resume_agent($1);

CREATE FUNCTION execlave.revoke(grant_id uuid)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave.revoke(grant_id uuid) IS 'Implementation of execlave_revoke(): Revoke one grant by id. Returns false if it was already revoked; EX005 if there is no such grant';
REVOKE ALL ON FUNCTION execlave.revoke(grant_id uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.revoke(grant_id uuid) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_revoke(grant_id uuid)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.revoke($1);

CREATE FUNCTION execlave.revoke(source text, target text, actions text[] DEFAULT NULL::text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave.revoke(source text, target text, actions text[]) IS 'Implementation of execlave_revoke(): Revoke the live grants from source to target (all actions, or only those listed; the rest of a partly revoked grant is re-issued as a new grant with the same expiry). Returns the number of grants revoked';
REVOKE ALL ON FUNCTION execlave.revoke(source text, target text, actions text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.revoke(source text, target text, actions text[]) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_revoke(source text, target text, actions text[] DEFAULT NULL::text[])
RETURNS integer
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.revoke($1, $2, $3);

CREATE FUNCTION execlave.revoke_api_key(key text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave.revoke_api_key(key text) IS 'Implementation of execlave_revoke_api_key(): Revoke an API key (by id, prefix, or the key itself); false if it already was';
REVOKE ALL ON FUNCTION execlave.revoke_api_key(key text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.revoke_api_key(key text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_revoke_api_key(key text)
RETURNS boolean
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.revoke_api_key($1);

CREATE FUNCTION execlave.rotate_webhook_secret(webhook uuid, secret text DEFAULT NULL::text)
RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_secret text := coalesce(secret, execlave.new_webhook_secret());
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET secret = new_secret WHERE w.id = webhook;
    RETURN new_secret;
END
$$;
COMMENT ON FUNCTION execlave.rotate_webhook_secret(webhook uuid, secret text) IS 'Implementation of execlave_rotate_webhook_secret(): Replace an endpoint''s signing secret (generated when not given); returns it. Deliveries sent from now on use it';
REVOKE ALL ON FUNCTION execlave.rotate_webhook_secret(webhook uuid, secret text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.rotate_webhook_secret(webhook uuid, secret text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_rotate_webhook_secret(webhook uuid, secret text DEFAULT NULL::text)
RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.rotate_webhook_secret($1, $2);

CREATE FUNCTION execlave.submit_trace(agent text, trace jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    allowed constant text[] := ARRAY['trace_id', 'session_id', 'user_id', 'started_at',
        'duration_ms', 'status', 'input', 'output', 'error_message', 'error_type', 'model',
        'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd', 'environment',
        'tags', 'tools', 'metadata', 'parent_trace_id', 'span_type'];
    unknown text[];
    r execlave.traces;
    new_id text;
BEGIN
    PERFORM execlave.check_not_null(agent, 'agent');
    PERFORM execlave.check_not_null(trace, 'trace');
    IF jsonb_typeof(trace) <> 'object' THEN
        RAISE EXCEPTION 'trace must be a JSON object, not %', jsonb_typeof(trace)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT array_agg(k ORDER BY k) INTO unknown
    FROM jsonb_object_keys(trace) AS k WHERE k <> ALL (allowed);
    IF unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown trace field(s): %', array_to_string(unknown, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid fields: ' || array_to_string(allowed, ', ') || '.';
    END IF;

    r := jsonb_populate_record(NULL::execlave.traces, trace);
    INSERT INTO execlave.traces (trace_id, agent_key, session_id, user_id, started_at,
        duration_ms, status, input, output, error_message, error_type, model,
        prompt_tokens, completion_tokens, total_tokens, cost_usd, environment, tags, tools,
        metadata, parent_trace_id, span_type)
    VALUES (coalesce(r.trace_id, execlave.new_trace_id()), agent, r.session_id, r.user_id,
        coalesce(r.started_at, now()), r.duration_ms, coalesce(r.status, 'success'), r.input,
        r.output, r.error_message, r.error_type, r.model, r.prompt_tokens, r.completion_tokens,
        r.total_tokens, r.cost_usd, r.environment, coalesce(r.tags, '{}'), coalesce(r.tools, '{}'),
        coalesce(r.metadata, '{}'), r.parent_trace_id, r.span_type)
    RETURNING trace_id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave.submit_trace(agent text, trace jsonb) IS 'Implementation of execlave_submit_trace(): Submit one trace for an agent (key or UUID) from a JSON object of trace fields; returns the trace id. Same path as INSERT INTO execlave.traces';
REVOKE ALL ON FUNCTION execlave.submit_trace(agent text, trace jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.submit_trace(agent text, trace jsonb) TO execlave_admin, execlave_app;
CREATE OR REPLACE FUNCTION execlave_submit_trace(agent text, trace jsonb DEFAULT '{}'::jsonb)
RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.submit_trace($1, $2);

CREATE FUNCTION execlave.test_webhook(webhook uuid)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    w execlave.webhooks;
BEGIN
    PERFORM execlave.check_webhook(webhook);
    SELECT * INTO w FROM execlave.webhooks x WHERE x.id = webhook;
    IF NOT w.active THEN
        RAISE EXCEPTION 'webhook % is disabled', webhook
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = 'Enable it with execlave_enable_webhook().';
    END IF;
    RETURN execlave.emit_event('webhook.test', NULL, jsonb_build_object(
        'webhook_id', webhook, 'message', 'Test event from execlave', 'sent_by', execlave.actor()));
END
$$;
COMMENT ON FUNCTION execlave.test_webhook(webhook uuid) IS 'Implementation of execlave_test_webhook(): Queue a webhook.test event for this endpoint only; returns the event id';
REVOKE ALL ON FUNCTION execlave.test_webhook(webhook uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.test_webhook(webhook uuid) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_test_webhook(webhook uuid)
RETURNS bigint
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.test_webhook($1);

CREATE FUNCTION execlave.update_policy(policy text, mode text DEFAULT NULL::text, config jsonb DEFAULT NULL::jsonb, agents text[] DEFAULT NULL::text[], name text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid := execlave.resolve_policy(policy);
BEGIN
    UPDATE execlave.policies p
    SET mode = coalesce(update_policy.mode, p.mode),
        config = coalesce(update_policy.config, p.config),
        agent_ids = CASE WHEN agents IS NULL THEN p.agent_ids
                         ELSE execlave.resolve_agents(agents) END,
        name = coalesce(update_policy.name, p.name),
        metadata = coalesce(update_policy.metadata, p.metadata)
    WHERE p.id = pid;
    RETURN pid;
END
$$;
COMMENT ON FUNCTION execlave.update_policy(policy text, mode text, config jsonb, agents text[], name text, metadata jsonb) IS 'Implementation of execlave_update_policy(): Change a policy (by name or id); NULL arguments keep the current value; agents = ''{}'' applies it to every agent';
REVOKE ALL ON FUNCTION execlave.update_policy(policy text, mode text, config jsonb, agents text[], name text, metadata jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.update_policy(policy text, mode text, config jsonb, agents text[], name text, metadata jsonb) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_update_policy(policy text, mode text DEFAULT NULL::text, config jsonb DEFAULT NULL::jsonb, agents text[] DEFAULT NULL::text[], name text DEFAULT NULL::text, metadata jsonb DEFAULT NULL::jsonb)
RETURNS uuid
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.update_policy($1, $2, $3, $4, $5, $6);

CREATE FUNCTION execlave.update_webhook(webhook uuid, url text DEFAULT NULL::text, events text[] DEFAULT NULL::text[], description text DEFAULT NULL::text)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w
    SET url = coalesce(update_webhook.url, w.url),
        events = CASE WHEN update_webhook.events IS NULL THEN w.events
                      WHEN update_webhook.events = ARRAY['*'] THEN NULL
                      ELSE update_webhook.events END,
        description = coalesce(update_webhook.description, w.description)
    WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave.update_webhook(webhook uuid, url text, events text[], description text) IS 'Implementation of execlave_update_webhook(): Change a webhook''s URL, events ({*}: all) or description; NULL keeps the current value';
REVOKE ALL ON FUNCTION execlave.update_webhook(webhook uuid, url text, events text[], description text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.update_webhook(webhook uuid, url text, events text[], description text) TO execlave_admin;
CREATE OR REPLACE FUNCTION execlave_update_webhook(webhook uuid, url text DEFAULT NULL::text, events text[] DEFAULT NULL::text[], description text DEFAULT NULL::text)
RETURNS void
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.update_webhook($1, $2, $3, $4);

CREATE FUNCTION execlave.usage(agent text)
RETURNS TABLE(period text, period_start timestamp with time zone, requests bigint, spend_usd numeric)
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_usage';
COMMENT ON FUNCTION execlave.usage(agent text) IS 'Implementation of execlave_usage(): The agent''s windowed usage as rate_limit, cost_limit and budget_cap policies see it: requests this UTC minute and hour, spend this UTC day and calendar month (committed and in-progress traces)';
REVOKE ALL ON FUNCTION execlave.usage(agent text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.usage(agent text) TO execlave_admin, execlave_app, execlave_reader;

