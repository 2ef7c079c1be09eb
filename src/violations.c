/*
 * violations.c
 *		What a policy outcome holds and what becomes of it: a violation added
 *		to the outcome (with copies of the policy fields it needs, and a
 *		warning for log and flag modes), the JSON of violation records, their
 *		recording through execlave.record_violations() (sqlcall.c) in the
 *		caller's transaction (blocked requests: recorder.c commits them in a
 *		separate one), and the masking of PII spans in stored traces.
 */

#include "violations.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "apikeys.h"
#include "pii.h"
#include "policy.h"
#include "catalog.h"
#include "sqlcall.h"



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
	v->approval_timeout = p->approval_timeout;
	out->violations = lappend(out->violations, v);
	if (mode == MODE_BLOCK)
		out->blocked = true;
	else
	{
		if (mode == MODE_FLAG)
			out->flagged = true;
		else if (mode == MODE_REQUIRE_APPROVAL)
			out->needs_approval = true;
		out->warnings = lappend(out->warnings,
								psprintf("policy \"%s\" (%s, %s): %s", p->name,
										 execlave_policy_type_names[p->type],
										 execlave_policy_mode_names[mode], message));
	}
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
 * Record violations (a JSON array for execlave.record_violations) in the
 * current transaction: the recorder's commit of a blocked request's, and the
 * fallback of execlave_insert_violations().
 */
void
execlave_record_violations(const char *json)
{
	execlave_sql_record_violations(json);
}

/* ---------------------------------------------------------------------
 * Direct recording
 * ---------------------------------------------------------------------
 */

/* Columns of execlave.violations written here, by position in viol_columns[]. */
enum
{
	VC_ID,
	VC_POLICY_ID,
	VC_POLICY_NAME,
	VC_POLICY_TYPE,
	VC_MODE,
	VC_AGENT_ID,
	VC_AGENT_KEY,
	VC_TRACE_ID,
	VC_PHASE,
	VC_MESSAGE,
	VC_DETAILS,
	VC_RECORDED_BY,
	VC_CREATED_AT,
	NUM_VC
};

static const char *const viol_columns[NUM_VC] = {
	"id", "policy_id", "policy_name", "policy_type", "mode", "agent_id", "agent_key",
	"trace_id", "phase", "message", "details", "recorded_by", "created_at"
};

/* The table, its identity sequence and column numbers; reset by any relcache invalidation of it. */
static Oid	viol_relid = InvalidOid;
static Oid	viol_seqid = InvalidOid;
static AttrNumber viol_att[NUM_VC];
static bool viol_callback = false;

/*
 * The table's CHECK constraints, parsed and planned once (as ExecConstraints
 * would at every statement), in the order of its relcache entry.
 */
static MemoryContext viol_cxt = NULL;
static Expr **viol_checks = NULL;
static int	viol_nchecks = 0;

static void
viol_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == viol_relid)
		viol_relid = InvalidOid;
}

/*
 * Can rows go straight into rel?  Only while it is the plain table the
 * extension created: no insert trigger, no row-level security, no
 * partitioning.  Otherwise the SQL function inserts (and fires them).
 */
static bool
viol_direct_ok(Relation rel)
{
	TriggerDesc *td = rel->trigdesc;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relrowsecurity)
		return false;
	if (td != NULL && (td->trig_insert_before_row || td->trig_insert_after_row ||
					   td->trig_insert_instead_row || td->trig_insert_before_statement ||
					   td->trig_insert_after_statement || td->trig_insert_new_table))
		return false;
	return true;
}

