-------------------------------------------------------------------------------
-- Policies: rules evaluated on every trace and by execlave_enforce()
-------------------------------------------------------------------------------
CREATE TABLE execlave.policies (
    id          uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    name        text        COLLATE "C" NOT NULL,
    type        text        NOT NULL,
    mode        text        NOT NULL,
    config      jsonb       NOT NULL DEFAULT '{}',
    agent_ids   uuid[],
    active      boolean     NOT NULL DEFAULT true,
    metadata    jsonb       NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by  text        NOT NULL DEFAULT CURRENT_USER,
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_by  text        NOT NULL DEFAULT CURRENT_USER,
    CONSTRAINT policies_pkey PRIMARY KEY (id),
    CONSTRAINT policies_name_key UNIQUE (name),
    CONSTRAINT policies_name_check CHECK (
        octet_length(name) BETWEEN 1 AND 200
        AND name !~ '[[:cntrl:]]'
        AND name !~ '^.{8}-.{4}-.{4}-.{4}-.{12}$'),
    CONSTRAINT policies_type_check CHECK (type IN
        ('prompt_injection', 'pii_detection', 'model_allowlist', 'token_limit', 'tool_access',
         'rate_limit', 'cost_limit', 'budget_cap')),
    CONSTRAINT policies_mode_check CHECK (mode IN ('log', 'flag', 'block')),
    CONSTRAINT policies_config_check CHECK (pg_catalog.jsonb_typeof(config) = 'object'),
    CONSTRAINT policies_agents_check CHECK (pg_catalog.cardinality(agent_ids) > 0),
    CONSTRAINT policies_metadata_check CHECK (pg_catalog.jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE execlave.policies IS 'Policies: a type (what is checked), a mode (log | flag | block), a validated config and the agents it applies to';
COMMENT ON COLUMN execlave.policies.name IS 'Unique name: 1 to 200 bytes, no control characters, not in the layout of a UUID';
COMMENT ON COLUMN execlave.policies.type IS 'prompt_injection | pii_detection | model_allowlist | token_limit | tool_access';
COMMENT ON COLUMN execlave.policies.mode IS 'log: record; flag: record, mark the trace flagged_for_review, emit policy.violated; block: refuse (EX003)';
COMMENT ON COLUMN execlave.policies.config IS 'Type-specific settings, validated on every write (see README, "Policy types")';
COMMENT ON COLUMN execlave.policies.agent_ids IS 'Agents the policy applies to (sorted, distinct); NULL: every agent';
COMMENT ON COLUMN execlave.policies.active IS 'Inactive policies are kept but never evaluated';
SELECT pg_catalog.pg_extension_config_dump('execlave.policies', '');

-- Validates type, mode and config (the same C code the evaluator compiles
-- with), normalizes agent_ids and stamps the row, for every write.
CREATE FUNCTION execlave.policies_before_write() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_policies_before_write';
COMMENT ON FUNCTION execlave.policies_before_write() IS 'Trigger: validates a policy''s type, mode, config and agents; stamps updated_at/updated_by';

CREATE TRIGGER policies_before_write
    BEFORE INSERT OR UPDATE ON execlave.policies
    FOR EACH ROW EXECUTE FUNCTION execlave.policies_before_write();
CREATE TRIGGER policies_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON execlave.policies
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.invalidate_cache();

CREATE FUNCTION execlave.validate_policy(type text, config jsonb) RETURNS void
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_validate_policy';
COMMENT ON FUNCTION execlave.validate_policy(text, jsonb) IS 'Check a policy config for a type without storing it: returns quietly, or raises 22023 naming the bad key';

CREATE FUNCTION execlave.resolve_policy(policy text) RETURNS uuid
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    found_id uuid;
BEGIN
    PERFORM execlave.check_not_null(policy, 'policy');
    IF policy ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        SELECT p.id INTO found_id FROM execlave.policies p WHERE p.id = policy::uuid;
    ELSE
        SELECT p.id INTO found_id FROM execlave.policies p WHERE p.name = policy;
    END IF;
    IF found_id IS NULL THEN
        RAISE EXCEPTION 'policy "%" does not exist', policy
            USING ERRCODE = 'EX006', HINT = 'Name a policy by its name or id; see execlave.policies.';
    END IF;
    RETURN found_id;
END
$$;
COMMENT ON FUNCTION execlave.resolve_policy(text) IS 'UUID of the policy named by name or UUID; raises EX006 when unknown';

CREATE FUNCTION execlave.resolve_agents(agents text[]) RETURNS uuid[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF agents IS NULL OR cardinality(agents) = 0 THEN
        RETURN NULL;            -- every agent
    END IF;
    IF array_position(agents, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'agents must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN ARRAY(SELECT DISTINCT execlave.resolve_agent(a) FROM unnest(agents) AS a ORDER BY 1);
END
$$;
COMMENT ON FUNCTION execlave.resolve_agents(text[]) IS 'Agent keys or UUIDs to a sorted array of UUIDs; NULL or empty means every agent (NULL)';

CREATE FUNCTION execlave_create_policy(name text, type text, mode text, config jsonb DEFAULT '{}',
                                       agents text[] DEFAULT NULL, metadata jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid;
BEGIN
    PERFORM execlave.check_not_null(name, 'name');
    PERFORM execlave.check_not_null(type, 'type');
    PERFORM execlave.check_not_null(mode, 'mode');
    PERFORM execlave.check_not_null(config, 'config');
    PERFORM execlave.check_not_null(metadata, 'metadata');
    IF EXISTS (SELECT 1 FROM execlave.policies p WHERE p.name = execlave_create_policy.name) THEN
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
COMMENT ON FUNCTION execlave_create_policy(text, text, text, jsonb, text[], jsonb) IS 'Create an active policy; agents (keys or UUIDs) NULL or empty = every agent. Returns its id. The config is validated per type (22023 naming the key)';

CREATE FUNCTION execlave_update_policy(policy text, mode text DEFAULT NULL, config jsonb DEFAULT NULL,
                                       agents text[] DEFAULT NULL, name text DEFAULT NULL,
                                       metadata jsonb DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid := execlave.resolve_policy(policy);
BEGIN
    UPDATE execlave.policies p
    SET mode = coalesce(execlave_update_policy.mode, p.mode),
        config = coalesce(execlave_update_policy.config, p.config),
        agent_ids = CASE WHEN agents IS NULL THEN p.agent_ids
                         ELSE execlave.resolve_agents(agents) END,
        name = coalesce(execlave_update_policy.name, p.name),
        metadata = coalesce(execlave_update_policy.metadata, p.metadata)
    WHERE p.id = pid;
    RETURN pid;
END
$$;
COMMENT ON FUNCTION execlave_update_policy(text, text, jsonb, text[], text, jsonb) IS 'Change a policy (by name or id); NULL arguments keep the current value; agents = ''{}'' applies it to every agent';

CREATE FUNCTION execlave.set_policy_active(policy text, want boolean) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    pid uuid := execlave.resolve_policy(policy);
BEGIN
    UPDATE execlave.policies p SET active = want WHERE p.id = pid AND p.active <> want;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave.set_policy_active(text, boolean) IS 'Enable or disable a policy; true when the flag changed';

CREATE FUNCTION execlave_enable_policy(policy text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, true);
COMMENT ON FUNCTION execlave_enable_policy(text) IS 'Enable a policy (by name or id); false if it was already active';

CREATE FUNCTION execlave_disable_policy(policy text) RETURNS boolean
LANGUAGE sql SET search_path = pg_catalog, pg_temp
RETURN execlave.set_policy_active(policy, false);
COMMENT ON FUNCTION execlave_disable_policy(text) IS 'Disable a policy (by name or id) without deleting it; false if it was already inactive';

CREATE FUNCTION execlave_drop_policy(policy text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM execlave.policies p WHERE p.id = execlave.resolve_policy(policy);
END
$$;
COMMENT ON FUNCTION execlave_drop_policy(text) IS 'Delete a policy (by name or id); its violations stay, with its id and name';

