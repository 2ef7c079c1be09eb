/*
 * policy.c
 *		The policy engine: compiled-policy cache, evaluation, recording of
 *		violations, masking, the policies write trigger and execlave_enforce.
 *
 * Cache: each backend keeps every active policy compiled (patterns turned
 * into matchers once) in one memory context, sorted by name.  It is loaded
 * on first use with a heap scan under the latest snapshot and dropped by a
 * relcache callback when execlave.policies changes (the table has the same
 * invalidate_cache statement trigger as agents and grants), with the same
 * generation-counter guard against an invalidation arriving mid-load.
 *
 * Evaluation (execlave_policy_evaluate) pins the set of policies it works
 * on: the windowed policies may run a query (an agent's counters are rebuilt
 * from the traces on first use), whose locks process invalidations, and a
 * flush then only retires the pinned set; it is freed when the evaluation
 * unpins it, or at the end of the transaction if an error came first.  The
 * outcome it returns holds copies.  Text is scanned once per
 * field for PII (all types, then filtered per policy) and once per
 * prompt-injection policy (each has its own matcher).
 *
 * Recording: violations go to execlave.record_violations(jsonb), a SECURITY
 * DEFINER function granted to nobody and called here through fmgr (no
 * EXECUTE check), in the caller's transaction for log and flag outcomes.  A
 * blocked request's violations are handed to recorder.c, which commits them
 * in a separate transaction before the error is raised.
 */
#include "policy.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hmac.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "storage/lmgr.h"

PG_FUNCTION_INFO_V1(execlave_policies_before_write);
PG_FUNCTION_INFO_V1(execlave_validate_policy);
PG_FUNCTION_INFO_V1(execlave_enforce);
PG_FUNCTION_INFO_V1(execlave_enforce_strict);

/* Most positions listed per PII type or pattern in violation details. */
#define MAX_POSITIONS	10

/* ---------------------------------------------------------------------
 * The compiled-policy cache
 * ---------------------------------------------------------------------
 */
/*
 * One loaded set of compiled policies.  An evaluation pins the set it works
 * on: a flush (the relcache callback) drops a pinned set from the cache but
 * only retires it, and the set is deleted when its last pin goes, so an
 * evaluation never reads freed memory even when something it calls (the
 * windowed counters' rebuild, through SPI) processes invalidations.  A pin
 * that an error left behind is dropped at the end of the transaction.
 */
typedef struct PolicySet
{
	MemoryContext cxt;			/* holds the set and every policy in it */
	CompiledPolicy *policies;	/* sorted by name */
	int			n;
	bool		have_hash_key;
	uint8		hash_key[32];
	int			pins;
	struct PolicySet *next_retired;
} PolicySet;

static PolicySet *current_set = NULL;	/* NULL: not loaded */
static PolicySet *retired_sets = NULL;	/* flushed while pinned */
static Oid	policies_relid = InvalidOid;
static uint64 policy_generation = 0;

/* Delete every retired set no evaluation holds (all of them when forced). */
static void
free_retired_sets(bool force)
{
	PolicySet **link = &retired_sets;

	while (*link != NULL)
	{
		PolicySet  *set = *link;

		if (set->pins > 0 && !force)
		{
			link = &set->next_retired;
			continue;
		}
		*link = set->next_retired;
		MemoryContextDelete(set->cxt);
	}
}

/* Drop the compiled policies (a pinned set is retired, not freed). */
static void
policy_cache_flush(bool forget_oids)
{
	PolicySet  *set = current_set;

	current_set = NULL;
	if (set != NULL)
	{
		if (set->pins > 0)
		{
			set->next_retired = retired_sets;
			retired_sets = set;
		}
		else
			MemoryContextDelete(set->cxt);
	}
	if (forget_oids)
		policies_relid = InvalidOid;
	policy_generation++;
}

/* Relcache callback: flush when execlave.policies (or everything) changes. */
static void
policy_cache_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || (OidIsValid(policies_relid) && relid == policies_relid))
		policy_cache_flush(relid == InvalidOid);
}

