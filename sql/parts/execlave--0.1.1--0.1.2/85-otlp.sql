
-------------------------------------------------------------------------------
-- OpenTelemetry ingestion (OTLP/HTTP traces) and model prices
-------------------------------------------------------------------------------
-- A GenAI span exported over OTLP becomes a row of execlave.traces, so the
-- kill switch, the policies, budgets and events apply unchanged (README:
-- "OpenTelemetry ingestion").  The C decoders (src/otlp.c) return the
-- mapping as jsonb; execlave.otlp_store() inserts its rows.  The trace id of
-- a span is otel_<trace id>_<span id>: a retried export finds its spans
-- stored and stores (and counts) nothing twice.

-- Model prices, in US dollars per million tokens.  A trace with token counts
-- but no cost gets its cost from the price valid at its started_at (trigger
-- traces_cost, which runs before traces_ingest: BEFORE triggers fire in name order).
CREATE TABLE execlave.model_prices (
    model                   text        NOT NULL COLLATE "C",
    match                   text        NOT NULL DEFAULT 'exact',
    valid_from              timestamptz NOT NULL,
    input_per_mtok          numeric     NOT NULL,
    output_per_mtok         numeric     NOT NULL,
    cache_read_per_mtok     numeric,
    cache_creation_per_mtok numeric,
    reasoning_per_mtok      numeric,
    shipped                 boolean     NOT NULL DEFAULT false,
    note                    text,
    updated_at              timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT model_prices_pkey PRIMARY KEY (model, match, valid_from),
    CONSTRAINT model_prices_model_check CHECK (octet_length(model) BETWEEN 1 AND 200),
    CONSTRAINT model_prices_match_check CHECK (match IN ('exact', 'prefix')),
    CONSTRAINT model_prices_valid_from_check CHECK (pg_catalog.isfinite(valid_from)),
    CONSTRAINT model_prices_prices_check CHECK (
        input_per_mtok >= 0 AND input_per_mtok < 1000000 AND output_per_mtok >= 0 AND output_per_mtok < 1000000
        AND coalesce(cache_read_per_mtok, 0) >= 0 AND coalesce(cache_read_per_mtok, 0) < 1000000
        AND coalesce(cache_creation_per_mtok, 0) >= 0 AND coalesce(cache_creation_per_mtok, 0) < 1000000
        AND coalesce(reasoning_per_mtok, 0) >= 0 AND coalesce(reasoning_per_mtok, 0) < 1000000)
);
COMMENT ON TABLE execlave.model_prices IS 'Model prices in USD per million tokens, by model (exact name or prefix) and valid_from; the cost of a trace that has tokens but no cost. shipped rows come with execlave (README: Model prices)';
COMMENT ON COLUMN execlave.model_prices.match IS 'exact: the model name; prefix: every model whose name starts with it (the longest prefix wins; an exact price beats every prefix)';
COMMENT ON COLUMN execlave.model_prices.cache_read_per_mtok IS 'Price of cache-read input tokens (part of the input tokens); NULL: the input price';
COMMENT ON COLUMN execlave.model_prices.cache_creation_per_mtok IS 'Price of cache-creation input tokens (part of the input tokens); NULL: the input price';
COMMENT ON COLUMN execlave.model_prices.reasoning_per_mtok IS 'Price of reasoning tokens (part of the output tokens); NULL: the output price';
COMMENT ON COLUMN execlave.model_prices.shipped IS 'A row of the price set execlave ships (not dumped: the extension script makes it); execlave_set_model_price clears it';
-- what DBAs add or change is dumped; the shipped set comes with CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('execlave.model_prices', 'WHERE NOT shipped');

