-------------------------------------------------------------------------------
-- Events: what execlave raises, for LISTEN/NOTIFY and the webhook outbox
-------------------------------------------------------------------------------
CREATE TABLE execlave.events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type  text        NOT NULL,
    agent_id    uuid,
    data        jsonb       NOT NULL,
    xact_id     xid8        NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT events_type_check CHECK (event_type IN
        ('policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold',
         'webhook.test')),
    CONSTRAINT events_data_check CHECK (pg_catalog.jsonb_typeof(data) = 'object')
);
CREATE INDEX events_created_idx ON execlave.events (created_at);
CREATE INDEX events_agent_idx ON execlave.events (agent_id, created_at);
COMMENT ON TABLE execlave.events IS 'Append-only log of events execlave raises, written in the transaction that caused them';
COMMENT ON COLUMN execlave.events.xact_id IS 'Transaction that wrote the event (lets a consumer tell commit order from id order)';
SELECT pg_catalog.pg_extension_config_dump('execlave.events', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.events_id_seq', '');

-- Who acts: the database role, or, in an HTTP API request, the API key
-- (execlave.api_actor, a superuser-only setting execlave_api.pre_request()
-- sets for the request).
CREATE FUNCTION execlave.actor() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_actor';
COMMENT ON FUNCTION execlave.actor() IS 'The acting role recorded in stamps and histories: api:<key name> in an HTTP API request, else current_user';

-- Refuse UPDATE and DELETE on append-only tables (TRUNCATE stays an owner's tool).
CREATE FUNCTION execlave.forbid_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- execlave_maintenance() purges past retention (a superuser-only setting, set for its transaction)
    IF TG_OP = 'DELETE' AND pg_catalog.current_setting('execlave.maintenance_in_progress', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table %.% is append-only', TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'Rows are kept as an audit record; old rows are removed by maintenance only.';
END
$$;
COMMENT ON FUNCTION execlave.forbid_change() IS 'Trigger: makes a table append-only';

CREATE TRIGGER agent_status_history_append_only
    BEFORE UPDATE OR DELETE ON execlave.agent_status_history
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();
CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON execlave.events
    FOR EACH ROW EXECUTE FUNCTION execlave.forbid_change();

-- The single emit function every event goes through.
CREATE FUNCTION execlave.emit_event(event_type text, agent_id uuid, data jsonb)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO execlave.events (event_type, agent_id, data)
    VALUES (event_type, agent_id, data)
    RETURNING id INTO new_id;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION execlave.emit_event(text, uuid, jsonb) IS 'Append one event to execlave.events in the current transaction; the one way events are raised';
REVOKE ALL ON FUNCTION execlave.emit_event(text, uuid, jsonb) FROM PUBLIC;