/* Set viol_relid, viol_seqid and viol_att[] for rel (open). */
static void
viol_memo(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (!viol_callback)
	{
		CacheRegisterRelcacheCallback(viol_relcache_cb, (Datum) 0);
		viol_callback = true;
	}
	for (int i = 0; i < NUM_VC; i++)
		viol_att[i] = execlave_tupdesc_attnum(desc, viol_columns[i]);
	viol_seqid = getIdentitySequence(RelationGetRelid(rel), viol_att[VC_ID], false);

	if (viol_cxt == NULL)
		viol_cxt = AllocSetContextCreate(CacheMemoryContext, "execlave violations",
										 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(viol_cxt);
	viol_checks = NULL;
	viol_nchecks = 0;
	if (desc->constr != NULL && desc->constr->num_check > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(viol_cxt);
		int			n = desc->constr->num_check;

		viol_checks = palloc(sizeof(Expr *) * n);
		for (int i = 0; i < n; i++)
			viol_checks[i] = expression_planner(stringToNode(desc->constr->check[i].ccbin));
		viol_nchecks = n;
		MemoryContextSwitchTo(old);
	}
	viol_relid = RelationGetRelid(rel);
}

/*
 * The policy.violated event of a flag or block violation, as
 * execlave.record_violations() emits it.
 */
static void
viol_emit_event(const PolicyRequest *req, const PolicyViolation *v, int64 id,
				const char *policy_id, const char *agent_id, const char *phase)
{
	StringInfoData buf;
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	Datum		args[3];

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"violation_id\": " INT64_FORMAT ", \"policy_id\": \"%s\", \"policy_name\": ",
					 id, policy_id);
	escape_json(&buf, v->policy_name);
	appendStringInfo(&buf, ", \"policy_type\": \"%s\", \"mode\": \"%s\", \"phase\": \"%s\", "
					 "\"agent_id\": \"%s\", \"agent_key\": ",
					 execlave_policy_type_names[v->type], execlave_policy_mode_names[v->mode],
					 phase, agent_id);
	escape_json(&buf, req->agent_key);
	appendStringInfoString(&buf, ", \"trace_id\": ");
	if (req->trace_id != NULL)
		escape_json(&buf, req->trace_id);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"message\": ");
	escape_json(&buf, v->message);
	appendStringInfoChar(&buf, '}');

	args[0] = CStringGetTextDatum("policy.violated");
	args[1] = UUIDPGetDatum(&req->agent_id);
	args[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
	execlave_call_internal("emit_event", 3, types, args);
}

/*
 * Record the violations of a log or flag outcome in the current transaction:
 * what execlave.record_violations() does with their JSON (one
 * execlave.violations row each, in order, and a policy.violated event for
 * each one in flag or block mode), written straight into the table and its
 * indexes instead of through a PL/pgSQL function and a JSON round trip.  The
 * columns get the same values: the id from the identity sequence, created_at
 * the transaction's start (now()), the CHECK constraints evaluated.  When the
 * table has grown an insert trigger or row-level security, or a violation
 * would pause its agent, the SQL function does it all.
 */
