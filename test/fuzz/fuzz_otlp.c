/*
 * fuzz_otlp.c
 *		libFuzzer harness for the OTLP protobuf decoder and the GenAI mapping
 *		(src/standalone/otlp_map.c with libprotobuf-c and the code protoc-c
 *		generates from src/proto/otlp_trace.proto), as execlave.otlp_decode
 *		runs them.
 *
 *	protoc-c --proto_path=src/proto --c_out=/tmp/otlp src/proto/otlp_trace.proto
 *	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *		-Isrc/standalone -I/tmp/otlp test/fuzz/fuzz_otlp.c src/standalone/otlp_map.c \
 *		/tmp/otlp/otlp_trace.pb-c.c -lprotobuf-c -o /tmp/fuzz_otlp
 *
 * Input: the bytes of a request body, arbitrary.  The first byte's low bit
 * also chooses whether a default agent is set (the mapping's other branch).
 *
 * Checked, aborting on the first violation:
 *	- otlp_check_wire() terminates and, when it refuses, says why;
 *	- when it accepts, libprotobuf-c unpacks without crashing (the nesting
 *	  is bounded, so its recursion is too), and otlp_map_request() returns
 *	  NUL-terminated text of the length it reports that is valid UTF-8 and
 *	  one well-formed JSON object whose "spans" equals the spans of the
 *	  request and is at least "skipped" + "invalid", and whose "traces"
 *	  array has "spans" - "skipped" - "invalid" rows;
 *	- mapping the same request twice gives the same text.
 * AddressSanitizer and UBSan catch reads outside the input and undefined behaviour.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_map.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FAIL_PREFIX "fuzz_otlp: invariant violated: "
#include "fuzz_fail.h"

/* ---------------------------------------------------------------- a strict JSON checker */

typedef struct J
{
	const char *p;
	const char *end;
	int			depth;
	long		traces;			/* elements of the top-level "traces" array */
	long		spans,
				skipped,
				invalid;
} J;

static void
ws(J *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r'))
		j->p++;
}

static bool value(J *j, int level, const char *key);

static bool
string(J *j, char *copy, size_t copylen)
{
	size_t		n = 0;

	if (j->p >= j->end || *j->p != '"')
		return false;
	j->p++;
	while (j->p < j->end && *j->p != '"')
	{
		unsigned char c = (unsigned char) *j->p;

		if (c < 0x20)
			return false;
		if (c == '\\')
		{
			j->p++;
			if (j->p >= j->end)
				return false;
			if (*j->p == 'u')
			{
				for (int i = 1; i <= 4; i++)
					if (j->p + i >= j->end || !strchr("0123456789abcdefABCDEF", j->p[i]))
						return false;
				j->p += 4;
			}
			else if (!strchr("\"\\/bfnrt", *j->p))
				return false;
		}
		if (copy && n + 1 < copylen)
			copy[n++] = *j->p;
		j->p++;
	}
	if (copy)
		copy[n] = '\0';
	if (j->p >= j->end)
		return false;
	j->p++;
	return true;
}

static bool
number(J *j, long *out)
{
	const char *s = j->p;

	if (j->p < j->end && *j->p == '-')
		j->p++;
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
		return false;
	while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || strchr(".eE+-", *j->p)))
		j->p++;
	if (out)
		*out = strtol(s, NULL, 10);
	return true;
}

