-------------------------------------------------------------------------------
-- The webhook worker
-------------------------------------------------------------------------------
-- The worker (src/webhook_worker.c) runs every transaction as execlave_worker
-- with search_path = pg_catalog, pg_temp.  The role gets exactly what its
-- statements need, column by column:
--   claim:  the due rows of active endpoints, locked FOR UPDATE (which needs
--           UPDATE on some column), leased (status, attempts, last_attempt_at,
--           next_attempt_at), with the endpoint's URL and secret and the
--           event the body is built from;
--   next due time: next_attempt_at of the rows not held;
--   record: the outcome columns of each row where the claim left it (ctid,
--           which the claim returns), guarded by id, status and attempts;
--   410:    active and disabled_reason of the endpoint, whose BEFORE trigger
--           execlave.webhooks_before_write runs as the worker and calls
--           execlave.check_webhook_url and execlave.check_webhook_secret
--           (execlave.actor, which it also names, is granted to PUBLIC);
--   start:  'delivering' rows made due again (status, next_attempt_at).
-- Nothing else: no INSERT or DELETE, no other table, no other function.
GRANT USAGE ON SCHEMA execlave TO execlave_worker;
GRANT SELECT (ctid, id, webhook_id, event_id, status, attempts, next_attempt_at, delivered_at),
    UPDATE (status, attempts, next_attempt_at, last_attempt_at, last_status_code, last_error,
            last_latency_ms, delivered_at)
    ON execlave.deliveries TO execlave_worker;
GRANT SELECT (id, url, secret, active), UPDATE (active, disabled_reason)
    ON execlave.webhooks TO execlave_worker;
GRANT SELECT (id, event_type, data, created_at) ON execlave.events TO execlave_worker;
GRANT EXECUTE ON FUNCTION execlave.check_webhook_url(text), execlave.check_webhook_secret(text)
    TO execlave_worker;

-- Every scan of the worker goes by endpoint (deliveries_webhook_due_idx):
-- the claim's, and the next due time's (each endpoint's first row not held).
-- The index on next_attempt_at alone served neither well (the planner took
-- it for the claim's per-endpoint scans, filtering every due row by
-- endpoint) and cost an index insert on every claim and record.
DROP INDEX execlave.deliveries_due_idx;
