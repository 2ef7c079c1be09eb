-- API keys and the HTTP API schema at the SQL level (the HTTP protocol
-- itself is driven in test/t/011_http_api.pl).
SET client_min_messages = warning;
SELECT execlave_register_agent('api-agent') IS NOT NULL AS registered;

-- Creating keys: returned once, in the product's format; stored as a hash
SELECT id AS admin_id, api_key AS admin_key, key_prefix AS admin_prefix
FROM execlave_create_api_key('ci', 'prod', 'admin') \gset
SELECT :'admin_key' ~ '^ag_prod_[0-9A-Za-z]{40}$' AS key_format, :'admin_prefix' = left(:'admin_key', 16) AS prefix_is_its_start;
SELECT key_hash = sha256(convert_to(:'admin_key', 'UTF8')) AS sha256_stored, octet_length(key_hash) AS hash_bytes
FROM execlave.api_keys WHERE id = :'admin_id';
SELECT api_key ~ '^ag_test_' AS agent_key_format FROM execlave_create_api_key('bot', 'test', 'agent', 'api-agent', now() + interval '30 days');
SELECT name, environment, scope, agent_key, key_prefix ~ '^ag_(prod|test)_.{8}$' AS prefix, state, expires_at IS NOT NULL AS expires
FROM execlave_list_api_keys() ORDER BY name;
SELECT count(*) AS list_columns_with_key_or_hash FROM pg_proc p, unnest(p.proargnames) a
WHERE p.proname = 'execlave_list_api_keys' AND (a LIKE '%hash%' OR a = 'api_key');

-- Bad input is refused; nothing is written
SELECT count(*) AS keys_before FROM execlave.api_keys \gset
SELECT expect_error($$SELECT execlave_create_api_key(NULL, 'prod', 'admin')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'Prod', 'admin')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod_1', 'admin')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', '', 'admin')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'root')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'agent')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'admin', 'api-agent')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'agent', 'ghost')$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'admin', NULL, now() - interval '1 day')$$);
SELECT expect_error($$SELECT execlave_create_api_key(repeat('n', 201), 'prod', 'admin')$$);
SELECT count(*) - :keys_before AS written FROM execlave.api_keys;

-- Revoking: by id, prefix or the key itself; once
SELECT execlave_revoke_api_key(:'admin_prefix') AS revoked, execlave_revoke_api_key(:'admin_key') AS again;
SELECT state, revoked_at IS NOT NULL AS stamped FROM execlave_list_api_keys() WHERE id = :'admin_id';
SELECT expect_error($$SELECT execlave_revoke_api_key('ag_prod_nothere')$$);
-- keys are immutable but for one revocation
SELECT expect_error(format('UPDATE execlave.api_keys SET revoked_at = NULL WHERE id = %L', :'admin_id'));
SELECT expect_error(format('UPDATE execlave.api_keys SET scope = %L WHERE id = %L', 'agent', :'admin_id'));
SELECT expect_error($$SELECT execlave_revoke_api_key(NULL)$$);

-- The identity settings only a superuser (pre_request) can set
CREATE ROLE regress_api_app LOGIN IN ROLE execlave_app;
CREATE ROLE regress_api_admin LOGIN IN ROLE execlave_admin;
SET ROLE regress_api_app;
SELECT expect_error($$SET execlave.api_scope = 'admin'$$);
SELECT expect_error($$SELECT set_config('execlave.api_actor', 'api:forged', true)$$);
SELECT expect_error($$SELECT key_hash FROM execlave.api_keys$$);
SELECT expect_error($$SELECT * FROM execlave_list_api_keys()$$);
SELECT expect_error($$SELECT execlave_create_api_key('x', 'prod', 'admin')$$);
RESET ROLE;
SET ROLE regress_api_admin;
SELECT expect_error($$SELECT key_hash FROM execlave.api_keys$$);
SELECT count(*) > 0 AS admin_reads_prefixes FROM (SELECT key_prefix, last_used_at FROM execlave.api_keys) k;
SELECT api_key IS NOT NULL AS admin_creates FROM execlave_create_api_key('from-admin', 'dev', 'admin');
SELECT created_by FROM execlave.api_keys WHERE name = 'from-admin';
RESET ROLE;
DROP ROLE regress_api_app, regress_api_admin;

