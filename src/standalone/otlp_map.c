/*
 * otlp_map.c
 *		OTLP trace export: the protobuf wire check and the GenAI mapping.
 *
 * otlp_check_wire() is a schema-driven walk of the wire format: each
 * message kind lists its fields (number, wire type, and the message kind
 * of a nested message); an unknown field number is skipped whatever its
 * (valid) wire type, as the protobuf rules say, but a known field with
 * another wire type, a truncated varint, a length past the end, a group or
 * a nesting deeper than OTLP_MAX_DEPTH refuses the whole request.  The walk
 * recurses at most OTLP_MAX_DEPTH levels.
 *
 * otlp_map_request() makes one trace row per GenAI span (README: "OpenTelemetry
 * ingestion" has the mapping table) and emits the rows as JSON text whose
 * keys are columns of execlave.traces.  A span that cannot become a trace
 * (ids of the wrong length, no start time, no agent, a token count out of
 * range, a string that is not UTF-8) is counted as invalid with its reason;
 * a span that is no GenAI operation is counted as skipped.  execute_tool
 * spans also add their tool name to their parent span's row when the parent
 * is in the request.  Memory: malloc'd growable buffers, freed before return.
 */
#include "otlp_map.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- wire check */

enum
{
	WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_SGROUP = 3, WT_EGROUP = 4, WT_I32 = 5
};

typedef enum MsgKind
{
	M_NONE = 0, M_REQ, M_RS, M_RES, M_SS, M_SCOPE, M_SPAN, M_EVENT, M_LINK, M_STATUS,
	M_KV, M_ANY, M_ARR, M_KVL, M_NKINDS
} MsgKind;

typedef struct FieldSpec
{
	uint8_t		kind;			/* message kind */
	uint8_t		number;
	uint8_t		wire;
	uint8_t		child;			/* nested message kind, or M_NONE */
} FieldSpec;

static const char *const kind_names[M_NKINDS] = {
	"", "ExportTraceServiceRequest", "ResourceSpans", "Resource", "ScopeSpans",
	"InstrumentationScope", "Span", "Span.Event", "Span.Link", "Status", "KeyValue",
	"AnyValue", "ArrayValue", "KeyValueList"
};

static const FieldSpec fields[] = {
	{M_REQ, 1, WT_LEN, M_RS},
	{M_RS, 1, WT_LEN, M_RES}, {M_RS, 2, WT_LEN, M_SS}, {M_RS, 3, WT_LEN, M_NONE},
	{M_RES, 1, WT_LEN, M_KV}, {M_RES, 2, WT_VARINT, M_NONE},
	{M_SS, 1, WT_LEN, M_SCOPE}, {M_SS, 2, WT_LEN, M_SPAN}, {M_SS, 3, WT_LEN, M_NONE},
	{M_SCOPE, 1, WT_LEN, M_NONE}, {M_SCOPE, 2, WT_LEN, M_NONE}, {M_SCOPE, 3, WT_LEN, M_KV},
	{M_SCOPE, 4, WT_VARINT, M_NONE},
	{M_SPAN, 1, WT_LEN, M_NONE}, {M_SPAN, 2, WT_LEN, M_NONE}, {M_SPAN, 3, WT_LEN, M_NONE},
	{M_SPAN, 4, WT_LEN, M_NONE}, {M_SPAN, 5, WT_LEN, M_NONE}, {M_SPAN, 6, WT_VARINT, M_NONE},
	{M_SPAN, 7, WT_I64, M_NONE}, {M_SPAN, 8, WT_I64, M_NONE}, {M_SPAN, 9, WT_LEN, M_KV},
	{M_SPAN, 10, WT_VARINT, M_NONE}, {M_SPAN, 11, WT_LEN, M_EVENT}, {M_SPAN, 12, WT_VARINT, M_NONE},
	{M_SPAN, 13, WT_LEN, M_LINK}, {M_SPAN, 14, WT_VARINT, M_NONE}, {M_SPAN, 15, WT_LEN, M_STATUS},
	{M_SPAN, 16, WT_I32, M_NONE},
	{M_EVENT, 1, WT_I64, M_NONE}, {M_EVENT, 2, WT_LEN, M_NONE}, {M_EVENT, 3, WT_LEN, M_KV},
	{M_EVENT, 4, WT_VARINT, M_NONE},
	{M_LINK, 1, WT_LEN, M_NONE}, {M_LINK, 2, WT_LEN, M_NONE}, {M_LINK, 3, WT_LEN, M_NONE},
	{M_LINK, 4, WT_LEN, M_KV}, {M_LINK, 5, WT_VARINT, M_NONE}, {M_LINK, 6, WT_I32, M_NONE},
	{M_STATUS, 2, WT_LEN, M_NONE}, {M_STATUS, 3, WT_VARINT, M_NONE},
	{M_KV, 1, WT_LEN, M_NONE}, {M_KV, 2, WT_LEN, M_ANY},
	{M_ANY, 1, WT_LEN, M_NONE}, {M_ANY, 2, WT_VARINT, M_NONE}, {M_ANY, 3, WT_VARINT, M_NONE},
	{M_ANY, 4, WT_I64, M_NONE}, {M_ANY, 5, WT_LEN, M_ARR}, {M_ANY, 6, WT_LEN, M_KVL},
	{M_ANY, 7, WT_LEN, M_NONE},
	{M_ARR, 1, WT_LEN, M_ANY},
	{M_KVL, 1, WT_LEN, M_KV},
};