/* End of transaction: no evaluation runs any more; drop pins errors left. */
static void
policy_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (current_set != NULL)
				current_set->pins = 0;
			free_retired_sets(true);
			break;
		default:
			break;
	}
}

/* Called once per process from _PG_init. */
void
execlave_policy_init(void)
{
	CacheRegisterRelcacheCallback(policy_cache_relcache_cb, (Datum) 0);
	RegisterXactCallback(policy_xact_callback, NULL);
}

/* State of one load. */
typedef struct PolicyLoad
{
	MemoryContext cxt;
	List	   *list;			/* of CompiledPolicy * */
	AttrNumber	att_id,
				att_name,
				att_type,
				att_mode,
				att_config,
				att_agents,
				att_active;
} PolicyLoad;

/* Error context while compiling a stored policy: fail closed, but say which. */
static void
loading_policy_context(void *arg)
{
	errcontext("while loading policy \"%s\" (fix or disable it)", (const char *) arg);
}

/* Heap-scan callback: compile one active policy. */
static void
load_policy_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	PolicyLoad *load = (PolicyLoad *) arg;
	ErrorContextCallback errcb;
	bool		isnull;
	Datum		d;
	CompiledPolicy *p;
	bool		alias;
	MemoryContext old;

	d = heap_getattr(tup, load->att_active, desc, &isnull);
	if (isnull || !DatumGetBool(d))
		return;

	old = MemoryContextSwitchTo(load->cxt);
	p = palloc0(sizeof(CompiledPolicy));
	memcpy(&p->id, DatumGetUUIDP(heap_getattr(tup, load->att_id, desc, &isnull)), sizeof(pg_uuid_t));
	p->name = TextDatumGetCString(heap_getattr(tup, load->att_name, desc, &isnull));
	p->mode = execlave_policy_mode(TextDatumGetCString(heap_getattr(tup, load->att_mode, desc, &isnull)),
								   &alias);
	d = heap_getattr(tup, load->att_agents, desc, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		p->agents = palloc(sizeof(pg_uuid_t) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				memcpy(&p->agents[p->nagents++], DatumGetUUIDP(elems[i]), sizeof(pg_uuid_t));
	}
	errcb.callback = loading_policy_context;
	errcb.arg = p->name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	execlave_policy_compile(p,
							execlave_policy_type(TextDatumGetCString(heap_getattr(tup, load->att_type, desc, &isnull))),
							DatumGetJsonbP(heap_getattr(tup, load->att_config, desc, &isnull)),
							load->cxt);
	error_context_stack = errcb.previous;
	load->list = lappend(load->list, p);
	MemoryContextSwitchTo(old);
}

/* Heap-scan callback: read the PII hash key into the set being loaded. */
static void
load_hash_key(HeapTuple tup, TupleDesc desc, void *arg)
{
	PolicySet  *set = (PolicySet *) arg;
	bool		isnull;
	Datum		d = heap_getattr(tup, 1, desc, &isnull);
	bytea	   *key;

	if (isnull)
		return;
	key = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(key) == sizeof(set->hash_key))
	{
		memcpy(set->hash_key, VARDATA_ANY(key), sizeof(set->hash_key));
		set->have_hash_key = true;
	}
}

static int
policy_name_cmp(const void *a, const void *b)
{
	return strcmp(((const CompiledPolicy *) a)->name, ((const CompiledPolicy *) b)->name);
}