-- The shipped set: public list prices (USD per million tokens, standard
-- tier) as published by the providers on 2025-06-01; valid_from is that date.
INSERT INTO execlave.model_prices (model, match, valid_from, input_per_mtok, output_per_mtok,
    cache_read_per_mtok, cache_creation_per_mtok, reasoning_per_mtok, shipped, note) VALUES
    ('gpt-4o',            'prefix', '2025-06-01', 2.50,  10.00, 1.25,  NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('gpt-4o-mini',       'prefix', '2025-06-01', 0.15,  0.60,  0.075, NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('gpt-4.1',           'prefix', '2025-06-01', 2.00,  8.00,  0.50,  NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('gpt-4.1-mini',      'prefix', '2025-06-01', 0.40,  1.60,  0.10,  NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('gpt-4.1-nano',      'prefix', '2025-06-01', 0.10,  0.40,  0.025, NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('o3',                'prefix', '2025-06-01', 2.00,  8.00,  0.50,  NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('o4-mini',           'prefix', '2025-06-01', 1.10,  4.40,  0.275, NULL,  NULL, true, 'OpenAI list price, 2025-06-01'),
    ('claude-opus-4',     'prefix', '2025-06-01', 15.00, 75.00, 1.50,  18.75, NULL, true, 'Anthropic list price, 2025-06-01'),
    ('claude-sonnet-4',   'prefix', '2025-06-01', 3.00,  15.00, 0.30,  3.75,  NULL, true, 'Anthropic list price, 2025-06-01'),
    ('claude-3-7-sonnet', 'prefix', '2025-06-01', 3.00,  15.00, 0.30,  3.75,  NULL, true, 'Anthropic list price, 2025-06-01'),
    ('claude-3-5-haiku',  'prefix', '2025-06-01', 0.80,  4.00,  0.08,  1.00,  NULL, true, 'Anthropic list price, 2025-06-01'),
    ('gemini-2.5-pro',    'prefix', '2025-06-01', 1.25,  10.00, 0.31,  NULL,  NULL, true, 'Google list price (prompts up to 200k tokens), 2025-06-01'),
    ('gemini-2.5-flash',  'prefix', '2025-06-01', 0.30,  2.50,  0.075, NULL,  NULL, true, 'Google list price, 2025-06-01'),
    ('gemini-2.0-flash',  'prefix', '2025-06-01', 0.10,  0.40,  0.025, NULL,  NULL, true, 'Google list price, 2025-06-01'),
    ('text-embedding-3-small', 'exact', '2025-06-01', 0.02, 0, NULL, NULL, NULL, true, 'OpenAI list price, 2025-06-01'),
    ('text-embedding-3-large', 'exact', '2025-06-01', 0.13, 0, NULL, NULL, NULL, true, 'OpenAI list price, 2025-06-01');

-- The cost of tokens of a model at a time, NULL when no price applies.
-- input includes the cache tokens (usage.cache_read_tokens,
-- usage.cache_creation_tokens of metadata), output the reasoning tokens
-- (usage.reasoning_tokens): each token is priced once.
CREATE FUNCTION execlave.cost_from_tokens(model text, at timestamptz, input integer, output integer,
                                          metadata jsonb DEFAULT '{}')
RETURNS numeric
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    p execlave.model_prices;
    u jsonb := CASE WHEN jsonb_typeof(metadata -> 'usage') = 'object' THEN metadata -> 'usage' ELSE '{}' END;
    i numeric := greatest(coalesce(input, 0), 0);
    o numeric := greatest(coalesce(output, 0), 0);
    cr numeric;
    cc numeric;
    rt numeric;
BEGIN
    IF model IS NULL OR at IS NULL OR (input IS NULL AND output IS NULL) THEN
        RETURN NULL;
    END IF;
    SELECT * INTO p FROM execlave.model_prices x
    WHERE x.valid_from <= at
      AND (x.model = cost_from_tokens.model
           OR (x.match = 'prefix' AND starts_with(cost_from_tokens.model, x.model)))
    ORDER BY (x.match = 'exact' AND x.model = cost_from_tokens.model) DESC, octet_length(x.model) DESC, x.valid_from DESC
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    cr := least(CASE WHEN jsonb_typeof(u -> 'cache_read_tokens') = 'number' THEN greatest((u ->> 'cache_read_tokens')::numeric, 0) ELSE 0 END, i);
    cc := least(CASE WHEN jsonb_typeof(u -> 'cache_creation_tokens') = 'number' THEN greatest((u ->> 'cache_creation_tokens')::numeric, 0) ELSE 0 END, i - cr);
    rt := least(CASE WHEN jsonb_typeof(u -> 'reasoning_tokens') = 'number' THEN greatest((u ->> 'reasoning_tokens')::numeric, 0) ELSE 0 END, o);
    RETURN round(((i - cr - cc) * p.input_per_mtok + cr * coalesce(p.cache_read_per_mtok, p.input_per_mtok)
                  + cc * coalesce(p.cache_creation_per_mtok, p.input_per_mtok)
                  + (o - rt) * p.output_per_mtok + rt * coalesce(p.reasoning_per_mtok, p.output_per_mtok)) / 1000000, 9);
END
$$;
COMMENT ON FUNCTION execlave.cost_from_tokens(text, timestamptz, integer, integer, jsonb) IS 'The cost in USD of input and output tokens of a model at a time from execlave.model_prices (cache and reasoning tokens from metadata.usage priced at their own rates), NULL when no price applies';
REVOKE ALL ON FUNCTION execlave.cost_from_tokens(text, timestamptz, integer, integer, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.cost_from_tokens(text, timestamptz, integer, integer, jsonb)
    TO execlave_app, execlave_admin, execlave_reader;

-- Trigger: a trace with a model and tokens but no cost gets the computed cost.
CREATE FUNCTION execlave.traces_price() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    NEW.cost_usd := execlave.cost_from_tokens(NEW.model, NEW.started_at, NEW.prompt_tokens,
                                              NEW.completion_tokens, NEW.metadata);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.traces_price() IS 'Trigger: the cost of a trace that has a model and tokens but no cost, from execlave.model_prices (a given cost always wins)';
REVOKE ALL ON FUNCTION execlave.traces_price() FROM PUBLIC;
-- only rows that need it call the function (the WHEN clause costs next to nothing)
CREATE TRIGGER traces_cost
    BEFORE INSERT ON execlave.traces
    FOR EACH ROW
    WHEN (NEW.cost_usd IS NULL AND NEW.model IS NOT NULL
          AND (NEW.prompt_tokens IS NOT NULL OR NEW.completion_tokens IS NOT NULL))
    EXECUTE FUNCTION execlave.traces_price();

-- Set (insert or replace) a model's price from a time on.
CREATE FUNCTION execlave_set_model_price(model text, input_per_mtok numeric, output_per_mtok numeric,
    cache_read_per_mtok numeric DEFAULT NULL, cache_creation_per_mtok numeric DEFAULT NULL,
    reasoning_per_mtok numeric DEFAULT NULL, valid_from timestamptz DEFAULT NULL, prefix boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    m text := CASE WHEN prefix THEN 'prefix' ELSE 'exact' END;
    vf timestamptz := coalesce(valid_from, now());
BEGIN
    PERFORM execlave.check_not_null(model, 'model');
    PERFORM execlave.check_not_null(input_per_mtok, 'input_per_mtok');
    PERFORM execlave.check_not_null(output_per_mtok, 'output_per_mtok');
    PERFORM execlave.check_not_null(prefix, 'prefix');
    IF model = '' OR octet_length(model) > 200 THEN
        RAISE EXCEPTION 'a model name must have 1 to 200 bytes' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT isfinite(vf) THEN
        RAISE EXCEPTION 'valid_from must be a finite time' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM unnest(ARRAY[input_per_mtok, output_per_mtok, cache_read_per_mtok,
                                          cache_creation_per_mtok, reasoning_per_mtok]) x
               WHERE x IS NOT NULL AND (x < 0 OR x >= 1000000 OR x = 'NaN'::numeric)) THEN
        RAISE EXCEPTION 'a price must be at least 0 and below 1000000 USD per million tokens'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO execlave.model_prices AS p (model, match, valid_from, input_per_mtok, output_per_mtok,
        cache_read_per_mtok, cache_creation_per_mtok, reasoning_per_mtok, shipped, updated_at)
    VALUES (model, m, vf, input_per_mtok, output_per_mtok, cache_read_per_mtok,
            cache_creation_per_mtok, reasoning_per_mtok, false, now())
    ON CONFLICT ON CONSTRAINT model_prices_pkey DO UPDATE
    SET input_per_mtok = EXCLUDED.input_per_mtok, output_per_mtok = EXCLUDED.output_per_mtok,
        cache_read_per_mtok = EXCLUDED.cache_read_per_mtok,
        cache_creation_per_mtok = EXCLUDED.cache_creation_per_mtok,
        reasoning_per_mtok = EXCLUDED.reasoning_per_mtok, shipped = false, updated_at = now();
END
$$;
COMMENT ON FUNCTION execlave_set_model_price(text, numeric, numeric, numeric, numeric, numeric, timestamptz, boolean) IS 'Set a model''s prices (USD per million tokens: input, output, cache read, cache creation, reasoning) from valid_from (default now) on; prefix: for every model whose name starts with it. Replaces the row of the same model, match and valid_from';
REVOKE ALL ON FUNCTION execlave_set_model_price(text, numeric, numeric, numeric, numeric, numeric, timestamptz, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_set_model_price(text, numeric, numeric, numeric, numeric, numeric, timestamptz, boolean) TO execlave_admin;
GRANT SELECT ON execlave.model_prices TO execlave_reader, execlave_app, execlave_admin;
GRANT INSERT, UPDATE, DELETE ON execlave.model_prices TO execlave_admin;

-- The decoders (src/otlp.c): the mapping as jsonb
--   {spans, skipped, invalid, reasons: [{span, message}], traces: [{columns of execlave.traces}]}
CREATE FUNCTION execlave.otlp_decode(body bytea) RETURNS jsonb
LANGUAGE C STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_otlp_decode';
COMMENT ON FUNCTION execlave.otlp_decode(bytea) IS 'Internal: a protobuf ExportTraceServiceRequest mapped to trace rows (22P03 when undecodable, 54000 over execlave.otlp_max_body_size)';
CREATE FUNCTION execlave.otlp_decode_json(body jsonb) RETURNS jsonb
LANGUAGE C STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_otlp_decode_json';
COMMENT ON FUNCTION execlave.otlp_decode_json(jsonb) IS 'Internal: an OTLP/JSON ExportTraceServiceRequest mapped to trace rows (22P02 when it is not one)';
CREATE FUNCTION execlave.otlp_inflate(body bytea) RETURNS bytea
LANGUAGE C STABLE STRICT PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_otlp_inflate';
COMMENT ON FUNCTION execlave.otlp_inflate(bytea) IS 'Internal: gzip-inflate a body, stopping past execlave.otlp_max_body_size (54000); 22P03 when it is not gzip';
CREATE FUNCTION execlave.otlp_response(rejected bigint, message text) RETURNS bytea
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_otlp_response';
COMMENT ON FUNCTION execlave.otlp_response(bigint, text) IS 'Internal: a protobuf ExportTraceServiceResponse (partial_success when spans were rejected)';
CREATE FUNCTION execlave.otlp_rpc_status(code integer, message text) RETURNS bytea
LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_otlp_rpc_status';
COMMENT ON FUNCTION execlave.otlp_rpc_status(integer, text) IS 'Internal: a protobuf google.rpc.Status (the body of a refused protobuf export)';
REVOKE ALL ON FUNCTION execlave.otlp_decode(bytea), execlave.otlp_decode_json(jsonb), execlave.otlp_inflate(bytea),
    execlave.otlp_response(bigint, text), execlave.otlp_rpc_status(integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.otlp_decode(bytea), execlave.otlp_decode_json(jsonb), execlave.otlp_inflate(bytea)
    TO execlave_app, execlave_admin;

-- Insert mapped trace rows (a JSON array of objects with the columns below);
-- a row whose trace already exists is left out (a retried export).  Returns
-- how many were inserted.
CREATE FUNCTION execlave.otlp_insert(rows jsonb) RETURNS bigint
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ok bigint;
BEGIN
    INSERT INTO execlave.traces (trace_id, agent_key, session_id, user_id, started_at, duration_ms, status,
        input, output, error_message, error_type, model, prompt_tokens, completion_tokens, total_tokens,
        environment, tags, tools, metadata, parent_trace_id, span_type, ingested_at)
    SELECT x.trace_id, x.agent_key, x.session_id, x.user_id, x.started_at, x.duration_ms, x.status,
        x.input, x.output, x.error_message, x.error_type, x.model, x.prompt_tokens, x.completion_tokens,
        x.total_tokens, x.environment, '{}', coalesce(x.tools, '{}'), coalesce(x.metadata, '{}'),
        x.parent_trace_id, x.span_type, now()
    FROM jsonb_to_recordset(rows) AS x(trace_id text, agent_key text, session_id text, user_id text,
        started_at timestamptz, duration_ms double precision, status text, input text, output text,
        error_message text, error_type text, model text, prompt_tokens integer, completion_tokens integer,
        total_tokens integer, environment text, tools text[], metadata jsonb, parent_trace_id text,
        span_type text)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS ok = ROW_COUNT;
    RETURN ok;
END
$$;
COMMENT ON FUNCTION execlave.otlp_insert(jsonb) IS 'Internal: insert mapped OTLP trace rows, leaving out traces that exist already; the number inserted';
REVOKE ALL ON FUNCTION execlave.otlp_insert(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.otlp_insert(jsonb) TO execlave_app, execlave_admin;

-- Insert the rows of a mapping.  Rows already stored (the same trace id and
-- time: an exporter's retry) are left alone and counted as duplicates; the
-- others go in by one statement, and if it is refused, row by row, each
-- refused row alone (a row the statement found blocked keeps the one
-- violation recorded for it).  An agent-scoped API key stores only its own
-- agent's spans.  With execlave.otlp_register_agents, unknown agents are
-- registered first.  Answers {spans, accepted, duplicates, skipped, rejected,
-- errors: [{span, message}]} (at most 20 errors; rejected counts them all).
CREATE FUNCTION execlave.otlp_store(mapped jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    own uuid := execlave.api_caller_agent();
    own_key text;
    rows jsonb;
    n integer;
    dup integer;
    rejected integer := coalesce((mapped ->> 'invalid')::integer, 0);
    errors jsonb := coalesce(mapped -> 'reasons', '[]');
    ok integer := 0;
    blocked jsonb := '{}';
    r jsonb;
    a text;
    st text; msg text; det text;
BEGIN
    IF mapped IS NULL OR jsonb_typeof(mapped -> 'traces') <> 'array' THEN
        RAISE EXCEPTION 'not an OTLP mapping' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the rows: the first of each trace id, not stored yet
    SELECT coalesce(jsonb_agg(d.e ORDER BY d.o), '[]') INTO rows
    FROM (SELECT DISTINCT ON (x.e ->> 'trace_id') x.e, x.o
          FROM jsonb_array_elements(mapped -> 'traces') WITH ORDINALITY AS x(e, o)
          ORDER BY x.e ->> 'trace_id', x.o) d
    WHERE NOT EXISTS (SELECT 1 FROM execlave.traces t
                      WHERE t.trace_id = d.e ->> 'trace_id' AND t.started_at = (d.e ->> 'started_at')::timestamptz);
    dup := (SELECT count(*) FROM jsonb_array_elements(mapped -> 'traces')) - jsonb_array_length(rows);
    -- an agent key: only its own agent's spans
    IF own IS NOT NULL THEN
        SELECT ag.key INTO own_key FROM execlave.agents ag WHERE ag.id = own;
        FOR r IN SELECT e FROM jsonb_array_elements(rows) e
                 WHERE e ->> 'agent_key' <> own_key AND e ->> 'agent_key' <> own::text LOOP
            rejected := rejected + 1;
            IF jsonb_array_length(errors) < 20 THEN
                errors := errors || jsonb_build_object('span', r -> 'metadata' -> 'otel' ->> 'trace_id' || '/' ||
                    (r -> 'metadata' -> 'otel' ->> 'span_id'), 'message',
                    format('this API key may only export the spans of agent "%s"', own_key));
            END IF;
        END LOOP;
        SELECT coalesce(jsonb_agg(e), '[]') INTO rows FROM jsonb_array_elements(rows) e
        WHERE e ->> 'agent_key' = own_key OR e ->> 'agent_key' = own::text;
    END IF;
    -- unknown agents registered when the setting says so
    IF current_setting('execlave.otlp_register_agents') = 'on' THEN
        FOR a IN SELECT DISTINCT e ->> 'agent_key' FROM jsonb_array_elements(rows) e
                 WHERE NOT EXISTS (SELECT 1 FROM execlave.agents ag WHERE ag.key = e ->> 'agent_key') LOOP
            BEGIN
                PERFORM execlave.register_agent(a, NULL, 'registered by OTLP ingestion');
            EXCEPTION WHEN OTHERS THEN
                NULL;           -- its spans are refused below with the reason
            END;
        END LOOP;
    END IF;
    n := jsonb_array_length(rows);
    IF n = 0 THEN
        RETURN jsonb_build_object('spans', coalesce((mapped ->> 'spans')::integer, 0), 'accepted', 0,
            'duplicates', dup, 'skipped', coalesce((mapped ->> 'skipped')::integer, 0),
            'rejected', rejected, 'errors', errors);
    END IF;
    -- one statement for the batch
    BEGIN
        ok := execlave.otlp_insert(rows);
        RETURN jsonb_build_object('spans', coalesce((mapped ->> 'spans')::integer, 0), 'accepted', ok,
            'duplicates', dup + n - ok, 'skipped', coalesce((mapped ->> 'skipped')::integer, 0),
            'rejected', rejected, 'errors', errors);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    END;
    IF st = 'EX003' THEN
        -- the detail lists the recorded violations with their trace ids
        SELECT coalesce(jsonb_object_agg(v ->> 'trace_id', msg), '{}') INTO blocked
        FROM jsonb_array_elements(CASE WHEN det ~ '^\s*\[' THEN det::jsonb ELSE '[]' END) v
        WHERE v ->> 'trace_id' IS NOT NULL;
    END IF;
    ok := 0;
    FOR r IN SELECT e FROM jsonb_array_elements(rows) e LOOP
        BEGIN
            IF blocked ? (r ->> 'trace_id') THEN
                RAISE EXCEPTION '%', blocked ->> (r ->> 'trace_id') USING ERRCODE = 'EX003';
            END IF;
            IF execlave.otlp_insert(jsonb_build_array(r)) = 1 THEN
                ok := ok + 1;
            ELSE
                dup := dup + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            rejected := rejected + 1;
            IF jsonb_array_length(errors) < 20 THEN
                errors := errors || jsonb_build_object('span', (r -> 'metadata' -> 'otel' ->> 'trace_id') || '/' ||
                    (r -> 'metadata' -> 'otel' ->> 'span_id'), 'sqlstate', st, 'message', msg);
            END IF;
        END;
    END LOOP;
    RETURN jsonb_build_object('spans', coalesce((mapped ->> 'spans')::integer, 0), 'accepted', ok,
        'duplicates', dup, 'skipped', coalesce((mapped ->> 'skipped')::integer, 0),
        'rejected', rejected, 'errors', errors);
END
$$;
COMMENT ON FUNCTION execlave.otlp_store(jsonb) IS 'Internal: insert the trace rows of an OTLP mapping (once per trace id: a retry stores nothing twice); answers {spans, accepted, duplicates, skipped, rejected, errors}';
REVOKE ALL ON FUNCTION execlave.otlp_store(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.otlp_store(jsonb) TO execlave_app, execlave_admin;

-- The SQL entry points: the same decoding, mapping and insertion as POST /v1/traces.
CREATE FUNCTION execlave_ingest_otlp(body bytea) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(body, 'body');
    -- gzip (magic 1f 8b) is inflated first, within execlave.otlp_max_body_size
    IF substr(body, 1, 2) = '\x1f8b'::bytea THEN
        body := execlave.otlp_inflate(body);
    END IF;
    RETURN execlave.otlp_store(execlave.otlp_decode(body));
END
$$;
COMMENT ON FUNCTION execlave_ingest_otlp(bytea) IS 'Ingest an OTLP protobuf ExportTraceServiceRequest (gzip or not): its GenAI spans become traces; answers {spans, accepted, duplicates, skipped, rejected, errors}';
CREATE FUNCTION execlave_ingest_otlp(body jsonb) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM execlave.check_not_null(body, 'body');
    RETURN execlave.otlp_store(execlave.otlp_decode_json(body));
END
$$;
COMMENT ON FUNCTION execlave_ingest_otlp(jsonb) IS 'Ingest an OTLP/JSON ExportTraceServiceRequest: its GenAI spans become traces; answers {spans, accepted, duplicates, skipped, rejected, errors}';
REVOKE ALL ON FUNCTION execlave_ingest_otlp(bytea), execlave_ingest_otlp(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_ingest_otlp(bytea), execlave_ingest_otlp(jsonb) TO execlave_app, execlave_admin;

-- POST /v1/traces (nginx sends the raw body as application/octet-stream, the
-- client's Content-Type and Content-Encoding in X-Execlave-Content-Type and
-- X-Execlave-Content-Encoding; PostgREST's pre_request has checked the key).
-- Answers in the request's content type: 200 ExportTraceServiceResponse
-- (partialSuccess when spans were refused), 400 undecodable, 413 too large
-- (inflated), 415 another type, 503 with Retry-After when the database
-- cannot take it now; errors of a protobuf request as google.rpc.Status.
-- PostgREST 12 answers a function returning the domain "*/*" with its bytes
-- as they are, whatever the Accept header, in the Content-Type response.headers set
CREATE DOMAIN execlave_api."*/*" AS bytea;
COMMENT ON DOMAIN execlave_api."*/*" IS 'PostgREST media type handler: raw bytes in any content type (the answer of POST /v1/traces)';
CREATE FUNCTION execlave_api.otlp_traces(bytea) RETURNS execlave_api."*/*"
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    body bytea := coalesce($1, '\x'::bytea);
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    ctype text := lower(btrim(split_part(coalesce(headers ->> 'x-execlave-content-type', ''), ';', 1)));
    enc text := lower(btrim(coalesce(headers ->> 'x-execlave-content-encoding', '')));
    proto boolean := ctype = 'application/x-protobuf';
    res jsonb;
    status integer;
    code integer;
    msg text;
    st text;
    answer text;
BEGIN
    PERFORM set_config('response.headers', jsonb_build_array(jsonb_build_object('Content-Type',
        CASE WHEN proto THEN 'application/x-protobuf' ELSE 'application/json' END))::text, true);
    IF execlave_api.caller_scope() NOT IN ('admin', 'agent') THEN
        status := 401; code := 16; msg := 'no API key authenticated this request';
    ELSIF ctype NOT IN ('application/json', 'application/x-protobuf') THEN
        status := 415; code := 3;
        msg := format('the body must be Content-Type application/x-protobuf or application/json (got "%s")', left(ctype, 100));
    ELSIF enc NOT IN ('', 'identity', 'gzip') THEN
        status := 415; code := 3; msg := format('unsupported Content-Encoding "%s" (gzip or none)', left(enc, 100));
    ELSE
        BEGIN
            IF enc = 'gzip' THEN
                body := execlave.otlp_inflate(body);
            END IF;
            IF proto THEN
                res := execlave.otlp_store(execlave.otlp_decode(body));
            ELSE
                IF octet_length(body) = 0 THEN
                    RAISE EXCEPTION 'the body is empty' USING ERRCODE = 'invalid_text_representation';
                END IF;
                res := execlave.otlp_store(execlave.otlp_decode_json(convert_from(body, 'UTF8')::jsonb));
            END IF;
            status := 200;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            status := CASE WHEN st = '54000' THEN 413
                           WHEN st LIKE '22%' THEN 400
                           WHEN st IN ('53400', '53300', '53200', '40001', '40P01', '57014', '55P03', '57P01') THEN 503
                           ELSE 500 END;
            code := CASE status WHEN 400 THEN 3 WHEN 413 THEN 8 WHEN 503 THEN 14 ELSE 13 END;
            IF status = 500 THEN
                msg := 'internal error (' || st || '): ' || msg;
            END IF;
        END;
    END IF;
    PERFORM set_config('response.status', status::text, true);
    IF status = 503 THEN
        PERFORM set_config('response.headers', jsonb_build_array(jsonb_build_object('Content-Type',
            CASE WHEN proto THEN 'application/x-protobuf' ELSE 'application/json' END), jsonb_build_object('Retry-After', '1'))::text, true);
    END IF;
    IF status <> 200 THEN
        IF proto THEN
            RETURN execlave.otlp_rpc_status(code, msg);
        END IF;
        RETURN convert_to(jsonb_build_object('code', code, 'message', msg)::text, 'UTF8');
    END IF;
    IF (res ->> 'rejected')::integer > 0 THEN
        answer := format('%s of %s spans rejected: %s', res ->> 'rejected', res ->> 'spans',
            (SELECT string_agg((e ->> 'span') || ': ' || (e ->> 'message'), '; ')
             FROM (SELECT e FROM jsonb_array_elements(res -> 'errors') e LIMIT 5) x));
    END IF;
    IF proto THEN
        RETURN execlave.otlp_response((res ->> 'rejected')::bigint, answer);
    END IF;
    RETURN convert_to(CASE WHEN answer IS NULL THEN '{}'
        ELSE jsonb_build_object('partialSuccess', jsonb_build_object('rejectedSpans', (res ->> 'rejected')::bigint,
                                                                      'errorMessage', answer))::text END, 'UTF8');
END
$$;
COMMENT ON FUNCTION execlave_api.otlp_traces(bytea) IS 'HTTP POST /v1/traces: OTLP/HTTP trace export (protobuf or JSON, gzip or not); 200 with partialSuccess {rejectedSpans, errorMessage} when spans were refused, 400, 401, 413, 415, 503 (Retry-After); the answer in the request''s content type';
REVOKE ALL ON FUNCTION execlave_api.otlp_traces(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave_api.otlp_traces(bytea) TO execlave_api_anon;
