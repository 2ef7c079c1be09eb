/*
 * policy_eval.c
 *		Evaluation of the policies that apply to a request (a trace being
 *		ingested or a pre-execution check), over the set of compiled policies
 *		it pins (policy_cache.c).  The content policies are pure computation:
 *		text is scanned once per field for PII (all types, then filtered per
 *		policy) and once per prompt-injection policy (each has its own
 *		matcher); model, token and tool lists are compared.  The windowed
 *		policies run last (usage_limits.c), so that a request another policy
 *		refuses is not counted; they may query (a counter rebuild), hence
 *		the pin.  The outcome holds copies.
 */

#include "policy_eval.h"

#include <math.h>

#include "common/hmac.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "injection.h"
#include "usage_limits.h"
#include "pii.h"
#include "policy.h"
#include "policy_cache.h"
#include "violations.h"



/* Most positions listed per PII type or pattern in violation details. */
#define MAX_POSITIONS	10


/* Character offset of byte offset `byte` in text, counting from a cursor. */
typedef struct CharCursor
{
	const char *text;
	size_t		byte;
	size_t		chars;
} CharCursor;

static size_t
char_offset(CharCursor *cur, size_t byte)
{
	if (byte < cur->byte)
	{
		cur->byte = 0;
		cur->chars = 0;
	}
	for (; cur->byte < byte; cur->byte++)
		if ((((unsigned char) cur->text[cur->byte]) & 0xC0) != 0x80)
			cur->chars++;
	return cur->chars;
}

/* Characters in a byte span. */
static size_t
char_length(const char *s, size_t len)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
		if ((((unsigned char) s[i]) & 0xC0) != 0x80)
			n++;
	return n;
}

/* First 12 hex digits of HMAC-SHA256(key, value): a short keyed hash. */
static void
append_value_hash(StringInfo buf, const PolicySet *set, const char *value, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	uint8		digest[32];
	pg_hmac_ctx *ctx;

	if (!set->have_hash_key)
	{
		appendStringInfoString(buf, "null");
		return;
	}
	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL || pg_hmac_init(ctx, set->hash_key, sizeof(set->hash_key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) value, len) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute HMAC: %s", ctx ? pg_hmac_error(ctx) : "out of memory")));
	pg_hmac_free(ctx);
	appendStringInfoChar(buf, '"');
	for (int i = 0; i < 6; i++)
	{
		appendStringInfoChar(buf, hex[digest[i] >> 4]);
		appendStringInfoChar(buf, hex[digest[i] & 0xF]);
	}
	appendStringInfoChar(buf, '"');
}

/* All PII found in one field, scanned once for every type. */
typedef struct PiiFound
{
	bool		scanned;
	int			n;
	int			cap;
	PiiHit	   *hits;
} PiiFound;

static void
collect_pii_hit(const PiiHit *hit, void *arg)
{
	PiiFound   *f = (PiiFound *) arg;

	if (f->n == f->cap)
	{
		f->cap = f->cap == 0 ? 16 : f->cap * 2;
		f->hits = f->hits == NULL ? palloc(sizeof(PiiHit) * f->cap)
			: repalloc(f->hits, sizeof(PiiHit) * f->cap);
	}
	f->hits[f->n++] = *hit;
}

static void
scan_pii(PiiFound *f, const char *text, size_t len)
{
	if (f->scanned)
		return;
	f->scanned = true;
	if (text != NULL)
		pii_scan(text, len, PII_ALL, collect_pii_hit, f);
}

/*
 * Append the PII details of one field for the policy's types; count per type
 * into counts[].  Returns the number of hits.
 */
static int
pii_field_details(StringInfo buf, const PolicySet *set, const char *field, const char *text,
				  const PiiFound *f, unsigned types, int *counts, List **masks)
{
	int			total = 0;
	bool		first_type = true;

	memset(counts, 0, sizeof(int) * PII_NUM_TYPES);
	for (int i = 0; i < f->n; i++)
		if (types & PII_BIT(f->hits[i].type))
		{
			counts[f->hits[i].type]++;
			total++;
		}
	if (total == 0)
		return 0;

	appendStringInfo(buf, "%s\"%s\": {", buf->len > 1 ? ", " : "", field);
	for (int t = 0; t < PII_NUM_TYPES; t++)
	{
		CharCursor	cur = {text, 0, 0};
		int			listed = 0;

		if (counts[t] == 0)
			continue;
		appendStringInfo(buf, "%s\"%s\": {\"count\": %d, \"positions\": [",
						 first_type ? "" : ", ", pii_type_names[t], counts[t]);
		first_type = false;
		for (int i = 0; i < f->n && listed < MAX_POSITIONS; i++)
		{
			const PiiHit *h = &f->hits[i];

			if (h->type != (PiiType) t)
				continue;
			appendStringInfo(buf, "%s{\"offset\": %zu, \"length\": %zu, \"hash\": ",
							 listed > 0 ? ", " : "", char_offset(&cur, h->start),
							 char_length(text + h->start, h->len));
			append_value_hash(buf, set, text + h->start, h->len);
			appendStringInfoChar(buf, '}');
			listed++;
		}
		appendStringInfoString(buf, "]}");
	}
	appendStringInfoChar(buf, '}');

	if (masks != NULL)
		for (int i = 0; i < f->n; i++)
			if (types & PII_BIT(f->hits[i].type))
			{
				MaskSpan   *m = palloc(sizeof(MaskSpan));

				m->start = f->hits[i].start;
				m->len = f->hits[i].len;
				m->type = f->hits[i].type;
				*masks = lappend(*masks, m);
			}
	return total;
}