/* The current set of active policies, loaded when needed (not pinned). */
static PolicySet *
current_policies(void)
{
	while (current_set == NULL)
	{
		uint64		gen;
		PolicyLoad	load;
		Oid			relid;
		Relation	rel;
		TupleDesc	desc;
		PolicySet  *set;
		ListCell   *lc;
		int			i = 0;

		relid = execlave_relid("policies");
		policies_relid = relid;
		rel = table_open(relid, AccessShareLock);	/* may flush; harmless here */
		desc = RelationGetDescr(rel);
		load.att_id = execlave_tupdesc_attnum(desc, "id");
		load.att_name = execlave_tupdesc_attnum(desc, "name");
		load.att_type = execlave_tupdesc_attnum(desc, "type");
		load.att_mode = execlave_tupdesc_attnum(desc, "mode");
		load.att_config = execlave_tupdesc_attnum(desc, "config");
		load.att_agents = execlave_tupdesc_attnum(desc, "agent_ids");
		load.att_active = execlave_tupdesc_attnum(desc, "active");
		table_close(rel, NoLock);

		gen = policy_generation;
		load.cxt = AllocSetContextCreate(CurrentMemoryContext, "execlave policies",
										 ALLOCSET_SMALL_SIZES);
		load.list = NIL;
		set = MemoryContextAllocZero(load.cxt, sizeof(PolicySet));
		set->cxt = load.cxt;
		execlave_heap_scan(relid, load_policy_row, &load);
		execlave_heap_scan(execlave_relid("pii_hash_key"), load_hash_key, set);
		UnlockRelationOid(relid, AccessShareLock);

		if (gen != policy_generation)
		{
			/* an invalidation arrived during the load: start over */
			MemoryContextDelete(load.cxt);
			continue;
		}
		MemoryContextSetParent(load.cxt, CacheMemoryContext);
		set->n = list_length(load.list);
		set->policies = MemoryContextAlloc(load.cxt, sizeof(CompiledPolicy) * Max(set->n, 1));
		foreach(lc, load.list)
			set->policies[i++] = *(CompiledPolicy *) lfirst(lc);
		qsort(set->policies, set->n, sizeof(CompiledPolicy), policy_name_cmp);
		current_set = set;
	}
	return current_set;
}

static int
uuid_order(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t));
}

/* Does policy p apply to the agent? */
static bool
policy_applies(const CompiledPolicy *p, const pg_uuid_t *agent)
{
	return p->nagents == 0 ||
		bsearch(agent, p->agents, p->nagents, sizeof(pg_uuid_t), uuid_order) != NULL;
}

/* Is any active policy in force for this agent?  (The ingestion fast path.) */
bool
execlave_policies_apply_to(const pg_uuid_t *agent)
{
	PolicySet  *set = current_policies();

	for (int i = 0; i < set->n; i++)
		if (policy_applies(&set->policies[i], agent))
			return true;
	return false;
}

/* ---------------------------------------------------------------------
 * Evaluation helpers
 * ---------------------------------------------------------------------
 */

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

