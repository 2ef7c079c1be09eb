-- Webhook endpoints and the delivery outbox, at the SQL level (sending is
-- tested with a real receiver in test/t/007_webhooks.pl and 008_webhook_crash.pl).
-- The regression database is not execlave.database, so creating an endpoint warns.
SET client_min_messages = warning;

-- Create: a secret is generated, or a given one is validated and kept
SELECT id AS hook_all, signing_secret ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS generated
FROM execlave_create_webhook('https://hooks.example.com/execlave') \gset
SELECT :'generated' AS generated_secret_format;
SET client_min_messages = error;
SELECT id AS hook_paused, signing_secret
FROM execlave_create_webhook('http://hooks.example.com:8080/paused?x=1', ARRAY['agent.paused', 'agent.paused'],
                             'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') \gset
SELECT :'signing_secret' AS kept_secret;
SELECT url, events, active, disabled_at IS NULL AS enabled FROM execlave.webhooks ORDER BY created_at, url;
SELECT id IS NOT NULL AS star_means_all FROM execlave_create_webhook('https://hooks.example.com/star', ARRAY['*']);
SELECT events IS NULL AS all_events FROM execlave.webhooks WHERE url = 'https://hooks.example.com/star';

-- Bad URLs, events and secrets are refused; nothing is written
SELECT expect_error($$SELECT execlave_create_webhook('ftp://example.com/x')$$);
SELECT expect_error($$SELECT execlave_create_webhook('file:///etc/passwd')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://')$$);
SELECT expect_error($$SELECT execlave_create_webhook('example.com/no-scheme')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://exa mple.com/')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://user:secret@example.com/')$$);
SELECT expect_error($$SELECT execlave_create_webhook('')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/' || repeat('a', 3000))$$);
SELECT expect_error($$SELECT execlave_create_webhook(NULL)$$);
-- the stored (normalized) form is checked too: within 2048 bytes, ASCII, stable
SELECT expect_error($$SELECT execlave_create_webhook('http://' || repeat('a', 2041))$$);
SELECT length(execlave.check_webhook_url('http://' || repeat('a', 2040))) AS normalized_at_limit;
SELECT expect_error($$SELECT execlave_create_webhook('http://a%FFb/')$$);
SELECT expect_error($$SELECT execlave_create_webhook('http://a%0Ab/')$$);
SELECT expect_error($$SELECT execlave_create_webhook('http://0x%41/')$$);
SELECT execlave.check_webhook_url('HTTP://Example.COM') AS normalized;
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', ARRAY['agent.deleted'])$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', '{}')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', ARRAY[NULL])$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', NULL, 'secret')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', NULL, 'whsec_c2hvcnQ=')$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://example.com/', NULL, 'whsec_!!!notbase64!!!')$$);
SELECT count(*) AS webhooks FROM execlave.webhooks;

-- Fan-out: one delivery per active subscribed endpoint, in the event's transaction
SELECT execlave.emit_event('agent.paused', NULL, '{"n": 1}') AS ev1 \gset
SELECT w.url, d.status, d.attempts, d.event_type FROM execlave.deliveries d JOIN execlave.webhooks w ON w.id = d.webhook_id
WHERE d.event_id = :ev1 ORDER BY w.url;
SELECT execlave.emit_event('cost.threshold', NULL, '{"n": 2}') AS ev2 \gset
SELECT count(*) AS deliveries_for_cost_threshold FROM execlave.deliveries WHERE event_id = :ev2;
-- a rolled-back event leaves no delivery
SELECT count(*) AS deliveries_before_rollback FROM execlave.deliveries \gset
BEGIN;
SELECT execlave.emit_event('agent.paused', NULL, '{"rolled": "back"}') AS rolled_ev \gset
SELECT count(*) AS inside_the_transaction FROM execlave.deliveries WHERE event_id = :rolled_ev;
ROLLBACK;
SELECT count(*) - :deliveries_before_rollback AS rolled_back_deliveries FROM execlave.deliveries;
SELECT count(*) AS rolled_back_event FROM execlave.events WHERE id = :rolled_ev;
-- pausing an agent reaches the outbox through its event
SELECT execlave_register_agent('hooked-agent') IS NOT NULL AS registered;
SELECT execlave_pause_agent('hooked-agent', 'webhook test') AS paused;
SELECT count(*) AS paused_deliveries FROM execlave.deliveries WHERE event_type = 'agent.paused' AND event_id > :ev2;
-- a disabled endpoint gets no new deliveries
SELECT execlave_disable_webhook(:'hook_paused', 'maintenance window') AS disabled, execlave_disable_webhook(:'hook_paused') AS again;
SELECT active, disabled_reason, disabled_at IS NOT NULL AS stamped FROM execlave.webhooks WHERE id = :'hook_paused';
SELECT execlave.emit_event('agent.paused', NULL, '{"n": 3}') AS ev3 \gset
SELECT count(*) AS to_disabled FROM execlave.deliveries WHERE event_id = :ev3 AND webhook_id = :'hook_paused';
SELECT execlave_enable_webhook(:'hook_paused') AS enabled;
SELECT active, disabled_reason FROM execlave.webhooks WHERE id = :'hook_paused';
-- the test event goes to the one endpoint named
SELECT execlave_test_webhook(:'hook_paused') AS test_ev \gset
SELECT d.webhook_id = :'hook_paused' AS to_that_endpoint, e.event_type, e.data->>'message' AS message
FROM execlave.deliveries d JOIN execlave.events e ON e.id = d.event_id WHERE d.event_id = :test_ev;
SELECT execlave_disable_webhook(:'hook_paused') AS disabled;
SELECT regexp_replace(expect_error(format('SELECT execlave_test_webhook(%L)', :'hook_paused')), '[0-9a-f-]{36}', '<id>');
SELECT execlave_enable_webhook(:'hook_paused') AS enabled;

