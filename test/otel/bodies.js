// bodies.js: write OTLP export bodies of GenAI spans made with the OpenTelemetry
// JS SDK (sdk-trace-base), serialized by the SDK's own OTLP serializers
// (otlp-transformer: JSON and protobuf), for test/bench/otlp.sh.
//
//   node test/otel/bodies.js DIR BATCHES SPANS_PER_BATCH AGENT
//
// Writes DIR/<i>.json and DIR/<i>.pb for i = 1..BATCHES, each a batch of
// distinct spans (fresh ids), the same spans in both encodings.
'use strict';
const fs = require('fs');
const path = require('path');
const api = require('@opentelemetry/api');
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { JsonTraceSerializer, ProtobufTraceSerializer } = require('@opentelemetry/otlp-transformer');

const [dir, batches, perBatch, agent] = [process.argv[2], +process.argv[3], +process.argv[4], process.argv[5]];
const memory = new InMemorySpanExporter();
const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': agent, 'deployment.environment.name': 'bench' }),
    spanProcessors: [new SimpleSpanProcessor(memory)],
});
const tracer = provider.getTracer('execlave-bench', '1.0.0');
fs.mkdirSync(dir, { recursive: true });
for (let b = 1; b <= batches; b++) {
    memory.reset();
    for (let i = 0; i < perBatch; i++) {
        const span = tracer.startSpan('chat gpt-4o', {
            kind: api.SpanKind.CLIENT,
            attributes: {
                'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'openai', 'gen_ai.agent.id': agent,
                'gen_ai.request.model': 'gpt-4o', 'gen_ai.response.model': 'gpt-4o-2024-08-06',
                'gen_ai.usage.input_tokens': 120, 'gen_ai.usage.output_tokens': 80,
                'gen_ai.request.temperature': 0.2,
                'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: `Question ${i}: summarize the quarterly report for the northern region in three bullet points.` }] }]),
                'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: `Answer ${i}: sales grew, costs fell, and the new product line shipped on time.` }] }]),
            },
        });
        span.end();
    }
    const spans = memory.getFinishedSpans();
    fs.writeFileSync(path.join(dir, `${b}.json`), Buffer.from(JsonTraceSerializer.serializeRequest(spans)));
    fs.writeFileSync(path.join(dir, `${b}.pb`), Buffer.from(ProtobufTraceSerializer.serializeRequest(spans)));
}