static bool
value(J *j, int level, const char *key)
{
	ws(j);
	if (j->p >= j->end)
		return false;
	if (++j->depth > 200)
		return false;
	if (*j->p == '{')
	{
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == '}')
			j->p++;
		else
			for (;;)
			{
				char		k[16];

				ws(j);
				if (!string(j, k, sizeof(k)))
					return false;
				ws(j);
				if (j->p >= j->end || *j->p++ != ':')
					return false;
				if (!value(j, level + 1, level == 0 ? k : NULL))
					return false;
				ws(j);
				if (j->p < j->end && *j->p == ',')
				{
					j->p++;
					continue;
				}
				if (j->p < j->end && *j->p == '}')
				{
					j->p++;
					break;
				}
				return false;
			}
	}
	else if (*j->p == '[')
	{
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == ']')
			j->p++;
		else
			for (;;)
			{
				if (!value(j, level + 1, NULL))
					return false;
				if (key && strcmp(key, "traces") == 0)
					j->traces++;
				ws(j);
				if (j->p < j->end && *j->p == ',')
				{
					j->p++;
					continue;
				}
				if (j->p < j->end && *j->p == ']')
				{
					j->p++;
					break;
				}
				return false;
			}
	}
	else if (*j->p == '"')
	{
		if (!string(j, NULL, 0))
			return false;
	}
	else if (j->end - j->p >= 4 && (memcmp(j->p, "true", 4) == 0 || memcmp(j->p, "null", 4) == 0))
		j->p += 4;
	else if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0)
		j->p += 5;
	else
	{
		long	   *out = NULL;

		if (key && strcmp(key, "spans") == 0)
			out = &j->spans;
		else if (key && strcmp(key, "skipped") == 0)
			out = &j->skipped;
		else if (key && strcmp(key, "invalid") == 0)
			out = &j->invalid;
		if (!number(j, out))
			return false;
	}
	j->depth--;
	return true;
}

static bool
valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;)
	{
		unsigned char c = s[i];
		size_t		len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c >= 0xe0 && c <= 0xef) ? 3 :
			(c >= 0xf0 && c <= 0xf4) ? 4 : 0;

		if (len == 0 || i + len > n)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static long
count_spans(const OtlpRequest *req)
{
	long		n = 0;

	for (size_t r = 0; r < req->n_resource_spans; r++)
		if (req->resource_spans[r])
			for (size_t q = 0; q < req->resource_spans[r]->n_scope_spans; q++)
				if (req->resource_spans[r]->scope_spans[q])
					for (size_t k = 0; k < req->resource_spans[r]->scope_spans[q]->n_spans; k++)
						n += req->resource_spans[r]->scope_spans[q]->spans[k] != NULL;
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		err[256] = "";
	OtlpRequest *req;
	OtlpMapOptions opt = {(size > 0 && (data[0] & 1)) ? "fuzz-agent" : NULL};
	char	   *out,
			   *again;
	size_t		len,
				len2;
	J			j;

	if (!otlp_check_wire(data, size, err, sizeof(err)))
	{
		if (err[0] == '\0')
			fail("a refused body without a reason");
		return 0;
	}
	req = execlave__otlp__export_trace_service_request__unpack(NULL, size, data);
	if (req == NULL)
		return 0;
	out = otlp_map_request(req, &opt, &len, err, sizeof(err));
	if (out == NULL)
		fail("mapping failed: %s", err);
	if (strlen(out) != len)
		fail("the length %zu is not the text's %zu", len, strlen(out));
	if (!valid_utf8((const unsigned char *) out, len))
		fail("the mapping is not UTF-8: %s", out);
	memset(&j, 0, sizeof(j));
	j.p = out;
	j.end = out + len;
	if (*j.p != '{' || !value(&j, 0, NULL) || (ws(&j), j.p != j.end))
		fail("the mapping is not one JSON object: %s", out);
	if (j.spans != count_spans(req))
		fail("spans %ld, the request has %ld", j.spans, count_spans(req));
	if (j.skipped + j.invalid > j.spans || j.traces != j.spans - j.skipped - j.invalid)
		fail("spans %ld, skipped %ld, invalid %ld, traces %ld", j.spans, j.skipped, j.invalid, j.traces);
	again = otlp_map_request(req, &opt, &len2, err, sizeof(err));
	if (again == NULL || len2 != len || memcmp(out, again, len) != 0)
		fail("mapping the same request twice differs");
	free(again);
	free(out);
	execlave__otlp__export_trace_service_request__free_unpacked(req, NULL);
	return 0;
}