static const FieldSpec *
find_field(MsgKind kind, uint64_t number)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (fields[i].kind == kind && fields[i].number == number)
			return &fields[i];
	return NULL;
}

/* Read a varint at *p (< end); false if truncated or over 10 bytes. */
static bool
read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t	r = 0;

	for (int shift = 0; shift < 70; shift += 7)
	{
		uint8_t		b;

		if (*p >= end)
			return false;
		b = *(*p)++;
		if (shift == 63 && (b & 0x7e) != 0)
			return false;		/* more than 64 bits */
		r |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*v = r;
			return true;
		}
	}
	return false;
}

static bool wire_fail(char *err, size_t errlen, const char *fmt,...) __attribute__((format(printf, 3, 4)));

static bool
wire_fail(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

static bool
check_message(const uint8_t *p, const uint8_t *end, MsgKind kind, int depth, size_t base,
			  const uint8_t *start, char *err, size_t errlen)
{
	if (depth > OTLP_MAX_DEPTH)
		return wire_fail(err, errlen, "the message is nested more than %d levels deep", OTLP_MAX_DEPTH);
	while (p < end)
	{
		uint64_t	tag,
					number,
					v;
		unsigned	wire;
		const FieldSpec *f;
		size_t		at = (size_t) (p - start);

		if (!read_varint(&p, end, &tag))
			return wire_fail(err, errlen, "truncated field tag at byte %zu", at);
		number = tag >> 3;
		wire = (unsigned) (tag & 7);
		if (number == 0 || number > 536870911)
			return wire_fail(err, errlen, "invalid field number at byte %zu", at);
		f = find_field(kind, number);
		if (f != NULL && f->wire != wire)
			return wire_fail(err, errlen, "field %u of %s has wire type %u, expected %u (byte %zu)",
							 (unsigned) number, kind_names[kind], wire, f->wire, at);
		switch (wire)
		{
			case WT_VARINT:
				if (!read_varint(&p, end, &v))
					return wire_fail(err, errlen, "truncated varint at byte %zu", at);
				break;
			case WT_I64:
				if (end - p < 8)
					return wire_fail(err, errlen, "truncated 64-bit field at byte %zu", at);
				p += 8;
				break;
			case WT_I32:
				if (end - p < 4)
					return wire_fail(err, errlen, "truncated 32-bit field at byte %zu", at);
				p += 4;
				break;
			case WT_LEN:
				if (!read_varint(&p, end, &v))
					return wire_fail(err, errlen, "truncated length at byte %zu", at);
				if (v > (uint64_t) (end - p))
					return wire_fail(err, errlen, "length %" PRIu64 " at byte %zu runs past the end of its message",
									 v, at);
				if (f != NULL && f->child != M_NONE &&
					!check_message(p, p + v, (MsgKind) f->child, depth + 1, base, start, err, errlen))
					return false;
				p += v;
				break;
			default:
				return wire_fail(err, errlen, "unsupported wire type %u at byte %zu", wire, at);
		}
	}
	return true;
}

bool
otlp_check_wire(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	return check_message(buf, buf + len, M_REQ, 1, 0, buf, err, errlen);
}

/* ---------------------------------------------------------------- JSON output */

typedef struct Buf
{
	char	   *d;
	size_t		len;
	size_t		cap;
	bool		oom;
	bool		bad_utf8;
} Buf;

static void
buf_reserve(Buf *b, size_t n)
{
	size_t		cap;
	char	   *d;

	if (b->oom || b->len + n + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + n + 1)
		cap *= 2;
	d = realloc(b->d, cap);
	if (d == NULL)
	{
		b->oom = true;
		return;
	}
	b->d = d;
	b->cap = cap;
}

static void
buf_put(Buf *b, const char *s, size_t n)
{
	buf_reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->d + b->len, s, n);
	b->len += n;
	b->d[b->len] = '\0';
}

static void
buf_puts(Buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_printf(Buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));

