-- Agent-to-agent grants and execlave_authorize().
SELECT execlave_register_agent('caller') AS caller \gset
SELECT execlave_register_agent('callee') AS callee \gset
SELECT execlave_register_agent('bystander') IS NOT NULL AS registered;

-- Deny by default
SELECT execlave_authorize('caller', 'callee', 'execute') AS before_any_grant;

-- Grant execute and read (agents by key or UUID); the id comes back
SELECT execlave_grant('caller', :'callee', ARRAY['read', 'execute']) AS g1 \gset
SELECT source_id = :'caller' AS src, target_id = :'callee' AS tgt, actions, expires_at,
       created_by = current_user AS by_me, revoked_at
FROM execlave.grants WHERE id = :'g1';
SELECT execlave_authorize('caller', 'callee', 'execute') AS execute,
       execlave_authorize(:'caller', :'callee', 'read') AS read,
       execlave_authorize('caller', 'callee', 'write') AS write,
       execlave_authorize('callee', 'caller', 'execute') AS reverse_direction;

-- Every reason code, each from a real situation
SELECT authorized, reason, grant_id = :'g1' AS g1, expires_at
FROM execlave_authorize_explain('caller', 'callee', 'execute');                -- granted
SELECT authorized, reason, grant_id, expires_at
FROM execlave_authorize_explain('caller', 'bystander', 'execute');             -- no_grant
SELECT authorized, reason, grant_id, expires_at
FROM execlave_authorize_explain('caller', 'callee', 'delete');                 -- action_not_granted
SELECT authorized, reason FROM execlave_authorize_explain('nobody', 'callee', 'read');  -- unknown_source
SELECT authorized, reason FROM execlave_authorize_explain('caller', 'nobody', 'read');  -- unknown_target
SELECT execlave_pause_agent('caller', 'reason test');
SELECT authorized, reason FROM execlave_authorize_explain('caller', 'callee', 'read');   -- source_paused
SELECT execlave_resume_agent('caller');
SELECT execlave_pause_agent('callee', 'reason test');
SELECT authorized, reason FROM execlave_authorize_explain('caller', 'callee', 'read');   -- target_paused
SELECT execlave_authorize('caller', 'callee', 'read') AS target_paused_bool;
SELECT execlave_resume_agent('callee');
SELECT execlave_authorize('caller', 'callee', 'read') AS resumed;

-- revoked: revoke by id
SELECT execlave_revoke(:'g1'::uuid) AS revoked;
SELECT authorized, reason, grant_id = :'g1' AS g1 FROM execlave_authorize_explain('caller', 'callee', 'read');
SELECT execlave_revoke(:'g1'::uuid) AS revoked_again;
SELECT revoked_at IS NOT NULL AS has_time, revoked_by = current_user AS by_me FROM execlave.grants WHERE id = :'g1';

-- expired: an expiry a second ahead is true now and false once it passes, with nothing in between
SELECT execlave_grant('caller', 'callee', ARRAY['query'], clock_timestamp() + interval '1 second') AS g2 \gset
SELECT execlave_authorize('caller', 'callee', 'query') AS before_expiry;
SELECT pg_sleep(1.2);
SELECT execlave_authorize('caller', 'callee', 'query') AS after_expiry;
SELECT authorized, reason, grant_id = :'g2' AS g2, expires_at IS NOT NULL AS has_expiry
FROM execlave_authorize_explain('caller', 'callee', 'query');

-- ... exact even inside one transaction (the clock, not now(), decides)
BEGIN;
SELECT execlave_grant('caller', 'callee', ARRAY['subscribe'], clock_timestamp() + interval '1 second') IS NOT NULL AS granted;
SELECT execlave_authorize('caller', 'callee', 'subscribe') AS in_xact_before;
SELECT pg_sleep(1.2);
SELECT execlave_authorize('caller', 'callee', 'subscribe') AS in_xact_after;
COMMIT;

