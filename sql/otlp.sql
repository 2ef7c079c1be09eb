-- OpenTelemetry ingestion: the protobuf and OTLP/JSON decoders, the GenAI
-- mapping, idempotent storage, refusals, bad input, and model prices.
SET client_min_messages = warning;
-- the protobuf fixtures carry fixed times (2026-05-28): accept old traces
SET execlave.trace_retention_days = 0;
SELECT execlave_register_agent('otel-bot') IS NOT NULL AS registered;
SELECT execlave_register_agent('proto-bot') IS NOT NULL AS registered;

-- one start time for the session's spans (a retry sends the same times)
SELECT set_config('otlp_test.t0', ((extract(epoch FROM date_trunc('second', now())) * 1000000000)::bigint)::text, false) IS NOT NULL AS t0;
-- An OTLP/JSON request built around the current time: n chat spans of
-- agent (service.name), ids from seed, tokens only (no cost).
CREATE FUNCTION public.otlp_json(agent text, n integer, seed text, extra jsonb DEFAULT '[]') RETURNS jsonb
LANGUAGE sql AS $$
SELECT jsonb_build_object('resourceSpans', jsonb_build_array(jsonb_build_object(
  'resource', jsonb_build_object('attributes', jsonb_build_array(
      jsonb_build_object('key', 'service.name', 'value', jsonb_build_object('stringValue', agent)),
      jsonb_build_object('key', 'deployment.environment.name', 'value', jsonb_build_object('stringValue', 'prod')))),
  'scopeSpans', jsonb_build_array(jsonb_build_object('scope', '{"name": "test-instrumentation", "version": "1.0"}'::jsonb,
    'unknownField', 1,
    'spans', (SELECT jsonb_agg(jsonb_build_object(
        'traceId', md5(seed), 'spanId', lpad(to_hex(i), 16, '0'), 'name', 'chat gpt-4o-mini', 'kind', 3,
        'startTimeUnixNano', current_setting('otlp_test.t0'),
        'endTimeUnixNano', current_setting('otlp_test.t0')::bigint + 1250000000,
        'attributes', extra || jsonb_build_array(
            jsonb_build_object('key', 'gen_ai.operation.name', 'value', jsonb_build_object('stringValue', 'chat')),
            jsonb_build_object('key', 'gen_ai.request.model', 'value', jsonb_build_object('stringValue', 'gpt-4o-mini')),
            jsonb_build_object('key', 'gen_ai.response.model', 'value', jsonb_build_object('stringValue', 'gpt-4o-mini-2024-07-18')),
            jsonb_build_object('key', 'gen_ai.usage.prompt_tokens', 'value', jsonb_build_object('intValue', '10000')),
            jsonb_build_object('key', 'gen_ai.usage.completion_tokens', 'value', jsonb_build_object('intValue', 2000)),
            jsonb_build_object('key', 'gen_ai.conversation.id', 'value', jsonb_build_object('stringValue', 'conv-1')),
            jsonb_build_object('key', 'gen_ai.request.temperature', 'value', jsonb_build_object('doubleValue', 0.25)),
            jsonb_build_object('key', 'gen_ai.request.stop_sequences', 'value', '{"arrayValue": {"values": [{"stringValue": "END"}]}}'::jsonb)
        )))
      FROM generate_series(1, n) i))))))
$$;

-- the mapping, one span
SELECT jsonb_pretty(m - 'traces') AS counts, jsonb_pretty(m -> 'traces' -> 0) AS row
FROM (SELECT execlave.otlp_decode_json(otlp_json('otel-bot', 1, 'map') #- '{resourceSpans,0,scopeSpans,0,spans,0,startTimeUnixNano}'
      || '{}') AS m) x;
SELECT jsonb_pretty((execlave.otlp_decode_json(otlp_json('otel-bot', 1, 'map')) -> 'traces' -> 0)
    - 'started_at' - 'trace_id') AS mapped;

-- stored: traces with the mapped fields, the cost from the price table
SELECT execlave_ingest_otlp(otlp_json('otel-bot', 3, 'first')) AS answer;
SELECT agent_key, model, prompt_tokens, completion_tokens, total_tokens, cost_usd, status, span_type,
       environment, session_id, duration_ms, started_at = to_timestamp(current_setting('otlp_test.t0')::numeric / 1000000000) AS at_span_start,
       metadata -> 'attributes' AS attributes