static void
buf_printf(Buf *b, const char *fmt,...)
{
	char		tmp[128];
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_put(b, tmp, (size_t) n < sizeof(tmp) ? (size_t) n : sizeof(tmp) - 1);
}

/* Length of the UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t		len;
	uint32_t	cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++)
	{
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		(cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of s[0..n) (stops at a NUL byte); marks b->bad_utf8 when s is not UTF-8. */
static void
buf_jstr_n(Buf *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t		i = 0,
				run = 0;

	buf_put(b, "\"", 1);
	while (i < n && u[i] != '\0')
	{
		size_t		l = utf8_seq(u + i, n - i);

		if (l == 0)
		{
			b->bad_utf8 = true;
			break;
		}
		if (l == 1 && (u[i] < 0x20 || u[i] == '"' || u[i] == '\\'))
		{
			buf_put(b, s + run, i - run);
			if (u[i] == '"')
				buf_puts(b, "\\\"");
			else if (u[i] == '\\')
				buf_puts(b, "\\\\");
			else if (u[i] == '\n')
				buf_puts(b, "\\n");
			else if (u[i] == '\t')
				buf_puts(b, "\\t");
			else if (u[i] == '\r')
				buf_puts(b, "\\r");
			else
				buf_printf(b, "\\u%04x", u[i]);
			i++;
			run = i;
			continue;
		}
		i += l;
	}
	buf_put(b, s + run, i - run);
	buf_put(b, "\"", 1);
}

static void
buf_jstr(Buf *b, const char *s)
{
	buf_jstr_n(b, s ? s : "", s ? strlen(s) : 0);
}

static void
buf_key(Buf *b, bool *first, const char *key)
{
	if (!*first)
		buf_put(b, ",", 1);
	*first = false;
	buf_jstr(b, key);
	buf_put(b, ":", 1);
}

/* ---------------------------------------------------------------- attributes */

typedef Execlave__Otlp__KeyValue KeyValue;
typedef Execlave__Otlp__AnyValue AnyValue;
typedef Execlave__Otlp__Span Span;

static void any_json(Buf *b, const AnyValue *v, int depth);

