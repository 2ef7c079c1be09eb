-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA execlave FROM PUBLIC;
-- the stamping triggers run as the writing role
GRANT EXECUTE ON FUNCTION execlave.actor(), execlave.api_caller_agent() TO PUBLIC;

GRANT SELECT ON execlave.agents, execlave.agent_status_history, execlave.events, execlave.traces,
    execlave.grants, execlave.grant_history, execlave.policies, execlave.violations
    TO execlave_reader, execlave_app, execlave_admin;
GRANT INSERT (name, type, mode, config, agent_ids, active, metadata),
    UPDATE (name, type, mode, config, agent_ids, active, metadata), DELETE
    ON execlave.policies TO execlave_admin;
GRANT INSERT (source_id, target_id, actions, expires_at), UPDATE (revoked_at) ON execlave.grants
    TO execlave_admin;
GRANT INSERT, UPDATE (name, description, status, pause_reason, tags, metadata) ON execlave.agents
    TO execlave_admin;
GRANT INSERT ON execlave.traces TO execlave_app, execlave_admin;
-- Webhook secrets: execlave_admin only (column privileges for the others).
GRANT SELECT ON execlave.webhooks, execlave.deliveries, execlave.webhook_health TO execlave_admin;
GRANT SELECT (id, url, events, active, description, created_at, created_by, updated_at,
    disabled_at, disabled_reason) ON execlave.webhooks TO execlave_reader, execlave_app;
GRANT SELECT ON execlave.deliveries, execlave.webhook_health TO execlave_reader, execlave_app;
GRANT INSERT (url, events, secret, active, description, disabled_reason),
    UPDATE (url, events, secret, active, description, disabled_reason), DELETE
    ON execlave.webhooks TO execlave_admin;

GRANT EXECUTE ON FUNCTION execlave.resolve_agent(text), execlave.check_not_null(anyelement, text),
    execlave.new_trace_id(), execlave.canonical_actions(text[]), execlave.actions_valid(text[]),
    execlave.validate_policy(text, jsonb), execlave.resolve_policy(text), execlave.resolve_agents(text[])
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.set_policy_active(text, boolean) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.check_webhook_url(text), execlave.webhook_worker_status()
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.new_webhook_secret(), execlave.check_webhook_secret(text),
    execlave.check_webhook(uuid) TO execlave_admin;
REVOKE ALL ON FUNCTION execlave.record_violations(jsonb), execlave.pause_for_policy(uuid, text),
    execlave.emit_signals(text, uuid, jsonb) FROM PUBLIC;

REVOKE ALL ON FUNCTION execlave_agent_status(text), execlave_assert_active(text),
    execlave_register_agent(text, text, text, text[], jsonb), execlave_pause_agent(text, text),
    execlave_resume_agent(text), execlave_submit_trace(text, jsonb),
    execlave_grant(text, text, text[], timestamptz), execlave_revoke(uuid),
    execlave_revoke(text, text, text[]), execlave_authorize(text, text, text),
    execlave_authorize_explain(text, text, text),
    execlave_create_policy(text, text, text, jsonb, text[], jsonb),
    execlave_update_policy(text, text, jsonb, text[], text, jsonb), execlave_enable_policy(text),
    execlave_disable_policy(text), execlave_drop_policy(text),
    execlave_enforce(text, text, text, numeric, text[], jsonb),
    execlave_enforce_strict(text, text, text, numeric, text[], jsonb),
    execlave_create_webhook(text, text[], text, text), execlave_list_webhooks(),
    execlave_update_webhook(uuid, text, text[], text), execlave_disable_webhook(uuid, text),
    execlave_enable_webhook(uuid), execlave_delete_webhook(uuid),
    execlave_rotate_webhook_secret(uuid, text), execlave_test_webhook(uuid),
    execlave_redeliver(bigint), execlave_usage(text), execlave_anomaly_baseline(text),
    execlave_maintenance(), execlave_schedule_maintenance(text), execlave_unschedule_maintenance() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_maintenance(), execlave_schedule_maintenance(text),
    execlave_unschedule_maintenance() TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.maintenance_settings(), execlave.trace_partitions(),
    execlave.maintenance_job_name() TO execlave_reader, execlave_app, execlave_admin;
GRANT SELECT ON execlave.agent_overview, execlave.policy_activity TO execlave_reader, execlave_app, execlave_admin;
-- API keys: admins manage them through the functions; nobody but the owner reads the hashes
REVOKE ALL ON execlave.api_keys FROM PUBLIC;
GRANT SELECT (id, name, environment, scope, agent_id, key_prefix, created_at, created_by, expires_at,
    revoked_at, revoked_by, last_used_at) ON execlave.api_keys TO execlave_admin;
GRANT INSERT (name, environment, scope, agent_id, key_prefix, key_hash, created_by, expires_at),
    UPDATE (revoked_at, revoked_by) ON execlave.api_keys TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.random_base62(integer) TO execlave_admin;
REVOKE ALL ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz), execlave_revoke_api_key(text),
    execlave_list_api_keys() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_create_api_key(text, text, text, text, timestamptz), execlave_revoke_api_key(text),
    execlave_list_api_keys() TO execlave_admin;
-- The HTTP API: the anonymous role may use the schema, call the API functions and read the views
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA execlave_api FROM PUBLIC;
GRANT USAGE ON SCHEMA execlave_api TO execlave_api_anon;
GRANT EXECUTE ON FUNCTION execlave_api.pre_request(), execlave_api.pause_agent(text, text),
    execlave_api.resume_agent(text), execlave_api.agent_status(text),
    execlave_api.register_agent(text, text, text, text[], jsonb),
    execlave_api.create_grant(text, text, text[], timestamptz), execlave_api.authorize(text, text, text, boolean),
    execlave_api.create_webhook(text, text[], text, text), execlave_api.create_policy(text, text, text, jsonb, text[]),
    execlave_api.enforce(text, text, text, numeric, text[], jsonb, text), execlave_api.ingest_traces(jsonb),
    execlave_api.caller_scope()
    TO execlave_api_anon;
GRANT SELECT ON execlave_api.agents, execlave_api.grants, execlave_api.policies, execlave_api.violations,
    execlave_api.webhooks, execlave_api.deliveries TO execlave_api_anon;
GRANT EXECUTE ON FUNCTION execlave_usage(text), execlave_anomaly_baseline(text)
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_agent_status(text), execlave_assert_active(text),
    execlave_authorize(text, text, text), execlave_authorize_explain(text, text, text)
    TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_grant(text, text, text[], timestamptz), execlave_revoke(uuid),
    execlave_revoke(text, text, text[]) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_submit_trace(text, jsonb) TO execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_register_agent(text, text, text, text[], jsonb),
    execlave_pause_agent(text, text), execlave_resume_agent(text) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_create_policy(text, text, text, jsonb, text[], jsonb),
    execlave_update_policy(text, text, jsonb, text[], text, jsonb), execlave_enable_policy(text),
    execlave_disable_policy(text), execlave_drop_policy(text) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_enforce(text, text, text, numeric, text[], jsonb),
    execlave_enforce_strict(text, text, text, numeric, text[], jsonb) TO execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_list_webhooks() TO execlave_reader, execlave_app, execlave_admin;
GRANT EXECUTE ON FUNCTION execlave_create_webhook(text, text[], text, text),
    execlave_update_webhook(uuid, text, text[], text), execlave_disable_webhook(uuid, text),
    execlave_enable_webhook(uuid), execlave_delete_webhook(uuid),
    execlave_rotate_webhook_secret(uuid, text), execlave_test_webhook(uuid),
    execlave_redeliver(bigint) TO execlave_admin;