/* "2 email, 1 phone" */
static void
append_counts(StringInfo msg, const int *counts)
{
	bool		first = true;

	for (int t = 0; t < PII_NUM_TYPES; t++)
		if (counts[t] > 0)
		{
			appendStringInfo(msg, "%s%d %s", first ? "" : ", ", counts[t], pii_type_names[t]);
			first = false;
		}
}

/* Injection hits of one field, per family. */
typedef struct InjFound
{
	const CompiledPolicy *p;
	int		   *count;			/* per family */
	size_t	   *first;			/* first byte offset per family */
	int			total;
} InjFound;

static void
collect_inj_hit(const InjHit *hit, void *arg)
{
	InjFound   *f = (InjFound *) arg;
	int			fam = f->p->phrase_family[hit->phrase];

	if (f->count[fam]++ == 0)
		f->first[fam] = hit->start;
	f->total++;
}

/* The product's risk levels by number of hits. */
static const char *
risk_level(int hits)
{
	if (hits == 0)
		return "none";
	if (hits == 1)
		return "low";
	if (hits <= 3)
		return "medium";
	if (hits <= 5)
		return "high";
	return "critical";
}

/*
 * Scan one field for injection; append its details and return its score
 * (noisy-OR of the weights of the distinct pattern families found).
 */
/* Is name one of the entries of list ("a, b, c")? */
static bool
names_contain(const char *list, const char *name)
{
	size_t		n = strlen(name);

	for (const char *q = list; (q = strstr(q, name)) != NULL; q += n)
		if ((q == list || q[-1] == ' ') && (q[n] == '\0' || q[n] == ','))
			return true;
	return false;
}

static double
inj_field(const CompiledPolicy *p, StringInfo buf, StringInfo names, const char *field,
		  const char *text, size_t len)
{
	InjFound	f;
	double		keep = 1.0;
	double		score;
	bool		first = true;
	CharCursor	cur = {text, 0, 0};

	if (text == NULL)
		return 0;
	f.p = p;
	f.count = palloc0(sizeof(int) * p->nfamilies);
	f.first = palloc0(sizeof(size_t) * p->nfamilies);
	f.total = 0;
	inj_scan(p->matcher, text, len, collect_inj_hit, &f);
	if (f.total == 0)
		return 0;
	for (int i = 0; i < p->nfamilies; i++)
		if (f.count[i] > 0)
			keep *= 1.0 - p->family_weights[i];
	score = 1.0 - keep;

	appendStringInfo(buf, "%s\"%s\": {\"score\": %.3f, \"risk_level\": \"%s\", \"hits\": [",
					 buf->len > 1 ? ", " : "", field, score, risk_level(f.total));
	for (int i = 0; i < p->nfamilies; i++)
	{
		if (f.count[i] == 0)
			continue;
		appendStringInfo(buf, "%s{\"pattern\": ", first ? "" : ", ");
		escape_json(buf, p->family_names[i]);
		appendStringInfo(buf, ", \"count\": %d, \"first_offset\": %zu}", f.count[i],
						 char_offset(&cur, f.first[i]));
		if (names->len < 200 && !names_contain(names->data, p->family_names[i]))
			appendStringInfo(names, "%s%s", names->len > 0 ? ", " : "", p->family_names[i]);
		first = false;
	}
	appendStringInfoString(buf, "]}");
	return score;
}

/* Does name match a rule of the list?  Models compare case-insensitively. */
static const NameRule *
list_match(const NameList *list, const char *name, bool nocase)
{
	size_t		len = strlen(name);

	for (int i = 0; i < list->n; i++)
	{
		const NameRule *r = &list->rules[i];

		if (r->prefix ? len >= (size_t) r->len : len == (size_t) r->len)
		{
			if (nocase ? pg_strncasecmp(name, r->name, r->len) == 0
				: memcmp(name, r->name, r->len) == 0)
				return r;
		}
	}
	return NULL;
}