FROM execlave.traces WHERE trace_id LIKE 'otel_' || md5('first') || '%' ORDER BY trace_id;
-- an exporter's retry: nothing stored twice
SELECT execlave_ingest_otlp(otlp_json('otel-bot', 3, 'first')) AS retry;
-- a batch with one new span and the same span twice
SELECT execlave_ingest_otlp(jsonb_set(otlp_json('otel-bot', 4, 'first'), '{resourceSpans,0,scopeSpans,0,spans,2}',
    otlp_json('otel-bot', 4, 'first') -> 'resourceSpans' -> 0 -> 'scopeSpans' -> 0 -> 'spans' -> 3)) AS partly_new;
SELECT count(*) AS stored FROM execlave.traces WHERE trace_id LIKE 'otel_' || md5('first') || '%';

-- protobuf: an error span with an execute_tool child (its tool joins the parent's tools)
SELECT execlave_ingest_otlp('\x0a880412850412cd020a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b72a0b6368617420636c61756465300339000032b491d4b318410094672b92d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744a330a1567656e5f61692e726573706f6e73652e6d6f64656c121a0a18636c617564652d736f6e6e65742d342d32303235303531344a200a1967656e5f61692e75736167652e696e7075745f746f6b656e73120318d00f4a210a1a67656e5f61692e75736167652e6f75747075745f746f6b656e73120318f4034a230a1467656e5f61692e70726f76696465722e6e616d65120b0a09616e7468726f7069634a170a0a6572726f722e7479706512090a0774696d656f75747a151211646561646c696e65206578636565646564180212b2010a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b8220800f067aa0ba902b72a12657865637574655f746f6f6c207368656c6c39e80332b491d4b31841d00732b491d4b3184a270a1567656e5f61692e6f7065726174696f6e2e6e616d65120e0a0c657865637574655f746f6f6c4a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744a1b0a1067656e5f61692e746f6f6c2e6e616d6512070a057368656c6c'::bytea) AS answer;
SELECT trace_id, agent_key, status, error_type, error_message, model, cost_usd, tools, parent_trace_id,
       span_type, duration_ms, started_at, metadata -> 'otel' ->> 'provider' AS provider
FROM execlave.traces WHERE agent_key = 'proto-bot' ORDER BY trace_id;
-- gzip (recognised by its magic bytes), the same spans: duplicates
SELECT execlave_ingest_otlp('\x1f8b08000000000002038590314bc34018866b53adbd4a5b0f8bb182461d0425b1d656e8e82444fc0de5cc7db487e95db85cb4ba0bae16572741d0d10afa27940efe08470717375313d40eea741fdcf33ddfcb8b4e53f824851f93a8b0f3be563beced5e5d3e752f72b9ed4d3c9e786dde64af93f72b59a74594e1b824a050d6ea8944e5eeecb9a76f25ce9babdd70b0e751b109bc4198253c904431c12d4eda80c7506ab06bcfa17c0c90f05516a3388b329e144a987b42d91b5f0209be27b80f565b50707109e9d15dd3179c8332ab66a55ca9956beb55db4033f152e0875a8b712f500d25f681fb58d3fb797b0195860811a821e44db397d0548c84690e180519250fe311ae5a5278ccb1a711022985b4d491073883d28ab521941d17f12405425dc6c1808e034081ea497c3bf2479f0f8bdfcd62e8801328082309d7f05be0baf5172daeb79f8e067bf9b77a7368e2a7e0df9a675121fe1fe091238d463fef7e00353d98cb0b020000'::bytea) AS gzipped;

-- spans that are no GenAI operation are skipped; the agent's spans are refused when it is paused
SELECT execlave_pause_agent('otel-bot', 'otlp test');
SELECT execlave_ingest_otlp(otlp_json('otel-bot', 2, 'paused') #- '{resourceSpans,0,scopeSpans,0,spans,1,attributes,0}') AS paused;
SELECT execlave_resume_agent('otel-bot');
-- unknown agents are refused, or registered when execlave.otlp_register_agents is on
SELECT execlave_ingest_otlp(otlp_json('new-bot', 1, 'unknown')) -> 'errors' AS unknown;
SET execlave.otlp_register_agents = on;
SELECT execlave_ingest_otlp(otlp_json('new-bot', 1, 'unknown')) ->> 'accepted' AS registered;
RESET execlave.otlp_register_agents;
SELECT count(*) FROM execlave.agents WHERE key = 'new-bot';
-- a span naming no agent: refused, unless execlave.otlp_default_agent names one
SELECT execlave_ingest_otlp(otlp_json('x', 1, 'noagent') #- '{resourceSpans,0,resource}') -> 'errors' AS no_agent;
SET execlave.otlp_default_agent = 'otel-bot';
SELECT execlave_ingest_otlp(otlp_json('x', 1, 'noagent') #- '{resourceSpans,0,resource}') ->> 'accepted' AS default_agent;
RESET execlave.otlp_default_agent;
-- gen_ai.agent.id wins over service.name
SELECT execlave_ingest_otlp(otlp_json('no-such-service', 1, 'agentid',
    '[{"key": "gen_ai.agent.id", "value": {"stringValue": "otel-bot"}}]')) ->> 'accepted' AS by_agent_id;

-- a block policy's span is refused (its violation recorded once), the others stored
SELECT execlave_register_agent('guarded-bot') IS NOT NULL AS registered;
SELECT execlave_create_policy('otlp-no-shell', 'tool_access', 'block', '{"deny": ["shell"]}', ARRAY['guarded-bot']) IS NOT NULL AS created;
SELECT execlave_ingest_otlp(jsonb_set(otlp_json('guarded-bot', 3, 'guarded'), '{resourceSpans,0,scopeSpans,0,spans,1,attributes}',
    '[{"key": "gen_ai.operation.name", "value": {"stringValue": "execute_tool"}},
      {"key": "gen_ai.tool.name", "value": {"stringValue": "shell"}}]')) - 'errors' AS blocked;
SELECT count(*) AS stored FROM execlave.traces WHERE agent_key = 'guarded-bot';
SELECT count(*) AS violations FROM execlave.violations v JOIN execlave.policies p ON p.id = v.policy_id
WHERE p.name = 'otlp-no-shell';

-- input and output: the current attributes, else the older indexed attributes, else the older events
SELECT t ->> 'input' AS input, t ->> 'output' AS output FROM jsonb_array_elements(execlave.otlp_decode_json(
  '{"resourceSpans": [{"scopeSpans": [{"spans": [
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b1", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}},
       {"key": "gen_ai.system_instructions", "value": {"arrayValue": {"values": [{"kvlistValue": {"values": [{"key": "type", "value": {"stringValue": "text"}}, {"key": "content", "value": {"stringValue": "be brief"}}]}}]}}},
       {"key": "gen_ai.input.messages", "value": {"stringValue": "[{\"role\": \"user\"}]"}},
       {"key": "gen_ai.output.messages", "value": {"stringValue": "answer"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b2", "startTimeUnixNano": 1780000000000000000,
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "text_completion"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}},
       {"key": "gen_ai.prompt.0.content", "value": {"stringValue": "first"}}, {"key": "gen_ai.prompt.1.content", "value": {"stringValue": "second"}},
       {"key": "gen_ai.completion.0.content", "value": {"stringValue": "done"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902b3", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}}],
     "events": [{"name": "gen_ai.user.message", "attributes": [{"key": "content", "value": {"stringValue": "hello"}}]},
                {"name": "gen_ai.choice", "attributes": [{"key": "message", "value": {"stringValue": "hi there"}}]}]}
  ]}]}]}') -> 'traces') t;

-- cache tokens are part of the input tokens, priced at their own rate, never twice
SELECT (t -> 'metadata' -> 'usage') AS usage, t ->> 'prompt_tokens' AS prompt_tokens,
       execlave.cost_from_tokens(t ->> 'model', now(), (t ->> 'prompt_tokens')::int, (t ->> 'completion_tokens')::int, t -> 'metadata') AS cost
FROM jsonb_array_elements(execlave.otlp_decode_json(otlp_json('otel-bot', 1, 'cache',
    '[{"key": "gen_ai.request.model", "value": {"stringValue": "claude-sonnet-4-20250514"}},
      {"key": "gen_ai.response.model", "value": {"stringValue": "claude-sonnet-4-20250514"}},
      {"key": "gen_ai.usage.cache_read.input_tokens", "value": {"intValue": 6000}},
      {"key": "gen_ai.usage.cache_creation_input_tokens", "value": {"intValue": 1000}}]')) -> 'traces') t;

-- Bad input: clean errors, nothing written
SELECT count(*) AS traces_before FROM execlave.traces \gset
SELECT expect_error($$SELECT execlave_ingest_otlp('\x0a8004'::bytea)$$) AS truncated;
SELECT expect_error($$SELECT execlave_ingest_otlp(substr('\x0a880412850412cd020a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b72a0b6368617420636c61756465300339000032b491d4b318410094672b92d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744a330a1567656e5f61692e726573706f6e73652e6d6f64656c121a0a18636c617564652d736f6e6e65742d342d32303235303531344a200a1967656e5f61692e75736167652e696e7075745f746f6b656e73120318d00f4a210a1a67656e5f61692e75736167652e6f75747075745f746f6b656e73120318f4034a230a1467656e5f61692e70726f76696465722e6e616d65120b0a09616e7468726f7069634a170a0a6572726f722e7479706512090a0774696d656f75747a151211646561646c696e65206578636565646564180212b2010a104bf92f3577b34da6a3ce929d0e0e4736120800f067aa0ba902b8220800f067aa0ba902b72a12657865637574655f746f6f6c207368656c6c39e80332b491d4b31841d00732b491d4b3184a270a1567656e5f61692e6f7065726174696f6e2e6e616d65120e0a0c657865637574655f746f6f6c4a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744a1b0a1067656e5f61692e746f6f6c2e6e616d6512070a057368656c6c'::bytea, 1, 100))$$) AS truncated_inside;
SELECT expect_error($$SELECT execlave_ingest_otlp('\x0a0412021005'::bytea)$$) AS wrong_wire_type;
SELECT expect_error($$SELECT execlave_ingest_otlp('\x0a8080808080200000'::bytea)$$) AS huge_length;
SELECT expect_error($$SELECT execlave_ingest_otlp('\x0abd0212ba0212b7020a104bf92f3577b34da6a3ce929d0e0e4736120800000000000000012a017839000032b491d4b31841e80332b491d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744ac2010a046465657012b9012ab6010ab3012ab0010aad012aaa010aa7012aa4010aa1012a9e010a9b012a98010a95012a92010a8f012a8c010a89012a86010a83012a80010a7e2a7c0a7a2a780a762a740a722a700a6e2a6c0a6a2a680a662a640a622a600a5e2a5c0a5a2a580a562a540a522a500a4e2a4c0a4a2a480a462a440a422a400a3e2a3c0a3a2a380a362a340a322a300a2e2a2c0a2a2a280a262a240a222a200a1e2a1c0a1a2a180a162a140a122a100a0e2a0c0a0a2a080a060a046c656166'::bytea)$$) AS deep_nesting;
SELECT expect_error($$SELECT execlave_ingest_otlp('\x0b00'::bytea)$$) AS group_wire_type;
SELECT expect_error($$SELECT execlave_ingest_otlp('\x1f8b0800'::bytea)$$) AS truncated_gzip;
SET execlave.otlp_max_body_size = '64kB';
SELECT expect_error($$SELECT execlave_ingest_otlp('\x1f8b0800000000000203edc13101000000c2a0f54f6d085fa000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000003e031cea38a700001000'::bytea)$$) AS gzip_bomb;
RESET execlave.otlp_max_body_size;
SELECT execlave_ingest_otlp('\x0a9a011297011294010a104bf92f3577b34da6a3ce929d0e0e4736120800000000000000092a017839000032b491d4b31841e80332b491d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f744a200a1567656e5f61692e696e7075742e6d6573736167657312070a05636166c328'::bytea) AS invalid_utf8;
SELECT execlave_ingest_otlp('\x0a6e126c126a0a084bf92f3577b34da61208000000000000000a2a017839000032b491d4b31841e80332b491d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f74'::bytea) AS short_trace_id;
SELECT execlave_ingest_otlp('\x0a76127412720a10000000000000000000000000000000001208000000000000000b2a017839000032b491d4b31841e80332b491d4b3184a1f0a1567656e5f61692e6f7065726174696f6e2e6e616d6512060a04636861744a1e0a0f67656e5f61692e6167656e742e6964120b0a0970726f746f2d626f74'::bytea) AS zero_trace_id;
SELECT execlave_ingest_otlp('\x'::bytea) AS empty_protobuf;
SELECT execlave_ingest_otlp('{}'::jsonb) AS empty_json;
SELECT expect_error($$SELECT execlave_ingest_otlp('[]'::jsonb)$$) AS json_array;
SELECT expect_error($$SELECT execlave_ingest_otlp('{"resourceSpans": {}}'::jsonb)$$) AS json_not_array;
SELECT expect_error($$SELECT execlave_ingest_otlp('{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}'::jsonb)$$) AS json_bad_time;
SELECT expect_error($$SELECT execlave_ingest_otlp('{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": "a", "value": {"intValue": "1e3"}}]}]}]}]}'::jsonb)$$) AS json_bad_int;
SELECT expect_error($$SELECT execlave_ingest_otlp(NULL::bytea)$$) AS null_body;
SELECT execlave_ingest_otlp('{"resourceSpans": [{"scopeSpans": [{"spans": [
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba902", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319x", "spanId": "00f067aa0ba90200", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba90201",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba90202", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "99999999999"}}]},
    {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "00f067aa0ba90203", "startTimeUnixNano": "1780000000000000000",
     "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}, {"key": "gen_ai.agent.name", "value": {"stringValue": "otel-bot"}}]}
  ]}]}]}'::jsonb) AS bad_spans;