-- Archived agents neither call nor are called
SELECT execlave_register_agent('old-agent') AS old_agent \gset
SELECT execlave_grant('old-agent', 'callee', ARRAY['read']) IS NOT NULL AS g,
       execlave_grant('caller', 'old-agent', ARRAY['read']) IS NOT NULL AS g;
UPDATE execlave.agents SET status = 'archived' WHERE key = 'old-agent';
SELECT reason FROM execlave_authorize_explain('old-agent', 'callee', 'read');
SELECT reason FROM execlave_authorize_explain('caller', 'old-agent', 'read');

-- Merge rule: live grants of one pair add up; the longest-lasting allowing grant is reported
SELECT execlave_grant('caller', 'bystander', ARRAY['read'], clock_timestamp() + interval '1 hour') AS m1 \gset
SELECT execlave_grant('caller', 'bystander', ARRAY['write', 'read']) AS m2 \gset
SELECT execlave_authorize('caller', 'bystander', 'read') AS read,
       execlave_authorize('caller', 'bystander', 'write') AS write;
SELECT reason, grant_id = :'m2' AS never_expiring_one FROM execlave_authorize_explain('caller', 'bystander', 'read');
SELECT execlave_revoke(:'m2'::uuid);
SELECT reason, grant_id = :'m1' AS remaining_one FROM execlave_authorize_explain('caller', 'bystander', 'read');
SELECT reason, grant_id = :'m2' AS revoked_one FROM execlave_authorize_explain('caller', 'bystander', 'write');

-- Revoke by pair and actions: the rest of a grant is re-issued with the same expiry
SELECT execlave_grant('callee', 'caller', ARRAY['execute', 'read', 'write'], clock_timestamp() + interval '1 day') AS p1 \gset
SELECT execlave_revoke('callee', 'caller', ARRAY['write']) AS revoked_grants;
SELECT actions, revoked_at IS NOT NULL AS revoked, replaces = :'p1' AS replaces_p1,
       expires_at = (SELECT expires_at FROM execlave.grants WHERE id = :'p1') AS same_expiry
FROM execlave.grants WHERE id = :'p1' OR replaces = :'p1' ORDER BY revoked DESC;
SELECT execlave_authorize('callee', 'caller', 'write') AS write, execlave_authorize('callee', 'caller', 'read') AS read;
SELECT execlave_revoke('callee', 'caller', ARRAY['delegate']) AS nothing_to_revoke;
SELECT execlave_revoke('callee', 'caller') AS revoke_all;
SELECT execlave_authorize('callee', 'caller', 'read') AS read_after_revoke_all;

-- Change history: every grant and revoke, who and when
SELECT operation, actions, actor = current_user AS by_me, at IS NOT NULL AS timed
FROM execlave.grant_history WHERE grant_id = :'p1' OR grant_id IN (SELECT id FROM execlave.grants WHERE replaces = :'p1')
ORDER BY id;

-- Source = target: no implicit self-trust; a self-grant works like any other
SELECT reason FROM execlave_authorize_explain('caller', 'caller', 'invoke');
SELECT execlave_grant('caller', 'caller', ARRAY['invoke']) IS NOT NULL AS self_grant;
SELECT execlave_authorize('caller', 'caller', 'invoke') AS self_invoke;

-- Grants cannot be edited, only revoked once
SELECT execlave_grant('caller', 'callee', ARRAY['read']) AS g3 \gset
SELECT expect_error(format($$UPDATE execlave.grants SET actions = '{read,write}' WHERE id = %L$$, :'g3'));
SELECT expect_error(format($$UPDATE execlave.grants SET expires_at = now() + interval '1 year' WHERE id = %L$$, :'g3'));
SELECT execlave_revoke(:'g3'::uuid);
SELECT expect_error(format($$UPDATE execlave.grants SET revoked_at = NULL, revoked_by = NULL WHERE id = %L$$, :'g3'));
SELECT expect_error($$UPDATE execlave.grant_history SET actor = 'someone else'$$);

