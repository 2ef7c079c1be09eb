/*
 * otlp_map.h
 *		OTLP trace export: the protobuf wire check and the GenAI mapping
 *		(src/standalone/otlp_map.c).
 *
 * Nothing here depends on PostgreSQL.  otlp_check_wire() walks a serialized
 * ExportTraceServiceRequest against the schema of src/proto/otlp_trace.proto
 * before protobuf-c unpacks it: every tag, wire type and length is checked
 * and the nesting of AnyValue is bounded, so the unpacker (which recurses)
 * only ever sees a well-formed message of bounded depth.
 * otlp_map_request() turns a decoded request (from protobuf, or built from
 * OTLP/JSON by src/otlp.c) into JSON text: the trace rows for the GenAI spans
 * and the counts and reasons of the others.  Both are linked into the
 * libFuzzer harness test/fuzz/fuzz_otlp.c.
 */
#ifndef EXECLAVE_OTLP_MAP_H
#define EXECLAVE_OTLP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp_trace.pb-c.h"

/* Nesting depth of messages the wire check accepts (request = 1, a span's attribute value = 6) */
#define OTLP_MAX_DEPTH 32

/* Reasons listed in the answer (the count covers every refused span) */
#define OTLP_MAX_REASONS 20

typedef Execlave__Otlp__ExportTraceServiceRequest OtlpRequest;

typedef struct OtlpMapOptions
{
	const char *default_agent;	/* agent of spans that name none, or NULL */
} OtlpMapOptions;

/*
 * Check that buf[0..len) is a well-formed ExportTraceServiceRequest.
 * Returns true, or false with a message in err.
 */
extern bool otlp_check_wire(const uint8_t *buf, size_t len, char *err, size_t errlen);

/*
 * Map the request to JSON text (malloc'd, NUL-terminated, *len bytes):
 *	{"spans": n, "skipped": n, "invalid": n, "reasons": [{"span": "...", "message": "..."}],
 *	 "traces": [{trace_id, agent_key, started_at, ... (columns of execlave.traces)}]}
 * Returns NULL, with a message in err, only when memory runs out.
 */
extern char *otlp_map_request(const OtlpRequest *req, const OtlpMapOptions *opt, size_t *len,
							  char *err, size_t errlen);

/* The trace id execlave stores for an OTel span: otel_<32 hex trace id>_<16 hex span id> */
#define OTLP_TRACE_ID_LEN (5 + 32 + 1 + 16)

#endif							/* EXECLAVE_OTLP_MAP_H */