void
execlave_insert_violations(const PolicyRequest *req, List *violations)
{
	Oid			relid;
	Relation	rel;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	TupleDesc	desc;
	ListCell   *lc;
	char	   *agent_id;
	char	   *role;
	const char *phase = req->ingestion ? "ingestion" : "pre_execution";
	Datum		agent_key,
				trace_id,
				phase_d,
				recorded_by,
				created_at;
	pg_uuid_t  *agent_uuid;
	int64	   *ids;

	if (violations == NIL)
		return;
	foreach(lc, violations)
	{
		if (((PolicyViolation *) lfirst(lc))->pause_reason != NULL)
		{
			execlave_record_violations(execlave_violations_json(req, violations));
			return;
		}
	}

	relid = OidIsValid(viol_relid) ? viol_relid : execlave_relid("violations");
	rel = table_open(relid, RowExclusiveLock);
	if (!viol_direct_ok(rel))
	{
		table_close(rel, RowExclusiveLock);
		execlave_record_violations(execlave_violations_json(req, violations));
		return;
	}
	if (viol_relid != relid)
		viol_memo(rel);
	desc = RelationGetDescr(rel);

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	ExecInitRangeTable(estate, list_make1(rte));
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, rri);
	estate->es_output_cid = GetCurrentCommandId(true);
	ExecOpenIndices(rri, false);
	if (viol_nchecks > 0 && desc->constr != NULL && desc->constr->num_check == viol_nchecks)
	{
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

		/* what ExecConstraints builds first, from the planned trees kept */
		rri->ri_ConstraintExprs = palloc(sizeof(ExprState *) * viol_nchecks);
		for (int i = 0; i < viol_nchecks; i++)
			rri->ri_ConstraintExprs[i] = ExecInitExpr(viol_checks[i], NULL);
		MemoryContextSwitchTo(old);
	}
	slot = ExecInitExtraTupleSlot(estate, desc, &TTSOpsVirtual);
	ids = palloc(sizeof(int64) * list_length(violations));

	agent_id = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&req->agent_id)));
	agent_uuid = palloc(sizeof(pg_uuid_t));
	memcpy(agent_uuid, &req->agent_id, sizeof(pg_uuid_t));
	role = execlave_actor_name();
	agent_key = CStringGetTextDatum(req->agent_key);
	trace_id = req->trace_id != NULL ? CStringGetTextDatum(req->trace_id) : (Datum) 0;
	phase_d = CStringGetTextDatum(phase);
	recorded_by = CStringGetTextDatum(role ? role : "unknown");
	created_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());

	foreach(lc, violations)
	{
		PolicyViolation *v = lfirst(lc);
		pg_uuid_t  *pid = palloc(sizeof(pg_uuid_t));
		int64		id;

		memcpy(pid, &v->policy_id, sizeof(pg_uuid_t));
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
		id = nextval_internal(viol_seqid, false);

#define VSET(col, val) \
		do { \
			slot->tts_values[viol_att[col] - 1] = (val); \
			slot->tts_isnull[viol_att[col] - 1] = false; \
		} while (0)
		VSET(VC_ID, Int64GetDatum(id));
		VSET(VC_POLICY_ID, UUIDPGetDatum(pid));
		VSET(VC_POLICY_NAME, CStringGetTextDatum(v->policy_name));
		VSET(VC_POLICY_TYPE, CStringGetTextDatum(execlave_policy_type_names[v->type]));
		VSET(VC_MODE, CStringGetTextDatum(execlave_policy_mode_names[v->mode]));
		VSET(VC_AGENT_ID, UUIDPGetDatum(agent_uuid));
		VSET(VC_AGENT_KEY, agent_key);
		if (req->trace_id != NULL)
			VSET(VC_TRACE_ID, trace_id);
		VSET(VC_PHASE, phase_d);
		VSET(VC_MESSAGE, CStringGetTextDatum(v->message));
		VSET(VC_DETAILS, DirectFunctionCall1(jsonb_in,
											 CStringGetDatum(v->details ? v->details : "{}")));
		VSET(VC_RECORDED_BY, recorded_by);
		VSET(VC_CREATED_AT, created_at);
#undef VSET
		ExecStoreVirtualTuple(slot);
		ExecSimpleRelationInsert(rri, estate, slot);
		ResetPerTupleExprContext(estate);

		ids[foreach_current_index(lc)] = id;
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	/* then the events, as the SQL function emits them after its INSERT */
	foreach(lc, violations)
	{
		PolicyViolation *v = lfirst(lc);

		if (v->mode == MODE_FLAG || v->mode == MODE_BLOCK)
		{
			pg_uuid_t	pid = v->policy_id;
			char	   *pid_text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid)));

			viol_emit_event(req, v, ids[foreach_current_index(lc)], pid_text, agent_id, phase);
		}
	}
}

/* ---------------------------------------------------------------------
 * Answers
 * ---------------------------------------------------------------------
 */

/* Answers up to this length are remembered (the last one). */
#define ANSWER_MEMO_MAX 4096

static char *answer_text = NULL;	/* in TopMemoryContext */
static Jsonb *answer_jsonb = NULL;

/*
 * jsonb_in(json), remembering the last answer: most execlave_enforce() calls
 * of an application answer the same text (allowed, no violation, the same
 * warnings), and parsing it cost a fifth of such a call.  The result is a
 * fresh copy, identical to what jsonb_in returns for that text.
 */
Datum
execlave_answer_jsonb(const char *json)
{
	size_t		len = strlen(json);
	Jsonb	   *j;

	if (answer_text != NULL && strcmp(answer_text, json) == 0)
	{
		j = palloc(VARSIZE(answer_jsonb));
		memcpy(j, answer_jsonb, VARSIZE(answer_jsonb));
		return JsonbPGetDatum(j);
	}
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
	if (len <= ANSWER_MEMO_MAX)
	{
		char	   *t = MemoryContextStrdup(TopMemoryContext, json);
		Jsonb	   *copy = MemoryContextAlloc(TopMemoryContext, VARSIZE(j));

		memcpy(copy, j, VARSIZE(j));
		if (answer_text != NULL)
		{
			pfree(answer_text);
			pfree(answer_jsonb);
		}
		answer_text = t;
		answer_jsonb = copy;
	}
	return JsonbPGetDatum(j);
}