-- A grant written in plain SQL is validated and recorded like any other
INSERT INTO execlave.grants (source_id, target_id, actions)
VALUES (:'callee', :'caller', ARRAY['write', 'execute']) RETURNING actions, created_by = current_user AS by_me;
SELECT expect_error(format($$INSERT INTO execlave.grants (source_id, target_id, actions) VALUES (%L, %L, '{fly}')$$, :'callee', :'caller'));

-- Read-only: works in a read-only transaction
BEGIN READ ONLY;
SELECT execlave_authorize('callee', 'caller', 'write') AS read_only_ok,
       (SELECT reason FROM execlave_authorize_explain('callee', 'caller', 'write')) AS reason;
COMMIT;

-- Bad input: clear errors, stable SQLSTATEs, nothing written
SELECT count(*) AS grants_before FROM execlave.grants \gset
SELECT count(*) AS history_before FROM execlave.grant_history \gset
SELECT expect_error($$SELECT execlave_authorize('caller', 'callee', 'fly')$$);
SELECT expect_error($$SELECT execlave_authorize('caller', 'callee', '')$$);
SELECT expect_error($$SELECT execlave_authorize('caller', 'callee', 'EXECUTE')$$);
SELECT expect_error($$SELECT execlave_authorize('caller', 'callee', NULL)$$);
SELECT expect_error($$SELECT execlave_authorize(NULL, 'callee', 'read')$$);
SELECT expect_error($$SELECT execlave_authorize('caller', NULL, 'read')$$);
SELECT expect_error($$SELECT execlave_authorize('', 'callee', 'read')$$);
SELECT expect_error($$SELECT execlave_authorize('nobody', '', 'read')$$);
SELECT expect_error($$SELECT execlave_authorize('123e4567-e89b-12d3-a456-42661417zzzz', 'callee', 'read')$$);
SELECT expect_error($$SELECT * FROM execlave_authorize_explain('caller', 'callee', 'fly')$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read', 'read'])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read', 'fly'])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY[]::text[])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read', NULL])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', NULL)$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY[['read'], ['write']])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read'], now() - interval '1 second')$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read'], '-infinity')$$);
SELECT expect_error($$SELECT execlave_grant(NULL, 'callee', ARRAY['read'])$$);
SELECT expect_error($$SELECT execlave_grant('caller', '', ARRAY['read'])$$);
SELECT expect_error($$SELECT execlave_grant('caller', 'nobody', ARRAY['read'])$$);
SELECT expect_error($$SELECT execlave_grant('caller', '123e4567-e89b-12d3-a456-42661417zzzz', ARRAY['read'])$$);
SELECT expect_error($$SELECT execlave_revoke(NULL::uuid)$$);
SELECT expect_error($$SELECT execlave_revoke('123e4567-e89b-12d3-a456-426614174000'::uuid)$$);
SELECT expect_error($$SELECT execlave_revoke('not-a-uuid'::uuid)$$);
SELECT expect_error($$SELECT execlave_revoke('caller', NULL)$$);
SELECT expect_error($$SELECT execlave_revoke('caller', 'callee', ARRAY['fly'])$$);
SELECT expect_error($$SELECT execlave_revoke('caller', 'nobody')$$);
SELECT count(*) = :grants_before AS no_grant_written FROM execlave.grants;
SELECT count(*) = :history_before AS no_history_written FROM execlave.grant_history;

-- A grant that never expires ('infinity' counts as never)
SELECT execlave_grant('bystander', 'caller', ARRAY['delegate'], 'infinity') IS NOT NULL AS granted;
SELECT execlave_authorize('bystander', 'caller', 'delegate') AS forever;