/* Append one violation of p, in p's mode. */
static void
add_violation(PolicyOutcome *out, const CompiledPolicy *p, char *message, char *details)
{
	execlave_add_violation(out, p, p->mode, message, details);
}

/* ---------------------------------------------------------------------
 * Per-type evaluation
 * ---------------------------------------------------------------------
 */
static void
eval_prompt_injection(const CompiledPolicy *p, const PolicyRequest *req, PolicyOutcome *out)
{
	StringInfoData buf,
				names;
	double		in_score = 0,
				out_score = 0;
	const char *where;

	initStringInfo(&buf);
	initStringInfo(&names);
	appendStringInfoChar(&buf, '{');
	if (p->scan_input)
		in_score = inj_field(p, &buf, &names, "input", req->input, req->input_len);
	if (p->scan_output)
		out_score = inj_field(p, &buf, &names, "output", req->output, req->output_len);
	if (in_score < p->threshold && out_score < p->threshold)
		return;
	appendStringInfo(&buf, "%s\"threshold\": %.3f}", buf.len > 1 ? ", " : "", p->threshold);
	where = (in_score >= p->threshold && out_score >= p->threshold) ? "input and output"
		: in_score >= p->threshold ? "input" : "output";
	add_violation(out, p,
				  psprintf("prompt injection detected in %s (score %.2f, threshold %.2f): %s",
						   where, Max(in_score, out_score), p->threshold, names.data),
				  buf.data);
}

static void
eval_pii(const PolicySet *set, const CompiledPolicy *p, const PolicyRequest *req, PiiFound *fin,
		 PiiFound *fout,
		 PolicyOutcome *out)
{
	StringInfoData buf,
				msg;
	int			counts[PII_NUM_TYPES];
	int			nin = 0,
				nout = 0;
	bool		mask = p->mask && p->mode != MODE_BLOCK;

	initStringInfo(&buf);
	initStringInfo(&msg);
	appendStringInfoChar(&buf, '{');
	appendStringInfoString(&msg, "PII found");
	if (p->scan_input && req->input != NULL)
	{
		scan_pii(fin, req->input, req->input_len);
		nin = pii_field_details(&buf, set, "input", req->input, fin, p->pii_types, counts,
								mask ? &out->input_masks : NULL);
		if (nin > 0)
		{
			appendStringInfoString(&msg, " in input: ");
			append_counts(&msg, counts);
		}
	}
	if (p->scan_output && req->output != NULL)
	{
		scan_pii(fout, req->output, req->output_len);
		nout = pii_field_details(&buf, set, "output", req->output, fout, p->pii_types, counts,
								 mask ? &out->output_masks : NULL);
		if (nout > 0)
		{
			appendStringInfo(&msg, "%s in output: ", nin > 0 ? ";" : "");
			append_counts(&msg, counts);
		}
	}
	if (nin + nout == 0)
		return;
	appendStringInfo(&buf, ", \"masked\": %s}", mask && req->ingestion ? "true" : "false");
	add_violation(out, p, msg.data, buf.data);
}

static void
eval_model(const CompiledPolicy *p, const PolicyRequest *req, PolicyOutcome *out)
{
	StringInfoData buf;
	const NameRule *r;

	initStringInfo(&buf);
	if (req->model == NULL)
	{
		if (p->require_model)
			add_violation(out, p, pstrdup("no model given and the policy requires one"),
						  pstrdup("{\"model\": null}"));
		return;
	}
	appendStringInfoString(&buf, "{\"model\": ");
	escape_json(&buf, req->model);
	if ((r = list_match(&p->deny, req->model, true)) != NULL)
	{
		appendStringInfoString(&buf, ", \"rule\": ");
		escape_json(&buf, psprintf("deny:%s%s", r->name, r->prefix ? "*" : ""));
		appendStringInfoChar(&buf, '}');
		add_violation(out, p, psprintf("model \"%s\" is on the deny list", req->model), buf.data);
	}
	else if (p->allow.n > 0 && list_match(&p->allow, req->model, true) == NULL)
	{
		appendStringInfoString(&buf, ", \"rule\": \"allow\"}");
		add_violation(out, p, psprintf("model \"%s\" is not on the allow list", req->model), buf.data);
	}
}