SELECT count(*) - :traces_before AS written FROM execlave.traces;

-- Model prices: exact beats prefix, the longest prefix wins, the price valid at the trace's time
SELECT count(*) > 10 AS shipped, bool_and(note LIKE '%2025-06-01') AS dated FROM execlave.model_prices WHERE shipped;
SELECT execlave_set_model_price('acme-', 1, 2, prefix => true, valid_from => '2026-01-01');
SELECT execlave_set_model_price('acme-large', 10, 20, prefix => true, valid_from => '2026-01-01');
SELECT execlave_set_model_price('acme-large-v2', 100, 200, valid_from => '2026-01-01');
SELECT execlave_set_model_price('acme-', 3, 4, prefix => true, valid_from => '2026-06-01');
SELECT m, t, execlave.cost_from_tokens(m, t, 1000000, 1000000) AS cost
FROM (VALUES ('acme-small', '2026-03-01'::timestamptz), ('acme-small', '2026-07-01'), ('acme-large-v1', '2026-07-01'),
             ('acme-large-v2', '2026-07-01'), ('acme-small', '2025-12-01'), ('other', '2026-07-01')) v(m, t);
-- reasoning tokens (part of the output tokens) at their own price when given
SELECT execlave_set_model_price('acme-think', 1, 10, reasoning_per_mtok => 5);
SELECT execlave.cost_from_tokens('acme-think', now(), 0, 1000000, '{"usage": {"reasoning_tokens": 400000}}') AS reasoning_cost;
-- SQL traces too: tokens only get the cost; a given cost wins
SELECT execlave_submit_trace('otel-bot', '{"trace_id": "price-1", "model": "acme-large-v2", "prompt_tokens": 1000, "completion_tokens": 1000}');
SELECT execlave_submit_trace('otel-bot', '{"trace_id": "price-2", "model": "acme-large-v2", "prompt_tokens": 1000, "cost_usd": 0.5}');
SELECT execlave_submit_trace('otel-bot', '{"trace_id": "price-3", "model": "unpriced", "prompt_tokens": 1000}');
SELECT trace_id, cost_usd FROM execlave.traces WHERE trace_id LIKE 'price-%' ORDER BY 1;
-- bad prices
SELECT expect_error($$SELECT execlave_set_model_price('acme-x', -1, 1)$$);
SELECT expect_error($$SELECT execlave_set_model_price('acme-x', 'NaN', 1)$$);
SELECT expect_error($$SELECT execlave_set_model_price('', 1, 1)$$);
SELECT expect_error($$SELECT execlave_set_model_price(NULL, 1, 1)$$);
SELECT expect_error($$SELECT execlave_set_model_price('acme-x', 1, 1, valid_from => 'infinity')$$);
-- an update replaces the row and takes it out of the shipped set (so pg_dump keeps it)
SELECT execlave_set_model_price('gpt-4o', 2.5, 10, 1.25, prefix => true, valid_from => '2025-06-01');
SELECT shipped FROM execlave.model_prices WHERE model = 'gpt-4o' AND match = 'prefix';

-- roles: an app role ingests, a reader cannot, only admins set prices
SET ROLE execlave_reader;
SELECT expect_error($$SELECT execlave_ingest_otlp('{}'::jsonb)$$) AS reader_ingest;
RESET ROLE;
SET ROLE execlave_app;
SELECT execlave_ingest_otlp(otlp_json('otel-bot', 1, 'app-role')) ->> 'accepted' AS app_ingest;
SELECT expect_error($$SELECT execlave_set_model_price('x', 1, 1)$$) AS app_price;
RESET ROLE;
DROP FUNCTION public.otlp_json(text, integer, text, jsonb);