static void
kvs_json(Buf *b, KeyValue *const *kvs, size_t n, int depth)
{
	bool		first = true;

	buf_put(b, "{", 1);
	for (size_t i = 0; i < n; i++)
	{
		if (kvs[i] == NULL)
			continue;
		buf_key(b, &first, kvs[i]->key);
		any_json(b, kvs[i]->value, depth + 1);
	}
	buf_put(b, "}", 1);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* An AnyValue as JSON: strings, booleans, numbers (64-bit integers as JSON numbers), arrays, objects, bytes in base64. */
static void
any_json(Buf *b, const AnyValue *v, int depth)
{
	if (v == NULL || depth > OTLP_MAX_DEPTH)
	{
		buf_puts(b, "null");
		return;
	}
	switch (v->value_case)
	{
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_STRING_VALUE:
			buf_jstr(b, v->string_value);
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_BOOL_VALUE:
			buf_puts(b, v->bool_value ? "true" : "false");
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_INT_VALUE:
			buf_printf(b, "%" PRId64, v->int_value);
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
			if (v->double_value == v->double_value && v->double_value - v->double_value == 0)
				buf_printf(b, "%.17g", v->double_value);
			else
				buf_puts(b, "null");	/* NaN, infinities: no JSON number */
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_ARRAY_VALUE:
			buf_put(b, "[", 1);
			if (v->array_value)
				for (size_t i = 0; i < v->array_value->n_values; i++)
				{
					if (i > 0)
						buf_put(b, ",", 1);
					any_json(b, v->array_value->values[i], depth + 1);
				}
			buf_put(b, "]", 1);
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_KVLIST_VALUE:
			if (v->kvlist_value)
				kvs_json(b, v->kvlist_value->values, v->kvlist_value->n_values, depth);
			else
				buf_puts(b, "{}");
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_BYTES_VALUE:
			{
				const uint8_t *d = v->bytes_value.data;
				size_t		n = v->bytes_value.len;

				buf_put(b, "\"", 1);
				for (size_t i = 0; i < n; i += 3)
				{
					uint32_t	x = (uint32_t) d[i] << 16 | (i + 1 < n ? (uint32_t) d[i + 1] << 8 : 0) |
						(i + 2 < n ? d[i + 2] : 0);
					char		q[4] = {b64chars[x >> 18], b64chars[(x >> 12) & 63],
					i + 1 < n ? b64chars[(x >> 6) & 63] : '=', i + 2 < n ? b64chars[x & 63] : '='};

					buf_put(b, q, 4);
				}
				buf_put(b, "\"", 1);
			}
			break;
		default:
			buf_puts(b, "null");
	}
}

/* The attribute called key, or NULL. */
static const AnyValue *
attr(KeyValue *const *kvs, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (kvs[i] && kvs[i]->key && kvs[i]->value && strcmp(kvs[i]->key, key) == 0 &&
			kvs[i]->value->value_case != EXECLAVE__OTLP__ANY_VALUE__VALUE__NOT_SET)
			return kvs[i]->value;
	return NULL;
}

/* A non-empty string attribute, or NULL. */
static const char *
attr_str(KeyValue *const *kvs, size_t n, const char *key)
{
	const AnyValue *v = attr(kvs, n, key);

	if (v && v->value_case == EXECLAVE__OTLP__ANY_VALUE__VALUE_STRING_VALUE &&
		v->string_value && v->string_value[0] != '\0')
		return v->string_value;
	return NULL;
}

/*
 * An integer attribute (int, integral double or a string of digits):
 * 1 found (in *out), 0 absent, -1 present but not a count in 0..2^31-1.
 */
static int
attr_count(KeyValue *const *kvs, size_t n, const char *key, int64_t *out)
{
	const AnyValue *v = attr(kvs, n, key);
	int64_t		x;

	if (v == NULL)
		return 0;
	switch (v->value_case)
	{
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_INT_VALUE:
			x = v->int_value;
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
			if (!(v->double_value >= 0 && v->double_value <= 2147483647.0) ||
				v->double_value != (double) (int64_t) v->double_value)
				return -1;
			x = (int64_t) v->double_value;
			break;
		case EXECLAVE__OTLP__ANY_VALUE__VALUE_STRING_VALUE:
			{
				const char *s = v->string_value;

				x = 0;
				if (s == NULL || *s == '\0')
					return -1;
				for (; *s; s++)
				{
					if (*s < '0' || *s > '9' || x > 214748364)
						return -1;
					x = x * 10 + (*s - '0');
				}
			}
			break;
		default:
			return -1;
	}
	if (x < 0 || x > 2147483647)
		return -1;
	*out = x;
	return 1;
}

/* Attributes the mapping consumes (the others go to metadata.attributes). */
static const char *const consumed[] = {
	"gen_ai.operation.name", "gen_ai.agent.id", "gen_ai.agent.name", "gen_ai.response.model",
	"gen_ai.request.model", "gen_ai.provider.name", "gen_ai.system",
	"gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.prompt_tokens",
	"gen_ai.usage.completion_tokens", "gen_ai.usage.cache_read.input_tokens",
	"gen_ai.usage.cache_read_input_tokens", "gen_ai.usage.cache_creation.input_tokens",
	"gen_ai.usage.cache_creation_input_tokens", "gen_ai.usage.reasoning.output_tokens",
	"gen_ai.usage.reasoning_tokens", "gen_ai.input.messages", "gen_ai.output.messages",
	"gen_ai.system_instructions", "gen_ai.prompt", "gen_ai.completion", "gen_ai.tool.name",
	"error.type", "session.id", "gen_ai.conversation.id", "user.id", "enduser.id", NULL
};

static bool
is_consumed(const char *key)
{
	for (int i = 0; consumed[i]; i++)
		if (strcmp(key, consumed[i]) == 0)
			return true;
	/* the older indexed forms: gen_ai.prompt.0.content, gen_ai.completion.0.role, ... */
	return strncmp(key, "gen_ai.prompt.", 14) == 0 || strncmp(key, "gen_ai.completion.", 18) == 0;
}

static const char *const genai_ops[] = {
	"chat", "text_completion", "generate_content", "embeddings", "execute_tool",
	"invoke_agent", "create_agent", NULL
};

/* ---------------------------------------------------------------- the mapping */

typedef struct Item
{
	const Span *span;
	const Execlave__Otlp__ResourceSpans *rs;
	const Execlave__Otlp__ScopeSpans *ss;
	char		tid[33];
	char		sid[17];
	char		pid[17];		/* "" when the span has no parent */
	const char *op;
	const char *tool;			/* execute_tool's gen_ai.tool.name */
	long		first_child_tool;	/* index of a child execute_tool item, -1 */
	long		next_sibling_tool;
} Item;

static void
hex(char *out, const uint8_t *d, size_t n)
{
	static const char h[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++)
	{
		out[2 * i] = h[d[i] >> 4];
		out[2 * i + 1] = h[d[i] & 15];
	}
	out[2 * n] = '\0';
}

static bool
all_zero(const uint8_t *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (d[i])
			return false;
	return true;
}

static int
item_cmp(const void *a, const void *b)
{
	const Item *x = *(Item *const *) a;
	const Item *y = *(Item *const *) b;
	int			c = strcmp(x->tid, y->tid);

	return c ? c : strcmp(x->sid, y->sid);
}

typedef struct Counts
{
	long		spans;
	long		skipped;
	long		invalid;
	int			reasons;
	Buf			rb;				/* the reasons array's elements */
} Counts;

static void
refuse(Counts *c, const char *tid, const char *sid, const char *msg)
{
	c->invalid++;
	if (c->reasons >= OTLP_MAX_REASONS)
		return;
	if (c->reasons++ > 0)
		buf_put(&c->rb, ",", 1);
	buf_puts(&c->rb, "{\"span\":");
	{
		char		s[64];

		snprintf(s, sizeof(s), "%s/%s", tid, sid);
		buf_jstr(&c->rb, s);
	}
	buf_puts(&c->rb, ",\"message\":");
	buf_jstr(&c->rb, msg);
	buf_put(&c->rb, "}", 1);
}

/* ISO 8601 UTC with microseconds of unix nanoseconds; false if out of range. */
static bool
iso_time(uint64_t ns, char *out, size_t outlen)
{
	time_t		secs = (time_t) (ns / 1000000000u);
	struct tm	tm;

	if (ns / 1000000000u > (uint64_t) 253402300799u || gmtime_r(&secs, &tm) == NULL)
		return false;
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned) ((ns % 1000000000u) / 1000u));
	return true;
}