static void
eval_tokens(const CompiledPolicy *p, const PolicyRequest *req, PolicyOutcome *out)
{
	StringInfoData msg,
				buf;
	int64		total = req->total_tokens;

	if (total < 0 && req->prompt_tokens >= 0 && req->completion_tokens >= 0)
		total = req->prompt_tokens + req->completion_tokens;
	if (total < 0 && req->prompt_tokens < 0 && req->completion_tokens < 0)
	{
		if (!req->ingestion)
			out->warnings = lappend(out->warnings,
									psprintf("policy \"%s\" (token_limit) not evaluated: no token counts given (metadata keys prompt_tokens, completion_tokens, total_tokens)",
											 p->name));
		return;
	}
	initStringInfo(&msg);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
#define CHECK_LIMIT(value, limit, label, key) \
	if ((limit) >= 0 && (value) > (limit)) \
	{ \
		appendStringInfo(&msg, "%s%s tokens " INT64_FORMAT " exceed the limit of " INT64_FORMAT, \
						 msg.len > 0 ? "; " : "", label, (value), (limit)); \
		appendStringInfo(&buf, "%s\"" key "\": " INT64_FORMAT ", \"max_" key "\": " INT64_FORMAT, \
						 buf.len > 1 ? ", " : "", (value), (limit)); \
	}
	CHECK_LIMIT(total, p->max_total, "total", "total_tokens");
	CHECK_LIMIT(req->prompt_tokens, p->max_prompt, "prompt", "prompt_tokens");
	CHECK_LIMIT(req->completion_tokens, p->max_completion, "completion", "completion_tokens");
#undef CHECK_LIMIT
	if (msg.len == 0)
		return;
	appendStringInfoChar(&buf, '}');
	add_violation(out, p, msg.data, buf.data);
}

static void
eval_tools(const CompiledPolicy *p, const PolicyRequest *req, PolicyOutcome *out)
{
	StringInfoData msg,
				denied,
				outside;

	initStringInfo(&msg);
	initStringInfo(&denied);
	initStringInfo(&outside);
	for (int i = 0; i < req->ntools; i++)
	{
		const char *tool = req->tools[i];
		StringInfo	into;

		if (list_match(&p->deny, tool, false) != NULL)
			into = &denied;
		else if (p->allow.n > 0 && list_match(&p->allow, tool, false) == NULL)
			into = &outside;
		else
			continue;
		if (into->len > 0)
			appendStringInfoString(into, ", ");
		escape_json(into, tool);
		appendStringInfo(&msg, "%s%s (%s)", msg.len > 0 ? ", " : "", tool,
						 into == &denied ? "denied" : "not on the allow list");
	}
	if (msg.len == 0)
		return;
	add_violation(out, p, psprintf("tool not permitted: %s", msg.data),
				  psprintf("{\"denied\": [%s], \"not_allowed\": [%s]}", denied.data, outside.data));
}

/*
 * Evaluate every active policy that applies to the request's agent (the
 * caller has synced invalidations).  The content policies are pure
 * computation; the windowed ones may run a query (an agent's first trace
 * since start rebuilds its counters), which may process invalidations and
 * flush the cache: the set evaluated is pinned for the whole evaluation, so
 * every policy pointer stays valid and one consistent set of policies
 * decides.  The outcome holds copies.
 */
void
execlave_policy_evaluate(const PolicyRequest *req, PolicyOutcome *out)
{
	PiiFound	fin = {0},
				fout = {0};
	const CompiledPolicy **windowed = NULL;
	int			nwindowed = 0;
	PolicySet  *set;
	const int  *applying;
	int			napplying;

	memset(out, 0, sizeof(*out));
	set = execlave_policies_pin();
	applying = execlave_policies_for(set, &req->agent_id, &napplying);
	for (int k = 0; k < napplying; k++)
	{
		const CompiledPolicy *p = &set->policies[applying[k]];

		switch (p->type)
		{
			case POLICY_RATE_LIMIT:
			case POLICY_COST_LIMIT:
			case POLICY_BUDGET_CAP:
				/* after the others: a request they refuse is not counted */
				if (windowed == NULL)
					windowed = palloc(sizeof(CompiledPolicy *) * set->n);
				windowed[nwindowed++] = p;
				break;
			case POLICY_PROMPT_INJECTION:
				eval_prompt_injection(p, req, out);
				break;
			case POLICY_PII_DETECTION:
				eval_pii(set, p, req, &fin, &fout, out);
				break;
			case POLICY_MODEL_ALLOWLIST:
				eval_model(p, req, out);
				break;
			case POLICY_TOKEN_LIMIT:
				eval_tokens(p, req, out);
				break;
			case POLICY_TOOL_ACCESS:
				eval_tools(p, req, out);
				break;
			case POLICY_NUM_TYPES:
				break;
		}
	}
	if (nwindowed > 0)
		execlave_limits_evaluate(req, windowed, nwindowed, out);
	/* (an error skips this: the end of the transaction drops the pin) */
	execlave_policies_unpin(set);

	/*
	 * At ingestion require_approval behaves like flag: a trace records what
	 * already happened, there is nothing left to approve.
	 */
	if (req->ingestion && out->needs_approval)
	{
		ListCell   *lc;

		foreach(lc, out->violations)
		{
			PolicyViolation *v = lfirst(lc);

			if (v->mode == MODE_REQUIRE_APPROVAL)
				v->mode = MODE_FLAG;
		}
		out->needs_approval = false;
		out->flagged = true;
	}
}