-- Roles: the app may authorize but not grant or revoke; grants come from the admin
CREATE ROLE regress_grant_app LOGIN IN ROLE execlave_app;
CREATE ROLE regress_grant_admin LOGIN IN ROLE execlave_admin;
SET ROLE regress_grant_app;
SELECT execlave_authorize('bystander', 'caller', 'delegate') AS app_authorizes;
SELECT reason FROM execlave_authorize_explain('bystander', 'caller', 'delegate');
SELECT expect_error($$SELECT execlave_grant('caller', 'callee', ARRAY['read'])$$);
SELECT expect_error($$SELECT execlave_revoke('caller', 'callee')$$);
SELECT expect_error(format($$SELECT execlave_revoke(%L::uuid)$$, :'m1'));
SELECT expect_error(format($$INSERT INTO execlave.grants (source_id, target_id, actions) VALUES (%L, %L, '{read}')$$, :'caller', :'callee'));
SELECT expect_error($$UPDATE execlave.grants SET revoked_at = now()$$);
RESET ROLE;
SET ROLE regress_grant_admin;
SELECT execlave_grant('caller', 'callee', ARRAY['write']) IS NOT NULL AS admin_grants;
SELECT created_by FROM execlave.grants ORDER BY created_at DESC LIMIT 1;
SELECT execlave_revoke('caller', 'callee', ARRAY['write']) AS admin_revokes;
-- a partial revoke by the admin re-issues the rest (replaces names the old grant)
SELECT execlave_grant('caller', 'callee', ARRAY['write', 'invoke']) AS g_partial \gset
SELECT execlave_revoke('caller', 'callee', ARRAY['write']) AS admin_partially_revokes;
SELECT actions, replaces = :'g_partial' AS replaces_old FROM execlave.grants WHERE replaces = :'g_partial';
SELECT execlave_authorize('caller', 'callee', 'invoke') AS invoke_stays, execlave_authorize('caller', 'callee', 'write') AS write_gone;
-- replaces cannot be made up: it must continue a revoked grant of the pair
SELECT expect_error(format($$INSERT INTO execlave.grants (source_id, target_id, actions, replaces) VALUES (%L, %L, '{read}', %L)$$,
                           :'caller', :'callee', :'m1'));
SELECT expect_error(format($$INSERT INTO execlave.grants (source_id, target_id, actions, replaces) VALUES (%L, %L, '{delete}', %L)$$,
                           :'caller', :'callee', :'g_partial'));
SELECT expect_error($$DELETE FROM execlave.grants$$);
RESET ROLE;
DROP ROLE regress_grant_app, regress_grant_admin;

-- A pair cache smaller than the working set evicts, and never answers wrongly
SET execlave.grant_cache_size = 16;
SELECT count(execlave_register_agent('ev-' || i)) AS agents FROM generate_series(1, 40) i;
SELECT count(execlave_grant('ev-' || i, 'ev-' || (i + 1), ARRAY['read'])) AS grants
FROM generate_series(1, 39, 2) i;
SELECT count(*) AS calls,
       count(*) FILTER (WHERE execlave_authorize('ev-' || i, 'ev-' || (i + 1), 'read') = (i % 2 = 1)) AS right_answers
FROM generate_series(1, 39) i, generate_series(1, 5) round;
-- ... and lowering the limit far below what is cached empties the cache, again without wrong answers
SET execlave.grant_cache_size = 100;
SELECT count(*) FILTER (WHERE execlave_authorize('ev-' || i, 'ev-' || (i + 1), 'read') = (i % 2 = 1)) AS right_answers
FROM generate_series(1, 39) i;
SET execlave.grant_cache_size = 16;
-- pairs never asked about: the first miss finds the cache far over the limit
SELECT count(*) FILTER (WHERE NOT execlave_authorize('ev-' || i, 'ev-' || (i + 2), 'read')) AS right_answers
FROM generate_series(1, 38) i;
SELECT count(*) FILTER (WHERE execlave_authorize('ev-' || i, 'ev-' || (i + 1), 'read') = (i % 2 = 1)) AS right_answers
FROM generate_series(1, 39) i, generate_series(1, 3) round;
RESET execlave.grant_cache_size;