/* Text of a content attribute: a string as it is, anything else as JSON. */
static void
content_text(Buf *b, const AnyValue *v)
{
	if (v->value_case == EXECLAVE__OTLP__ANY_VALUE__VALUE_STRING_VALUE)
		buf_puts(b, v->string_value ? v->string_value : "");
	else
		any_json(b, v, 0);
}

/*
 * The input or output text of a span: the current attributes
 * (first_key[, second_key]), else the older indexed attributes
 * (prefix N.content), else the older span events.  Empty when none.
 */
static void
span_text(Buf *t, const Span *s, const char *const *keys, const char *prefix,
		  const char *const *events, const char *const *event_keys)
{
	bool		any = false;

	for (int k = 0; keys[k]; k++)
	{
		const AnyValue *v = attr(s->attributes, s->n_attributes, keys[k]);

		if (v)
		{
			if (any)
				buf_put(t, "\n", 1);
			content_text(t, v);
			any = true;
		}
	}
	if (any)
		return;
	for (size_t i = 0; i < s->n_attributes; i++)
	{
		const KeyValue *kv = s->attributes[i];
		size_t		pl = strlen(prefix);
		const char *rest;

		if (!kv || !kv->key || !kv->value || strncmp(kv->key, prefix, pl) != 0)
			continue;
		rest = kv->key + pl;
		while (*rest >= '0' && *rest <= '9')
			rest++;
		if (rest == kv->key + pl || strcmp(rest, ".content") != 0)
			continue;
		if (any)
			buf_put(t, "\n", 1);
		content_text(t, kv->value);
		any = true;
	}
	if (any)
		return;
	for (size_t i = 0; i < s->n_events; i++)
	{
		const Execlave__Otlp__Span__Event *e = s->events[i];

		if (!e || !e->name)
			continue;
		for (int k = 0; events[k]; k++)
		{
			const AnyValue *v;

			if (strcmp(e->name, events[k]) != 0)
				continue;
			v = attr(e->attributes, e->n_attributes, event_keys[k]);
			if (v)
			{
				if (any)
					buf_put(t, "\n", 1);
				content_text(t, v);
				any = true;
			}
		}
	}
}

static const char *const input_keys[] = {"gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.prompt", NULL};
static const char *const output_keys[] = {"gen_ai.output.messages", "gen_ai.completion", NULL};
static const char *const input_events[] = {"gen_ai.system.message", "gen_ai.user.message", "gen_ai.assistant.message",
"gen_ai.tool.message", "gen_ai.content.prompt", NULL};
static const char *const input_event_keys[] = {"content", "content", "content", "content", "gen_ai.prompt", NULL};
static const char *const output_events[] = {"gen_ai.choice", "gen_ai.choice", "gen_ai.content.completion", NULL};
static const char *const output_event_keys[] = {"message", "content", "gen_ai.completion", NULL};

static void
put_text_field(Buf *row, bool *first, const char *col, Buf *t)
{
	if (t->len == 0)
		return;
	buf_key(row, first, col);
	buf_jstr_n(row, t->d, t->len);
	if (t->oom)
		row->oom = true;
}

/* A count attribute, new name first: 1 found, 0 absent, -1 bad (reason set). */
static int
count2(const Span *s, const char *a, const char *b, int64_t *out, const char **bad)
{
	int			r = attr_count(s->attributes, s->n_attributes, a, out);

	if (r == 0 && b)
		r = attr_count(s->attributes, s->n_attributes, b, out);
	if (r < 0)
		*bad = a;
	return r;
}

