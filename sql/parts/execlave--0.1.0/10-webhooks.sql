-------------------------------------------------------------------------------
-- Webhooks: endpoints, and the delivery outbox drained by the webhook worker
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.check_webhook_url(url text) RETURNS text
LANGUAGE C STRICT IMMUTABLE AS 'MODULE_PATHNAME', 'execlave_check_webhook_url';
COMMENT ON FUNCTION execlave.check_webhook_url(text) IS 'Validate a webhook URL (http or https, with a host, at most 2048 bytes); returns it normalized, or raises 22023';

CREATE FUNCTION execlave.new_webhook_secret() RETURNS text
LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'execlave_new_webhook_secret';
COMMENT ON FUNCTION execlave.new_webhook_secret() IS 'A new Standard Webhooks signing secret: whsec_ followed by base64 of 32 random bytes';

CREATE FUNCTION execlave.check_webhook_secret(secret text) RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    key bytea;
BEGIN
    IF secret !~ '^whsec_[A-Za-z0-9+/]+={0,2}$' THEN
        RAISE EXCEPTION 'invalid webhook secret'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'A secret is whsec_ followed by the base64 encoding of 24 to 64 random bytes; omit it to have one generated.';
    END IF;
    BEGIN
        key := decode(substr(secret, 7), 'base64');
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION 'invalid webhook secret: the part after whsec_ is not valid base64'
            USING ERRCODE = 'invalid_parameter_value';
    END;
    IF octet_length(key) NOT BETWEEN 24 AND 64 THEN
        RAISE EXCEPTION 'invalid webhook secret: its key is % bytes long', octet_length(key)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The base64 part must decode to 24 to 64 bytes.';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.check_webhook_secret(text) IS 'Raise 22023 unless secret is whsec_ + base64 of 24 to 64 bytes';