/* Append one violation of p, with the given mode, to the outcome. */
void
execlave_add_violation(PolicyOutcome *out, const CompiledPolicy *p, PolicyMode mode,
					   char *message, char *details)
{
	PolicyViolation *v = palloc0(sizeof(PolicyViolation));

	memcpy(&v->policy_id, &p->id, sizeof(pg_uuid_t));
	v->policy_name = pstrdup(p->name);
	v->type = p->type;
	v->mode = mode;
	v->message = message;
	v->details = details;
	out->violations = lappend(out->violations, v);
	if (mode == MODE_BLOCK)
		out->blocked = true;
	else
	{
		if (mode == MODE_FLAG)
			out->flagged = true;
		out->warnings = lappend(out->warnings,
								psprintf("policy \"%s\" (%s, %s): %s", p->name,
										 execlave_policy_type_names[p->type],
										 execlave_policy_mode_names[mode], message));
	}
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

	memset(out, 0, sizeof(*out));
	set = current_policies();
	set->pins++;
	for (int i = 0; i < set->n; i++)
	{
		const CompiledPolicy *p = &set->policies[i];

		if (!policy_applies(p, &req->agent_id))
			continue;
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
		execlave_windows_evaluate(req, windowed, nwindowed, out);
	/* (an error skips this: the end of the transaction drops the pin) */
	set->pins--;
	if (retired_sets != NULL)
		free_retired_sets(false);
}

/* ---------------------------------------------------------------------
 * Masking
 * ---------------------------------------------------------------------
 */
static int
mask_span_cmp(const ListCell *a, const ListCell *b)
{
	const MaskSpan *x = lfirst(a);
	const MaskSpan *y = lfirst(b);

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->len > y->len ? -1 : (x->len < y->len);
}

/*
 * text with every span replaced by its [TYPE_REDACTED] token; overlapping
 * spans (from several policies) merge, the first one's token standing.
 */
char *
execlave_apply_masks(const char *text, size_t len, List *spans, size_t *newlen)
{
	StringInfoData buf;
	size_t		pos = 0;
	ListCell   *lc;

	list_sort(spans, mask_span_cmp);
	initStringInfo(&buf);
	foreach(lc, spans)
	{
		const MaskSpan *m = lfirst(lc);

		if (m->start + m->len <= pos)
			continue;			/* inside the previous span */
		if (m->start >= pos)
		{
			appendBinaryStringInfo(&buf, text + pos, m->start - pos);
			appendStringInfoString(&buf, pii_mask_tokens[m->type]);
		}
		pos = m->start + m->len;
	}
	appendBinaryStringInfo(&buf, text + pos, len - pos);
	*newlen = buf.len;
	return buf.data;
}

/* ---------------------------------------------------------------------
 * Recording
 * ---------------------------------------------------------------------
 */

/* JSON array of violation records for execlave.record_violations(). */
char *
execlave_violations_json(const PolicyRequest *req, List *violations)
{
	StringInfoData buf;
	ListCell   *lc;
	char	   *agent_id = DatumGetCString(DirectFunctionCall1(uuid_out,
															   UUIDPGetDatum(&req->agent_id)));
	char	   *role = execlave_actor_name();

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, violations)
	{
		PolicyViolation *v = lfirst(lc);
		pg_uuid_t	pid = v->policy_id;

		appendStringInfo(&buf, "%s{\"policy_id\": \"%s\", \"policy_name\": ",
						 foreach_current_index(lc) > 0 ? ", " : "",
						 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid))));
		escape_json(&buf, v->policy_name);
		appendStringInfo(&buf, ", \"policy_type\": \"%s\", \"mode\": \"%s\", \"agent_id\": \"%s\", \"agent_key\": ",
						 execlave_policy_type_names[v->type], execlave_policy_mode_names[v->mode],
						 agent_id);
		escape_json(&buf, req->agent_key);
		appendStringInfoString(&buf, ", \"trace_id\": ");
		if (req->trace_id != NULL)
			escape_json(&buf, req->trace_id);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfo(&buf, ", \"phase\": \"%s\", \"message\": ",
						 req->ingestion ? "ingestion" : "pre_execution");
		escape_json(&buf, v->message);
		appendStringInfo(&buf, ", \"details\": %s, \"recorded_by\": ", v->details);
		escape_json(&buf, role ? role : "unknown");
		if (v->pause_reason != NULL)
		{
			appendStringInfoString(&buf, ", \"pause_reason\": ");
			escape_json(&buf, v->pause_reason);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * Call execlave.record_violations(json) in the current transaction.  The
 * function is SECURITY DEFINER and granted to no role: fmgr runs it as its
 * owner without an EXECUTE check, so only execlave's C code can record.
 */
void
execlave_record_violations(const char *json)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];

	args[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	execlave_call_internal("record_violations", 1, argtypes, args);
}

/*
 * Call the internal function execlave.<name>(args) in the current
 * transaction.  Such functions are SECURITY DEFINER and granted to no role;
 * fmgr runs them as their owner without an EXECUTE check.
 */
void
execlave_call_internal(const char *name, int nargs, Oid *argtypes, Datum *args)
{
	Oid			fn;
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 4);

	Assert(nargs <= 4);
	fn = LookupFuncName(list_make2(makeString(EXECLAVE_SCHEMA), makeString(pstrdup(name))),
						nargs, argtypes, false);
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = false;
	}
	(void) FunctionCallInvoke(fcinfo);
}