/* Emit item it as one row object into row; returns a reason when the span is refused. */
static const char *
emit_row(Buf *row, Item *items, Item *it, const OtlpMapOptions *opt)
{
	const Span *s = it->span;
	KeyValue *const *kv = s->attributes;
	size_t		n = s->n_attributes;
	KeyValue  **rattrs = it->rs->resource ? it->rs->resource->attributes : NULL;
	size_t		nr = it->rs->resource ? it->rs->resource->n_attributes : 0;
	const char *agent,
			   *model,
			   *provider,
			   *v,
			   *bad = NULL;
	char		ts[40];
	bool		first = true;
	int64_t		in = 0,
				out = 0,
				cr = 0,
				cc = 0,
				rt = 0;
	int			hin,
				hout,
				hcr,
				hcc,
				hrt;
	bool		error;
	Buf			t = {0};

	agent = attr_str(kv, n, "gen_ai.agent.id");
	if (!agent)
		agent = attr_str(kv, n, "gen_ai.agent.name");
	if (!agent)
		agent = attr_str(rattrs, nr, "service.name");
	if (!agent && opt && opt->default_agent && opt->default_agent[0])
		agent = opt->default_agent;
	if (!agent)
		return "the span names no agent (gen_ai.agent.id, gen_ai.agent.name or the resource's service.name)";
	if (s->start_time_unix_nano == 0 || !iso_time(s->start_time_unix_nano, ts, sizeof(ts)))
		return "the span has no valid start time";
	hin = count2(s, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", &in, &bad);
	hout = count2(s, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", &out, &bad);
	hcr = count2(s, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens", &cr, &bad);
	hcc = count2(s, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens", &cc, &bad);
	hrt = count2(s, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens", &rt, &bad);
	if (bad)
		return "a token count is not an integer between 0 and 2147483647";
	if (hin > 0 && hout > 0 && in + out > 2147483647)
		return "the token counts add up to more than 2147483647";

	buf_put(row, "{", 1);
	buf_key(row, &first, "trace_id");
	buf_printf(row, "\"otel_%s_%s\"", it->tid, it->sid);
	buf_key(row, &first, "agent_key");
	buf_jstr(row, agent);
	buf_key(row, &first, "started_at");
	buf_jstr(row, ts);
	if (s->end_time_unix_nano >= s->start_time_unix_nano)
	{
		buf_key(row, &first, "duration_ms");
		buf_printf(row, "%.6f", (double) (s->end_time_unix_nano - s->start_time_unix_nano) / 1e6);
	}
	v = attr_str(kv, n, "error.type");
	error = (s->status && s->status->code == EXECLAVE__OTLP__STATUS__STATUS_CODE__STATUS_CODE_ERROR) || v != NULL;
	buf_key(row, &first, "status");
	buf_puts(row, error ? "\"error\"" : "\"success\"");
	if (v)
	{
		buf_key(row, &first, "error_type");
		buf_jstr(row, v);
	}
	if (error && s->status && s->status->message && s->status->message[0])
	{
		buf_key(row, &first, "error_message");
		buf_jstr(row, s->status->message);
	}
	span_text(&t, s, input_keys, "gen_ai.prompt.", input_events, input_event_keys);
	put_text_field(row, &first, "input", &t);
	t.len = 0;
	span_text(&t, s, output_keys, "gen_ai.completion.", output_events, output_event_keys);
	put_text_field(row, &first, "output", &t);
	free(t.d);
	model = attr_str(kv, n, "gen_ai.response.model");
	if (!model)
		model = attr_str(kv, n, "gen_ai.request.model");
	if (model)
	{
		buf_key(row, &first, "model");
		buf_jstr(row, model);
	}
	if (hin > 0)
	{
		buf_key(row, &first, "prompt_tokens");
		buf_printf(row, "%" PRId64, in);
	}
	if (hout > 0)
	{
		buf_key(row, &first, "completion_tokens");
		buf_printf(row, "%" PRId64, out);
	}
	if (hin > 0 || hout > 0)
	{
		buf_key(row, &first, "total_tokens");
		buf_printf(row, "%" PRId64, (hin > 0 ? in : 0) + (hout > 0 ? out : 0));
	}
	if ((v = attr_str(kv, n, "session.id")) || (v = attr_str(kv, n, "gen_ai.conversation.id")))
	{
		buf_key(row, &first, "session_id");
		buf_jstr(row, v);
	}
	if ((v = attr_str(kv, n, "user.id")) || (v = attr_str(kv, n, "enduser.id")))
	{
		buf_key(row, &first, "user_id");
		buf_jstr(row, v);
	}
	if ((v = attr_str(rattrs, nr, "deployment.environment.name")) || (v = attr_str(rattrs, nr, "deployment.environment")))
	{
		buf_key(row, &first, "environment");
		buf_jstr(row, v);
	}
	/* tools: its own (execute_tool) and its execute_tool children's */
	{
		bool		tf = true;

		buf_key(row, &first, "tools");
		buf_put(row, "[", 1);
		if (it->tool)
		{
			buf_jstr(row, it->tool);
			tf = false;
		}
		for (long c = it->first_child_tool; c >= 0; c = items[c].next_sibling_tool)
		{
			if (!tf)
				buf_put(row, ",", 1);
			buf_jstr(row, items[c].tool);
			tf = false;
		}
		buf_put(row, "]", 1);
	}
	if (it->pid[0])
	{
		buf_key(row, &first, "parent_trace_id");
		buf_printf(row, "\"otel_%s_%s\"", it->tid, it->pid);
	}
	buf_key(row, &first, "span_type");
	buf_jstr(row, it->op);

	/* metadata: otel (ids, name, kind, provider, scope, service), usage, the remaining attributes */
	buf_key(row, &first, "metadata");
	buf_puts(row, "{\"otel\":{\"trace_id\":");
	buf_printf(row, "\"%s\",\"span_id\":\"%s\"", it->tid, it->sid);
	if (it->pid[0])
		buf_printf(row, ",\"parent_span_id\":\"%s\"", it->pid);
	buf_puts(row, ",\"name\":");
	buf_jstr(row, s->name);
	buf_printf(row, ",\"kind\":%d", (int) s->kind);
	provider = attr_str(kv, n, "gen_ai.provider.name");
	if (!provider)
		provider = attr_str(kv, n, "gen_ai.system");
	if (provider)
	{
		buf_puts(row, ",\"provider\":");
		buf_jstr(row, provider);
	}
	if ((v = attr_str(rattrs, nr, "service.name")))
	{
		buf_puts(row, ",\"service\":");
		buf_jstr(row, v);
	}
	if (it->ss->scope && it->ss->scope->name && it->ss->scope->name[0])
	{
		buf_puts(row, ",\"scope\":");
		buf_jstr(row, it->ss->scope->name);
	}
	if (attr_str(kv, n, "gen_ai.agent.name") && attr_str(kv, n, "gen_ai.agent.id"))
	{
		buf_puts(row, ",\"agent_name\":");
		buf_jstr(row, attr_str(kv, n, "gen_ai.agent.name"));
	}
	buf_put(row, "}", 1);
	if (hcr > 0 || hcc > 0 || hrt > 0)
	{
		bool		uf = true;

		buf_puts(row, ",\"usage\":{");
		if (hcr > 0)
		{
			buf_key(row, &uf, "cache_read_tokens");
			buf_printf(row, "%" PRId64, cr);
		}
		if (hcc > 0)
		{
			buf_key(row, &uf, "cache_creation_tokens");
			buf_printf(row, "%" PRId64, cc);
		}
		if (hrt > 0)
		{
			buf_key(row, &uf, "reasoning_tokens");
			buf_printf(row, "%" PRId64, rt);
		}
		buf_put(row, "}", 1);
	}
	{
		bool		af = true;

		buf_puts(row, ",\"attributes\":{");
		for (size_t i = 0; i < n; i++)
		{
			if (!kv[i] || !kv[i]->key || is_consumed(kv[i]->key))
				continue;
			/* an attribute repeated: the first one counts */
			if (attr(kv, i, kv[i]->key) != NULL)
				continue;
			buf_key(row, &af, kv[i]->key);
			any_json(row, kv[i]->value, 0);
		}
		buf_put(row, "}", 1);
	}
	buf_put(row, "}}", 2);
	if (row->bad_utf8)
		return "a string of the span is not valid UTF-8";
	return NULL;
}

char *
otlp_map_request(const OtlpRequest *req, const OtlpMapOptions *opt, size_t *len, char *err, size_t errlen)
{
	Counts		c = {0};
	Item	   *items = NULL;
	Item	  **sorted = NULL;
	size_t		nitems = 0,
				cap = 0;
	Buf			out = {0},
				row = {0};
	long		ntraces = 0;

	/* pass 1: which spans are GenAI operations with usable ids */
	for (size_t r = 0; r < req->n_resource_spans; r++)
	{
		const Execlave__Otlp__ResourceSpans *rs = req->resource_spans[r];

		if (!rs)
			continue;
		for (size_t q = 0; q < rs->n_scope_spans; q++)
		{
			const Execlave__Otlp__ScopeSpans *ss = rs->scope_spans[q];

			if (!ss)
				continue;
			for (size_t k = 0; k < ss->n_spans; k++)
			{
				const Span *s = ss->spans[k];
				const char *op;
				Item	   *it;
				char		tid[33] = "?",
							sid[17] = "?";
				int			o;

				if (!s)
					continue;
				c.spans++;
				if (s->trace_id.len == 16)
					hex(tid, s->trace_id.data, 16);
				if (s->span_id.len == 8)
					hex(sid, s->span_id.data, 8);
				op = attr_str(s->attributes, s->n_attributes, "gen_ai.operation.name");
				for (o = 0; op && genai_ops[o]; o++)
					if (strcmp(op, genai_ops[o]) == 0)
						break;
				if (!op || !genai_ops[o])
				{
					c.skipped++;
					continue;
				}
				if (s->trace_id.len != 16 || all_zero(s->trace_id.data, 16))
				{
					refuse(&c, tid, sid, "the trace id is not 16 bytes (32 hex digits), or is all zero");
					continue;
				}
				if (s->span_id.len != 8 || all_zero(s->span_id.data, 8))
				{
					refuse(&c, tid, sid, "the span id is not 8 bytes (16 hex digits), or is all zero");
					continue;
				}
				if (s->parent_span_id.len != 0 && s->parent_span_id.len != 8)
				{
					refuse(&c, tid, sid, "the parent span id is not 8 bytes (16 hex digits)");
					continue;
				}
				if (nitems == cap)
				{
					size_t		ncap = cap ? cap * 2 : 64;
					Item	   *ni = realloc(items, ncap * sizeof(Item));

					if (!ni)
						goto oom;
					items = ni;
					cap = ncap;
				}
				it = &items[nitems++];
				memset(it, 0, sizeof(*it));
				it->span = s;
				it->rs = rs;
				it->ss = ss;
				memcpy(it->tid, tid, sizeof(tid));
				memcpy(it->sid, sid, sizeof(sid));
				if (s->parent_span_id.len == 8 && !all_zero(s->parent_span_id.data, 8))
					hex(it->pid, s->parent_span_id.data, 8);
				it->op = genai_ops[o];
				it->first_child_tool = it->next_sibling_tool = -1;
				if (o == 4)
					it->tool = attr_str(s->attributes, s->n_attributes, "gen_ai.tool.name");
			}
		}
	}

	/* pass 2: execute_tool spans join their parent's tools */
	if (nitems > 0)
	{
		sorted = malloc(nitems * sizeof(Item *));
		if (!sorted)
			goto oom;
		for (size_t i = 0; i < nitems; i++)
			sorted[i] = &items[i];
		qsort(sorted, nitems, sizeof(Item *), item_cmp);
		for (size_t i = nitems; i-- > 0;)
		{
			Item		key,
					   *kp = &key,
					  **found;

			if (!items[i].tool || !items[i].pid[0])
				continue;
			memcpy(key.tid, items[i].tid, sizeof(key.tid));
			memcpy(key.sid, items[i].pid, sizeof(key.sid));
			found = bsearch(&kp, sorted, nitems, sizeof(Item *), item_cmp);
			if (found && *found != &items[i])
			{
				items[i].next_sibling_tool = (*found)->first_child_tool;
				(*found)->first_child_tool = (long) i;
			}
		}
	}

	/* pass 3: the rows */
	buf_puts(&out, "\"traces\":[");
	for (size_t i = 0; i < nitems; i++)
	{
		const char *why;

		row.len = 0;
		row.bad_utf8 = false;
		why = emit_row(&row, items, &items[i], opt);
		if (row.oom)
			goto oom;
		if (why)
		{
			refuse(&c, items[i].tid, items[i].sid, why);
			continue;
		}
		if (ntraces++ > 0)
			buf_put(&out, ",", 1);
		buf_put(&out, row.d, row.len);
	}
	buf_put(&out, "]}", 2);
	if (out.oom || c.rb.oom)
		goto oom;

	{
		Buf			all = {0};

		buf_printf(&all, "{\"spans\":%ld,\"skipped\":%ld,\"invalid\":%ld,\"reasons\":[", c.spans, c.skipped, c.invalid);
		if (c.rb.len)
			buf_put(&all, c.rb.d, c.rb.len);
		buf_puts(&all, "],");
		buf_put(&all, out.d, out.len);
		free(out.d);
		free(row.d);
		free(c.rb.d);
		free(sorted);
		free(items);
		if (all.oom)
		{
			free(all.d);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		*len = all.len;
		return all.d;
	}

oom:
	free(out.d);
	free(row.d);
	free(c.rb.d);
	free(sorted);
	free(items);
	snprintf(err, errlen, "out of memory");
	return NULL;
}