CREATE TABLE execlave.webhooks (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    url             text        NOT NULL,
    events          text[],
    secret          text        NOT NULL DEFAULT execlave.new_webhook_secret(),
    active          boolean     NOT NULL DEFAULT true,
    description     text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    created_by      text        NOT NULL DEFAULT CURRENT_USER,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    disabled_at     timestamptz,
    disabled_reason text,
    CONSTRAINT webhooks_pkey PRIMARY KEY (id),
    CONSTRAINT webhooks_events_check CHECK (
        pg_catalog.cardinality(events) > 0
        AND events <@ ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold']),
    CONSTRAINT webhooks_disabled_check CHECK (active = (disabled_at IS NULL)),
    CONSTRAINT webhooks_description_check CHECK (octet_length(description) <= 2000),
    CONSTRAINT webhooks_reason_check CHECK (octet_length(disabled_reason) <= 2000)
);
COMMENT ON TABLE execlave.webhooks IS 'Webhook endpoints: URL, subscribed event types, Standard Webhooks signing secret (execlave_admin only), active flag';
COMMENT ON COLUMN execlave.webhooks.events IS 'Event types delivered to the endpoint; NULL: every type';
COMMENT ON COLUMN execlave.webhooks.secret IS 'Signing secret (whsec_ + base64 key); readable by execlave_admin only';
COMMENT ON COLUMN execlave.webhooks.disabled_reason IS 'Why the endpoint was disabled (by a role, or automatically on 410 Gone)';
SELECT pg_catalog.pg_extension_config_dump('execlave.webhooks', '');

CREATE FUNCTION execlave.webhooks_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.url := execlave.check_webhook_url(NEW.url);
    PERFORM execlave.check_webhook_secret(NEW.secret);
    IF NEW.events IS NOT NULL THEN
        IF array_position(NEW.events, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'events must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT NEW.events <@ ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold'] THEN
            RAISE EXCEPTION 'unknown event type(s): %', array_to_string(ARRAY(
                    SELECT e FROM unnest(NEW.events) e
                    WHERE e <> ALL (ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold'])), ', ')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Valid events: policy.violated, agent.paused, agent.resumed, trace.anomaly, cost.threshold (NULL or ''{*}'': all).';
        END IF;
        IF cardinality(NEW.events) = 0 THEN
            RAISE EXCEPTION 'events must not be empty'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Name at least one event type, or pass NULL (or ''{*}'') for all of them.';
        END IF;
        NEW.events := ARRAY(SELECT DISTINCT e FROM unnest(NEW.events) e ORDER BY 1);
    END IF;
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
    END IF;
    IF NEW.active AND (TG_OP = 'INSERT' OR NOT OLD.active) THEN
        NEW.disabled_at := NULL;
        NEW.disabled_reason := NULL;
    ELSIF NOT NEW.active AND (TG_OP = 'INSERT' OR OLD.active) THEN
        NEW.disabled_at := now();
        NEW.disabled_reason := coalesce(NEW.disabled_reason, 'disabled by ' || execlave.actor());
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.webhooks_before_write() IS 'Trigger: validates URL, secret and events; keeps disabled_at/disabled_reason consistent with active';

CREATE TRIGGER webhooks_before_write
    BEFORE INSERT OR UPDATE ON execlave.webhooks
    FOR EACH ROW EXECUTE FUNCTION execlave.webhooks_before_write();

CREATE TABLE execlave.deliveries (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id       uuid        NOT NULL REFERENCES execlave.webhooks (id) ON DELETE CASCADE,
    event_id         bigint      NOT NULL,
    event_type       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending',
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_attempt_at  timestamptz,
    last_status_code integer,
    last_error       text,
    last_latency_ms  double precision,
    created_at       timestamptz NOT NULL DEFAULT pg_catalog.now(),
    delivered_at     timestamptz,
    CONSTRAINT deliveries_status_check CHECK (status IN ('pending', 'delivering', 'retrying', 'succeeded', 'dead')),
    CONSTRAINT deliveries_event_webhook_key UNIQUE (event_id, webhook_id)
);
CREATE INDEX deliveries_due_idx ON execlave.deliveries (next_attempt_at)
    WHERE status IN ('pending', 'delivering', 'retrying');
CREATE INDEX deliveries_webhook_idx ON execlave.deliveries (webhook_id, created_at);
COMMENT ON TABLE execlave.deliveries IS 'Webhook outbox: one row per event and subscribed endpoint, written in the event''s transaction; drained by the webhook worker';
COMMENT ON COLUMN execlave.deliveries.status IS 'pending | delivering (leased until next_attempt_at) | retrying | succeeded | dead (attempts exhausted, 410, or redeliver to queue again)';
COMMENT ON COLUMN execlave.deliveries.next_attempt_at IS 'When the delivery is due; while delivering, when its lease expires and it may be claimed again';
COMMENT ON COLUMN execlave.deliveries.attempts IS 'Attempts made (since the last execlave_redeliver)';
SELECT pg_catalog.pg_extension_config_dump('execlave.deliveries', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.deliveries_id_seq', '');

-- Fan-out in the event's own transaction: one delivery per subscribed active
-- endpoint.  Because it runs where the event is written, no event can be
-- skipped whatever order transactions commit in.
CREATE FUNCTION execlave.events_fan_out() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF NEW.event_type = 'webhook.test' THEN
        INSERT INTO execlave.deliveries (webhook_id, event_id, event_type)
        SELECT w.id, NEW.id, NEW.event_type FROM execlave.webhooks w
        WHERE w.id = (NEW.data->>'webhook_id')::uuid;
    ELSE
        INSERT INTO execlave.deliveries (webhook_id, event_id, event_type)
        SELECT w.id, NEW.id, NEW.event_type FROM execlave.webhooks w
        WHERE w.active AND (w.events IS NULL OR NEW.event_type = ANY (w.events));
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.events_fan_out() IS 'Trigger: creates the deliveries of a new event, in its transaction';

CREATE TRIGGER events_fan_out
    AFTER INSERT ON execlave.events
    FOR EACH ROW EXECUTE FUNCTION execlave.events_fan_out();

CREATE FUNCTION execlave.wake_webhook_worker() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'execlave_wake_webhook_worker';
COMMENT ON FUNCTION execlave.wake_webhook_worker() IS 'Statement trigger: wake the webhook worker when this transaction commits';

CREATE TRIGGER deliveries_wake
    AFTER INSERT OR UPDATE ON execlave.deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION execlave.wake_webhook_worker();

CREATE VIEW execlave.webhook_health AS
SELECT w.id AS webhook_id, w.url, w.active, w.disabled_at, w.disabled_reason,
       count(*) FILTER (WHERE d.status IN ('pending', 'delivering')) AS pending,
       count(*) FILTER (WHERE d.status = 'retrying') AS retrying,
       count(*) FILTER (WHERE d.status = 'dead') AS dead,
       count(*) FILTER (WHERE d.status = 'succeeded') AS succeeded,
       max(d.delivered_at) AS last_success_at,
       (SELECT d2.last_error FROM execlave.deliveries d2
        WHERE d2.webhook_id = w.id AND d2.last_error IS NOT NULL
        ORDER BY d2.last_attempt_at DESC NULLS LAST LIMIT 1) AS last_error,
       max(d.last_attempt_at) FILTER (WHERE d.last_error IS NOT NULL) AS last_error_at,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY d.last_latency_ms)
              FILTER (WHERE d.last_attempt_at > pg_catalog.now() - interval '1 hour'))::numeric, 1) AS p50_latency_ms_1h,
       round((percentile_cont(0.99) WITHIN GROUP (ORDER BY d.last_latency_ms)
              FILTER (WHERE d.last_attempt_at > pg_catalog.now() - interval '1 hour'))::numeric, 1) AS p99_latency_ms_1h
FROM execlave.webhooks w
LEFT JOIN execlave.deliveries d ON d.webhook_id = w.id
GROUP BY w.id;
COMMENT ON VIEW execlave.webhook_health IS 'Per endpoint: deliveries pending, retrying, dead and succeeded; last success; last error; latency over the last hour';

CREATE FUNCTION execlave.webhook_worker_status() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_webhook_worker_status';
COMMENT ON FUNCTION execlave.webhook_worker_status() IS 'Whether the webhook worker runs, and for this database';

CREATE FUNCTION execlave_create_webhook(url text, events text[] DEFAULT NULL, secret text DEFAULT NULL,
                                        description text DEFAULT NULL)
RETURNS TABLE (id uuid, signing_secret text)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave_create_webhook(text, text[], text, text) IS 'Register a webhook endpoint for events (NULL or {*}: all types); returns its id and signing_secret (generated when not given; shown here and to execlave_admin only)';

CREATE FUNCTION execlave.check_webhook(webhook uuid) RETURNS void
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(webhook, 'webhook');
    IF NOT EXISTS (SELECT 1 FROM execlave.webhooks w WHERE w.id = webhook) THEN
        RAISE EXCEPTION 'webhook % does not exist', webhook USING ERRCODE = 'EX007';
    END IF;
END
$$;
COMMENT ON FUNCTION execlave.check_webhook(uuid) IS 'Raise EX007 unless the webhook exists';

CREATE FUNCTION execlave_list_webhooks()
RETURNS TABLE (id uuid, url text, events text[], active boolean, description text,
               created_at timestamptz, disabled_at timestamptz, disabled_reason text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT w.id, w.url, w.events, w.active, w.description, w.created_at, w.disabled_at, w.disabled_reason
    FROM execlave.webhooks w ORDER BY w.created_at, w.id
$$;
COMMENT ON FUNCTION execlave_list_webhooks() IS 'Every webhook endpoint, without its secret';

CREATE FUNCTION execlave_update_webhook(webhook uuid, url text DEFAULT NULL, events text[] DEFAULT NULL,
                                        description text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w
    SET url = coalesce(execlave_update_webhook.url, w.url),
        events = CASE WHEN execlave_update_webhook.events IS NULL THEN w.events
                      WHEN execlave_update_webhook.events = ARRAY['*'] THEN NULL
                      ELSE execlave_update_webhook.events END,
        description = coalesce(execlave_update_webhook.description, w.description)
    WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave_update_webhook(uuid, text, text[], text) IS 'Change a webhook''s URL, events ({*}: all) or description; NULL keeps the current value';

CREATE FUNCTION execlave_disable_webhook(webhook uuid, reason text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = false,
        disabled_reason = coalesce(reason, 'disabled by ' || execlave.actor())
    WHERE w.id = webhook AND w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave_disable_webhook(uuid, text) IS 'Stop deliveries to an endpoint (pending ones wait); false if already disabled';

CREATE FUNCTION execlave_enable_webhook(webhook uuid) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET active = true WHERE w.id = webhook AND NOT w.active;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION execlave_enable_webhook(uuid) IS 'Resume deliveries to a disabled endpoint (its waiting deliveries go out); false if already active';

CREATE FUNCTION execlave_delete_webhook(webhook uuid) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_webhook(webhook);
    DELETE FROM execlave.webhooks w WHERE w.id = webhook;
END
$$;
COMMENT ON FUNCTION execlave_delete_webhook(uuid) IS 'Delete an endpoint and its deliveries';

CREATE FUNCTION execlave_rotate_webhook_secret(webhook uuid, secret text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_secret text := coalesce(secret, execlave.new_webhook_secret());
BEGIN
    PERFORM execlave.check_webhook(webhook);
    UPDATE execlave.webhooks w SET secret = new_secret WHERE w.id = webhook;
    RETURN new_secret;
END
$$;
COMMENT ON FUNCTION execlave_rotate_webhook_secret(uuid, text) IS 'Replace an endpoint''s signing secret (generated when not given); returns it. Deliveries sent from now on use it';

CREATE FUNCTION execlave_test_webhook(webhook uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave_test_webhook(uuid) IS 'Queue a webhook.test event for this endpoint only; returns the event id';

CREATE FUNCTION execlave_redeliver(delivery bigint) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
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
COMMENT ON FUNCTION execlave_redeliver(bigint) IS 'Queue a delivery again (dead, retrying or succeeded) with a fresh attempt count; false if it is already pending or in flight';