/* ---------------------------------------------------------------------
 * execlave.policies write trigger and validate_policy()
 * ---------------------------------------------------------------------
 */

/* Compile into a scratch context and throw the result away. */
static void
validate_config(PolicyType type, Jsonb *config)
{
	MemoryContext tmp = AllocSetContextCreate(CurrentMemoryContext, "execlave policy check",
											  ALLOCSET_SMALL_SIZES);
	CompiledPolicy p;

	memset(&p, 0, sizeof(p));
	execlave_policy_compile(&p, type, config, tmp);
	MemoryContextDelete(tmp);
}

/* execlave.validate_policy(type text, config jsonb) RETURNS void */
Datum
execlave_validate_policy(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "type" : "config")));
	validate_config(execlave_policy_type(text_to_cstring(PG_GETARG_TEXT_PP(0))),
					PG_GETARG_JSONB_P(1));
	PG_RETURN_VOID();
}

/*
 * BEFORE INSERT OR UPDATE row trigger on execlave.policies: validate type,
 * mode and config; canonicalize mode aliases; check, sort and de-duplicate
 * agent_ids (empty -> NULL); stamp created_at/by and updated_at/by.
 */
Datum
execlave_policies_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	bool		isnull;
	Datum		d;
	PolicyType	type;
	bool		alias;
	int			cols[6];
	Datum		vals[6];
	bool		nulls[6] = {0};
	int			n = 0;
	char	   *role = execlave_actor_name();

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("execlave.policies_before_write() must be a BEFORE ROW trigger")));
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
		: trigdata->tg_trigtuple;

	d = heap_getattr(tuple, execlave_tupdesc_attnum(desc, "type"), desc, &isnull);
	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("type must not be NULL")));
	type = execlave_policy_type(TextDatumGetCString(d));

	d = heap_getattr(tuple, execlave_tupdesc_attnum(desc, "mode"), desc, &isnull);
	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("mode must not be NULL")));
	(void) execlave_policy_mode(TextDatumGetCString(d), &alias);
	if (alias)
	{
		cols[n] = execlave_tupdesc_attnum(desc, "mode");
		vals[n++] = CStringGetTextDatum("log");
	}

	d = heap_getattr(tuple, execlave_tupdesc_attnum(desc, "config"), desc, &isnull);
	if (isnull)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("config must not be NULL")));
	validate_config(type, DatumGetJsonbP(d));
	if (POLICY_IS_WINDOWED(type) && !execlave_preloaded())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s policies require execlave to be loaded via shared_preload_libraries",
						execlave_policy_type_names[type]),
				 errhint("Their counters live in shared memory: add execlave to shared_preload_libraries and restart the server.")));

	d = heap_getattr(tuple, execlave_tupdesc_attnum(desc, "agent_ids"), desc, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *enulls;
		int			ne,
					nd = 0;

		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("agent_ids must be a one-dimensional array")));
		deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &enulls, &ne);
		execlave_agent_cache_sync();
		for (int i = 0; i < ne; i++)
		{
			const ExeclaveAgent *a;

			if (enulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("agent_ids must not contain NULL")));
			a = execlave_agent_lookup_id(DatumGetUUIDP(elems[i]));
			if (a == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_EXECLAVE_UNKNOWN_AGENT),
						 errmsg("agent \"%s\" does not exist",
								DatumGetCString(DirectFunctionCall1(uuid_out, elems[i]))),
						 errhint("A policy can only name registered agents.")));
		}
		/* sort and de-duplicate */
		for (int i = 1; i < ne; i++)
			for (int j = i; j > 0 && uuid_order(DatumGetUUIDP(elems[j - 1]), DatumGetUUIDP(elems[j])) > 0; j--)
			{
				Datum		t = elems[j];

				elems[j] = elems[j - 1];
				elems[j - 1] = t;
			}
		for (int i = 0; i < ne; i++)
			if (nd == 0 || uuid_order(DatumGetUUIDP(elems[nd - 1]), DatumGetUUIDP(elems[i])) != 0)
				elems[nd++] = elems[i];
		cols[n] = execlave_tupdesc_attnum(desc, "agent_ids");
		if (nd == 0)
		{
			nulls[n] = true;
			vals[n++] = (Datum) 0;
		}
		else
			vals[n++] = PointerGetDatum(construct_array(elems, nd, UUIDOID, UUID_LEN, false,
														TYPALIGN_CHAR));
	}

	cols[n] = execlave_tupdesc_attnum(desc, "updated_at");
	vals[n++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	cols[n] = execlave_tupdesc_attnum(desc, "updated_by");
	vals[n++] = CStringGetTextDatum(role);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		cols[n] = execlave_tupdesc_attnum(desc, "created_at");
		vals[n++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
		cols[n] = execlave_tupdesc_attnum(desc, "created_by");
		vals[n++] = CStringGetTextDatum(role);
	}
	else
	{
		HeapTuple	old = trigdata->tg_trigtuple;

		cols[n] = execlave_tupdesc_attnum(desc, "created_at");
		vals[n] = heap_getattr(old, cols[n], desc, &isnull);
		n++;
		cols[n] = execlave_tupdesc_attnum(desc, "created_by");
		vals[n] = heap_getattr(old, cols[n], desc, &isnull);
		n++;
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(tuple, desc, n, cols, vals, nulls));
}

