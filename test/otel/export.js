// export.js: export GenAI spans to execlave's POST /v1/traces with the real
// OpenTelemetry JS SDK (sdk-trace-base spans, the OTLP/HTTP exporters for
// JSON and protobuf), as an instrumented agent would.
//
//   node test/otel/export.js '{"url": "http://127.0.0.1:PORT/v1/traces", "key": "ag_...",
//        "protocol": "json" | "proto", "gzip": false, "spans": [SPEC, ...], "times": 1, "batch": 512}'
//   SPEC: {"agent": "...", "operation": "chat", "model": "gpt-4o", "input": 10, "output": 5,
//          "tool": "shell" (an execute_tool child), "text": "prompt", "count": 1}
//
// The spans are made once and exported `times` times in batches of `batch`
// (the second time is an exporter's retry of the same spans).  Prints one JSON
// line per export: {"code": 0|1, "error": "...", "partial": {...} or null},
// then {"done": true, "spans": n, "ms": elapsed}.  The partialSuccess comes
// from the exporter's own parsing of the answer (it reports it to diag.warn).
'use strict';
const api = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter: JsonExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { OTLPTraceExporter: ProtoExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

const opts = JSON.parse(process.argv[2]);
let partial = null;
api.diag.setLogger({
    warn: (msg, ...args) => {
        if (String(msg).includes('Partial Success')) partial = JSON.parse(args[0]);
    },
    error: () => {}, info: () => {}, debug: () => {}, verbose: () => {},
}, api.DiagLogLevel.WARN);

const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.service || 'otel-test' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('execlave-otlp-test', '1.0.0');

for (const spec of opts.spans) {
    for (let i = 0; i < (spec.count || 1); i++) {
        const op = spec.operation || 'chat';
        const attrs = { 'gen_ai.operation.name': op, 'gen_ai.agent.id': spec.agent, 'gen_ai.provider.name': 'openai' };
        if (spec.model) attrs['gen_ai.request.model'] = spec.model;
        if (spec.input !== undefined) attrs['gen_ai.usage.input_tokens'] = spec.input;
        if (spec.output !== undefined) attrs['gen_ai.usage.output_tokens'] = spec.output;
        if (spec.text) attrs['gen_ai.input.messages'] = JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: spec.text }] }]);
        const parent = tracer.startSpan(`${op} ${spec.model || ''}`.trim(), { kind: api.SpanKind.CLIENT, attributes: attrs });
        if (spec.tool) {
            const ctx = api.trace.setSpan(api.context.active(), parent);
            const child = tracer.startSpan(`execute_tool ${spec.tool}`, {
                attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.agent.id': spec.agent, 'gen_ai.tool.name': spec.tool },
            }, ctx);
            child.end();
        }
        parent.end();
    }
}
const spans = memory.getFinishedSpans();
const Exporter = opts.protocol === 'proto' ? ProtoExporter : JsonExporter;
const exporter = new Exporter({
    url: opts.url,
    headers: { Authorization: `Bearer ${opts.key}` },
    compression: opts.gzip ? 'gzip' : 'none',
    timeoutMillis: 60000,
});

function exportBatch(batch) {
    return new Promise((resolve) => exporter.export(batch, (r) => resolve(r)));
}

(async () => {
    const size = opts.batch || 512;
    const t0 = process.hrtime.bigint();
    for (let t = 0; t < (opts.times || 1); t++) {
        for (let i = 0; i < spans.length; i += size) {
            partial = null;
            const r = await exportBatch(spans.slice(i, i + size));
            if (!opts.quiet) {
                console.log(JSON.stringify({ code: r.code, error: r.error ? String(r.error.message || r.error) : null, partial }));
            } else if (r.code !== 0) {
                console.log(JSON.stringify({ code: r.code, error: r.error ? String(r.error.message || r.error) : null }));
            }
        }
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({ done: true, spans: spans.length, ms }));
    await exporter.shutdown();
})();