-- The anonymous role reaches the API functions and views only
SET ROLE execlave_api_anon;
SELECT expect_error($$SELECT execlave_pause_agent('api-agent', 'x')$$);
SELECT expect_error($$SELECT * FROM execlave.agents$$);
SELECT expect_error($$SELECT execlave_api.fail(400, 'x', 'y')$$);
-- without pre_request there is no caller: the API refuses, the views are empty
SELECT expect_error($$SELECT execlave_api.pause_agent('api-agent', 'x')$$);
SELECT count(*) AS agents_without_a_key FROM execlave_api.agents;
RESET ROLE;
SELECT status FROM execlave.agents WHERE key = 'api-agent';

-- The HTTP status of each SQLSTATE (README: Errors over HTTP)
SELECT s AS sqlstate, execlave_api.http_status(s) AS status
FROM unnest(ARRAY['EX001', 'EX002', 'EX003', 'EX004', 'EX005', 'EX006', 'EX007', 'EX008', 'EX009',
                  '22023', '22004', '22P02', '23502', '23514', '23505', '42501', '55000', '53400', 'XX000']) s;
-- every object of the API schema is commented
SELECT p.oid::regprocedure AS api_function_without_comment FROM pg_proc p
WHERE p.pronamespace = 'execlave_api'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL;
SELECT c.relname AS api_view_without_comment FROM pg_class c
WHERE c.relnamespace = 'execlave_api'::regnamespace AND obj_description(c.oid, 'pg_class') IS NULL;
-- Maintenance removes keys revoked or expired longer ago than execlave.grant_retention_days
SET session_replication_role = replica;   -- (keys are immutable: age it with triggers off)
UPDATE execlave.api_keys SET revoked_at = now() - interval '40 days' WHERE id = :'admin_id';
RESET session_replication_role;
SELECT (execlave_maintenance()->'purged'->>'api_keys')::int AS api_keys_removed;
SELECT count(*) AS revoked_key_left FROM execlave.api_keys WHERE id = :'admin_id';

-- 0.1.2: every API function pins search_path = pg_catalog, pg_temp and calls
-- no function of the extension's schema (which others may be able to write)
SELECT p.oid::regprocedure AS api_function_unpinned FROM pg_proc p
WHERE p.pronamespace = 'execlave_api'::regnamespace
  AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
  AND NOT coalesce(p.proconfig = ARRAY['search_path=pg_catalog, pg_temp'], false);
SELECT p.oid::regprocedure AS api_function_calling_extschema FROM pg_proc p
WHERE p.pronamespace = 'execlave_api'::regnamespace
  AND p.prosrc ~ '(^|[^.A-Za-z0-9_])execlave_(?!api\.)[a-z_]+\s*\(';
-- the hosted routes: each handler exists, only dispatch is reachable by the anonymous role
SELECT r.handler AS route_without_handler FROM execlave_api.routes() r
WHERE to_regprocedure('execlave_api.http_' || r.handler || '(text, jsonb, jsonb)') IS NULL;
SELECT p.proname AS api_function_granted_to_anon FROM pg_proc p
WHERE p.pronamespace = 'execlave_api'::regnamespace AND has_function_privilege('execlave_api_anon', p.oid, 'EXECUTE')
ORDER BY 1;
-- URI decoding, query strings, and the hosted error codes
SELECT execlave_api.url_decode('agent%2Da%40x') AS decoded, execlave_api.url_decode('a+b', true) AS plus,
       execlave_api.query_params('search=support%20bot&limit=5&x') AS params;
SELECT expect_error($$SELECT execlave_api.url_decode('%ff%fe')$$);
SELECT s AS sqlstate, execlave_api.http_status(s) AS status, execlave_api.error_code(s, execlave_api.http_status(s)) AS code
FROM unnest(ARRAY['EX001', 'EX002', 'EX003', 'EX004', 'EX005', 'EX010', 'EX011', '22023', '23505', '42501', '53400', 'XX000']) s;
-- a request without the headers nginx sets, or without a key, is answered, never executed
SET ROLE execlave_api_anon;
SELECT execlave_api.dispatch('') AS no_route;
SELECT set_config('request.headers', '{"x-execlave-method": "PATCH", "x-execlave-uri": "/api/agents/api-agent/pause"}', false) IS NOT NULL AS set;
SELECT execlave_api.dispatch('{"reason": "no key"}') AS no_key, current_setting('response.status') AS status;
RESET ROLE;
SELECT status FROM execlave.agents WHERE key = 'api-agent';