/* ---------------------------------------------------------------------
 * execlave_enforce()
 * ---------------------------------------------------------------------
 */

/* A token count from metadata: a non-negative integer or absent. */
static int64
metadata_tokens(Jsonb *metadata, const char *key)
{
	JsonbValue *v;
	double		d;

	if (metadata == NULL)
		return -1;
	v = getKeyJsonValueFromContainer(&metadata->root, key, strlen(key), NULL);
	if (v == NULL || v->type == jbvNull)
		return -1;
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata key \"%s\" must be a number", key)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (!(d >= 0) || d != floor(d) || d > 9007199254740992.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata key \"%s\" must be a non-negative whole number", key)));
	return (int64) d;
}

/* Append the answer's violation objects. */
static void
append_answer_violations(StringInfo buf, List *violations)
{
	ListCell   *lc;

	foreach(lc, violations)
	{
		PolicyViolation *v = lfirst(lc);
		pg_uuid_t	pid = v->policy_id;

		appendStringInfo(buf, "%s{\"policy_id\": \"%s\", \"policy_name\": ",
						 buf->data[buf->len - 1] == '[' ? "" : ", ",
						 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid))));
		escape_json(buf, v->policy_name);
		appendStringInfo(buf, ", \"type\": \"%s\", \"mode\": \"%s\", \"message\": ",
						 execlave_policy_type_names[v->type], execlave_policy_mode_names[v->mode]);
		escape_json(buf, v->message);
		appendStringInfo(buf, ", \"details\": %s}", v->details);
	}
}