-- Update, rotate, list (never the secret), delete (its deliveries go with it)
SELECT execlave_update_webhook(:'hook_paused', events => ARRAY['agent.resumed', 'agent.paused'], description => 'pager');
SELECT events, description FROM execlave.webhooks WHERE id = :'hook_paused';
SELECT execlave_update_webhook(:'hook_paused', events => ARRAY['*']);
SELECT events IS NULL AS all_events FROM execlave.webhooks WHERE id = :'hook_paused';
SELECT expect_error(format('SELECT execlave_update_webhook(%L, url => %L)', :'hook_paused', 'gopher://x'));
SELECT execlave_rotate_webhook_secret(:'hook_paused') <> :'signing_secret' AS rotated;
SELECT execlave_rotate_webhook_secret(:'hook_paused', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw') AS given;
SELECT expect_error(format('SELECT execlave_rotate_webhook_secret(%L, %L)', :'hook_paused', 'whsec_x'));
SELECT url, events, active, description FROM execlave_list_webhooks() ORDER BY created_at, url;
SELECT count(*) AS list_columns_with_secret FROM pg_proc p, unnest(p.proargnames) a
WHERE p.proname = 'execlave_list_webhooks' AND a LIKE '%secret%';
SELECT expect_error($$SELECT execlave_update_webhook('00000000-0000-0000-0000-000000000000', description => 'x')$$);
SELECT expect_error($$SELECT execlave_delete_webhook(NULL)$$);
SELECT count(*) AS deliveries_before FROM execlave.deliveries WHERE webhook_id = :'hook_all' \gset
SELECT execlave_delete_webhook(:'hook_all');
SELECT count(*) AS deliveries_after_delete FROM execlave.deliveries WHERE webhook_id = :'hook_all';

-- Redeliver: only deliveries that are not queued or in flight
SELECT min(id) AS did FROM execlave.deliveries WHERE webhook_id = :'hook_paused' \gset
SELECT execlave_redeliver(:did) AS pending_is_not_requeued;
UPDATE execlave.deliveries SET status = 'dead', attempts = 8, last_error = 'HTTP 500' WHERE id = :did;
SELECT execlave_redeliver(:did) AS requeued;
SELECT status, attempts, next_attempt_at <= now() AS due FROM execlave.deliveries WHERE id = :did;
SELECT expect_error($$SELECT execlave_redeliver(-1)$$);
SELECT expect_error($$SELECT execlave_redeliver(NULL)$$);

-- Health view
SELECT url, pending, retrying, dead, succeeded FROM execlave.webhook_health ORDER BY url;

-- An event type no active endpoint subscribes to creates no delivery
SELECT count(*) AS endpoints FROM (SELECT execlave_update_webhook(id, events => ARRAY['agent.paused']) FROM execlave.webhooks) u;
SELECT execlave.emit_event('trace.anomaly', NULL, '{"n": 4}') AS ev4 \gset
SELECT count(*) AS deliveries_without_subscriber FROM execlave.deliveries WHERE event_id = :ev4;

-- A non-superuser execlave_admin: manages endpoints, reads secrets, sends
-- test events, redelivers; a 64-byte secret is accepted
CREATE ROLE regress_wadmin LOGIN IN ROLE execlave_admin;
UPDATE execlave.deliveries SET status = 'dead' WHERE id = :did;
SET ROLE regress_wadmin;
SELECT id AS hook_admin, length(signing_secret) AS secret_length
FROM execlave_create_webhook('https://hooks.example.com/admin', ARRAY['agent.paused'],
    'whsec_' || replace(encode(decode(repeat('ab', 64), 'hex'), 'base64'), E'\n', '')) \gset
SELECT :secret_length AS long_secret_length;
SELECT length(secret) AS admin_reads_secret FROM execlave.webhooks WHERE id = :'hook_admin';
SELECT execlave_test_webhook(:'hook_admin') IS NOT NULL AS admin_test_event;
SELECT execlave_redeliver(:did) AS admin_redeliver;
SELECT execlave_delete_webhook(:'hook_admin') AS admin_deleted;
RESET ROLE;
DROP ROLE regress_wadmin;

-- Roles: only execlave_admin manages endpoints and reads secrets
CREATE ROLE regress_wapp LOGIN IN ROLE execlave_app;
CREATE ROLE regress_wreader LOGIN IN ROLE execlave_reader;
SET ROLE regress_wapp;
SELECT count(*) > 0 AS app_lists FROM execlave_list_webhooks();
SELECT count(*) > 0 AS app_reads_urls FROM (SELECT id, url, events FROM execlave.webhooks) w;
SELECT expect_error($$SELECT secret FROM execlave.webhooks$$);
SELECT expect_error($$SELECT * FROM execlave.webhooks$$);
SELECT expect_error($$SELECT execlave_create_webhook('https://evil.example.com/')$$);
SELECT expect_error(format('SELECT execlave_rotate_webhook_secret(%L)', :'hook_paused'));
SELECT expect_error(format('SELECT execlave_redeliver(%s)', :did));
SELECT expect_error($$UPDATE execlave.deliveries SET status = 'pending'$$);
SELECT count(*) >= 0 AS app_reads_health FROM execlave.webhook_health;
RESET ROLE;
SET ROLE regress_wreader;
SELECT expect_error($$SELECT secret FROM execlave.webhooks$$);
SELECT expect_error(format('SELECT execlave_disable_webhook(%L)', :'hook_paused'));
RESET ROLE;
DROP ROLE regress_wapp, regress_wreader;
RESET client_min_messages;

-- The SSRF guard's classification (0.1.1): one address of every refused
-- range, its edges, IPv4 carried in IPv6, and public neighbours (NULL)
SELECT a AS address, execlave.webhook_address_refusal(a::inet) AS refusal
FROM unnest(ARRAY[
    '0.0.0.0', '0.255.255.255', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.255',
    '127.0.0.1', '127.255.255.254', '169.254.169.254', '172.16.0.1', '172.31.255.255',
    '192.0.0.8', '192.0.2.1', '192.88.99.1', '192.168.0.1', '198.18.0.1', '198.19.255.255',
    '198.51.100.1', '203.0.113.1', '224.0.0.1', '239.255.255.255', '240.0.0.1', '255.255.255.255',
    '::', '::1', '::ffff:127.0.0.1', '::ffff:0:10.0.0.1', '::192.168.1.1', '64:ff9b::a9fe:a9fe',
    '64:ff9b:1::1', '100::1', '2001::1', '2001:0:ffff::1', '2001:2::1', '2001:10::1', '2001:20::1',
    '2001:db8::1', '2002:a00:1::1', '2002:7f00:1::', '3fff::1', 'fc00::1', 'fdff::1', 'fe80::1',
    'febf::1', 'fec0::1', 'ff02::1',
    '1.1.1.1', '9.255.255.255', '11.0.0.0', '100.63.255.255', '100.128.0.0', '128.0.0.1', '169.253.255.255',
    '172.15.255.255', '172.32.0.0', '192.0.1.255', '192.167.255.255', '198.17.255.255', '198.20.0.0',
    '223.255.255.255', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:4860::8888',
    '2001:30::1', '2606:4700::1111', '3fff:1000::1', 'fe00::1', '10.0.0.0/8'
]) AS a;
SELECT execlave.webhook_address_refusal(NULL) IS NULL AS null_in_null_out;
SET ROLE execlave_app;
SELECT execlave.webhook_address_refusal('10.1.2.3') AS app_may_ask;
RESET ROLE;