/* Shared body of execlave_enforce and execlave_enforce_strict. */
static Datum
enforce(FunctionCallInfo fcinfo, bool strict)
{
	const ExeclaveAgent *agent;
	PolicyRequest req;
	PolicyOutcome out;
	StringInfoData buf;
	ListCell   *lc;
	bool		recorded = false;
	char	   *system_message = NULL;
	Jsonb	   *metadata = PG_ARGISNULL(5) ? NULL : PG_GETARG_JSONB_P(5);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("input must not be NULL"),
				 errhint("Pass the text that will be sent to the model ('' when there is none).")));
	if (!PG_ARGISNULL(3))
	{
		Numeric		cost = PG_GETARG_NUMERIC(3);

		if (numeric_is_nan(cost) || numeric_is_inf(cost) ||
			DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(cost),
											 DirectFunctionCall1(int4_numeric, Int32GetDatum(0)))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("estimated_cost must be a finite number not below 0")));
	}
	if (metadata != NULL && (!JB_ROOT_IS_OBJECT(metadata) || JB_ROOT_IS_SCALAR(metadata)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));

	memset(&req, 0, sizeof(req));
	req.cost_nanos = PG_ARGISNULL(3) ? -1 : execlave_numeric_to_nanos(PG_GETARG_NUMERIC(3));
	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);
	if (strict)
		execlave_check_agent_usable(agent);
	else if (agent->status == AGENT_PAUSED || agent->status == AGENT_ARCHIVED)
		system_message = agent->status == AGENT_PAUSED
			? psprintf("agent \"%s\" is paused%s%s", agent->key,
					   agent->pause_reason ? ": " : "", agent->pause_reason ? agent->pause_reason : "")
			: psprintf("agent \"%s\" is archived", agent->key);
	memcpy(&req.agent_id, &agent->id, sizeof(pg_uuid_t));
	strlcpy(req.agent_key, agent->key, sizeof(req.agent_key));

	if (system_message != NULL)
	{
		/* refused before any policy runs, as the hosted product does */
		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"allowed\": false, \"violations\": [{\"policy_id\": null, \"policy_name\": null, \"type\": \"system\", \"mode\": \"block\", \"message\": ");
		escape_json(&buf, system_message);
		appendStringInfoString(&buf, "}], \"warnings\": []}");
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	}

	{
		text	   *input = PG_GETARG_TEXT_PP(1);

		req.input = VARDATA_ANY(input);
		req.input_len = VARSIZE_ANY_EXHDR(input);
	}
	if (!PG_ARGISNULL(2))
		req.model = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (!PG_ARGISNULL(4))
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(4);
		Datum	   *elems;
		bool	   *nulls;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &req.ntools);
		req.tools = palloc(sizeof(char *) * Max(req.ntools, 1));
		for (int i = 0; i < req.ntools; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("tools must not contain NULL")));
			req.tools[i] = TextDatumGetCString(elems[i]);
		}
	}
	req.prompt_tokens = metadata_tokens(metadata, "prompt_tokens");
	req.completion_tokens = metadata_tokens(metadata, "completion_tokens");
	req.total_tokens = metadata_tokens(metadata, "total_tokens");

	execlave_policy_evaluate(&req, &out);

	if (out.violations != NIL)
	{
		char	   *json = execlave_violations_json(&req, out.violations);

		if (RecoveryInProgress())
			out.warnings = lappend(out.warnings,
								   pstrdup("violations not recorded: the server is a read-only standby"));
		else if (out.blocked && strict)
		{
			execlave_record_durably(json);
			recorded = true;
		}
		else if (XactReadOnly)
		{
			/* a read-only transaction cannot write them itself */
			execlave_record_durably(json);
			recorded = true;
		}
		else
		{
			execlave_record_violations(json);
			recorded = true;
		}
	}
	if (strict && out.blocked)
	{
		StringInfoData detail;

		initStringInfo(&detail);
		appendStringInfoChar(&detail, '[');
		append_answer_violations(&detail, out.violations);
		appendStringInfoChar(&detail, ']');
		ereport(ERROR,
				(errcode(ERRCODE_EXECLAVE_POLICY_BLOCKED),
				 errmsg("request blocked by policy for agent \"%s\"", req.agent_key),
				 errdetail_internal("%s", detail.data),
				 errhint("%s", recorded ? "The violations are recorded in execlave.violations."
						 : "The violations could not be recorded.")));
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"allowed\": %s, \"violations\": [", out.blocked ? "false" : "true");
	append_answer_violations(&buf, out.violations);
	appendStringInfoString(&buf, "], \"warnings\": [");
	foreach(lc, out.warnings)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, lfirst(lc));
	}
	appendStringInfoString(&buf, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* execlave_enforce(agent, input, model, estimated_cost, tools, metadata) RETURNS jsonb */
Datum
execlave_enforce(PG_FUNCTION_ARGS)
{
	return enforce(fcinfo, false);
}

/* execlave_enforce_strict(...): raises EX001 / EX003 instead of answering allowed=false. */
Datum
execlave_enforce_strict(PG_FUNCTION_ARGS)
{
	return enforce(fcinfo, true);
}
