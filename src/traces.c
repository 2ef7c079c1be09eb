/*
 * traces.c
 *		The trace ingestion trigger: the one entry point for every trace.
 *
 * execlave.traces_before_insert() runs BEFORE INSERT FOR EACH ROW on
 * execlave.traces.  It resolves the agent named by agent_id or agent_key (a
 * key or a UUID), fills in whichever of the two is missing, and enforces the
 * kill switch: a paused agent's trace is refused with EX001.  Then it
 * evaluates the active policies that apply to the agent (policy.c): log and
 * flag violations are recorded in this transaction, flag marks the trace
 * flagged_for_review, masking PII policies rewrite input/output, and a block
 * commits its violations separately (recorder.c) and refuses the row with
 * EX003.  No query runs per row once the agent and policies are cached.
 *
 * Times: a trace's started_at (the partition key) must lie in the accepted
 * window (execlave.trace_max_future ahead of the clock, execlave.trace_max_age_days
 * behind it), so that no caller can make maintenance create partitions
 * without bound or store a time it cannot handle; ingested_at is always the
 * clock the windowed counters use.
 */

#include "traces.h"

#include <math.h>

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "agent_cache.h"
#include "agents.h"
#include "anomaly.h"
#include "catalog.h"
#include "clock.h"
#include "execlave.h"
#include "lifecycle.h"
#include "usage_limits.h"
#include "money.h"
#include "policy.h"
#include "policy_cache.h"
#include "policy_eval.h"
#include "recorder.h"
#include "violations.h"


PG_FUNCTION_INFO_V1(execlave_traces_before_insert);
PG_FUNCTION_INFO_V1(execlave_new_trace_id);

/* Columns the trigger reads or writes, by position in trace_columns[]. */
enum
{
	COL_AGENT_ID,
	COL_AGENT_KEY,
	COL_TRACE_ID,
	COL_STATUS,
	COL_INPUT,
	COL_OUTPUT,
	COL_MODEL,
	COL_TOOLS,
	COL_PROMPT_TOKENS,
	COL_COMPLETION_TOKENS,
	COL_TOTAL_TOKENS,
	COL_COST,
	COL_DURATION,
	COL_INGESTED_AT,
	COL_STARTED_AT,
	NUM_COLS
};

static const char *const trace_columns[NUM_COLS] = {
	"agent_id", "agent_key", "trace_id", "status", "input", "output", "model", "tools",
	"prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "duration_ms", "ingested_at",
	"started_at"
};

/* Column numbers of the last relation the trigger ran on. */
static Oid	memo_relid = InvalidOid;
static AttrNumber memo_att[NUM_COLS];

/*
 * The row being inserted, deformed once: the trigger reads its columns from
 * here and writes its changes here, and forms one new tuple at the end if
 * anything changed (what heap_modify_tuple_by_cols does per call).
 */
typedef struct Row
{
	Datum	   *values;
	bool	   *nulls;
	bool		changed;
} Row;

#define ROW_VALUE(row, col)	((row)->values[memo_att[col] - 1])
#define ROW_NULL(row, col)	((row)->nulls[memo_att[col] - 1])

/* Set a column of the row. */
static inline void
row_set(Row *row, int col, Datum value)
{
	ROW_VALUE(row, col) = value;
	ROW_NULL(row, col) = false;
	row->changed = true;
}

/* Nothing to set up; kept so _PG_init calls every module alike. */
void
execlave_traces_init(void)
{
}


/* Refuse a trace whose started_at lies outside the accepted window. */
static void
check_trace_time(const Row *row)
{
	TimestampTz t,
				earliest,
				latest;

	if (ROW_NULL(row, COL_STARTED_AT))
		return;					/* the NOT NULL constraint refuses it */
	t = DatumGetTimestampTz(ROW_VALUE(row, COL_STARTED_AT));
	execlave_trace_time_window(GetCurrentTimestamp(), &earliest, &latest);
	if (TIMESTAMP_NOT_FINITE(t) || t < earliest || t > latest)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trace time %s is outside the accepted window", pstrdup(timestamptz_to_str(t))),
				 errdetail("A trace's started_at must lie between %s and %s.",
						   pstrdup(timestamptz_to_str(earliest)), pstrdup(timestamptz_to_str(latest))),
				 errhint("The window is set by execlave.trace_max_age_days (or execlave.trace_retention_days) and execlave.trace_max_future.")));
}

/* Does column attnum of desc still carry this name? */
static bool
attnum_is(TupleDesc desc, AttrNumber attnum, const char *name)
{
	Form_pg_attribute att;

	if (attnum < 1 || attnum > desc->natts)
		return false;
	att = TupleDescAttr(desc, attnum - 1);
	return !att->attisdropped && strcmp(NameStr(att->attname), name) == 0;
}

/* Set memo_att[] for rel, reusing the memo when it still fits. */
static void
memo_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		fits = memo_relid == RelationGetRelid(rel);

	for (int i = 0; fits && i < NUM_COLS; i++)
		fits = attnum_is(desc, memo_att[i], trace_columns[i]);
	if (fits)
		return;
	memo_relid = InvalidOid;
	for (int i = 0; i < NUM_COLS; i++)
		memo_att[i] = execlave_tupdesc_attnum(desc, trace_columns[i]);
	memo_relid = RelationGetRelid(rel);
}

/* An int4 column as a count, -1 when NULL. */
static int64
count_or_unknown(const Row *row, int col)
{
	return ROW_NULL(row, col) ? -1 : (int64) DatumGetInt32(ROW_VALUE(row, col));
}

/* A text column's bytes (detoasted), or NULL. */
static const char *
text_column(const Row *row, int col, size_t *len)
{
	text	   *t;

	if (ROW_NULL(row, col))
	{
		*len = 0;
		return NULL;
	}
	t = DatumGetTextPP(ROW_VALUE(row, col));
	*len = VARSIZE_ANY_EXHDR(t);
	return VARDATA_ANY(t);
}

/*
 * Fill in the policy request from the trace row: everything when policies
 * apply (full), else only what the anomaly statistics read (the cost then
 * in float precision, which they use).
 */
static void
fill_request(PolicyRequest *req, const Row *row, const pg_uuid_t *agent_id,
			 const char *agent_key, bool full)
{
	bool		isnull;
	Datum		d;

	memset(req, 0, sizeof(*req));
	req->ingestion = true;
	memcpy(&req->agent_id, agent_id, sizeof(pg_uuid_t));
	strlcpy(req->agent_key, agent_key, sizeof(req->agent_key));
	req->trace_id = ROW_NULL(row, COL_TRACE_ID) ? NULL : TextDatumGetCString(ROW_VALUE(row, COL_TRACE_ID));
	req->total_tokens = count_or_unknown(row, COL_TOTAL_TOKENS);
	isnull = ROW_NULL(row, COL_COST);
	d = ROW_VALUE(row, COL_COST);
	if (!full)
	{
		req->cost_nanos = isnull ? -1
			: (int64) llround(DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow, d)) * NANOS_PER_USD);
		return;
	}
	req->cost_nanos = isnull ? -1 : execlave_numeric_to_nanos(DatumGetNumeric(d));
	req->input = text_column(row, COL_INPUT, &req->input_len);
	req->output = text_column(row, COL_OUTPUT, &req->output_len);
	req->model = ROW_NULL(row, COL_MODEL) ? NULL : TextDatumGetCString(ROW_VALUE(row, COL_MODEL));
	isnull = ROW_NULL(row, COL_TOOLS);
	d = ROW_VALUE(row, COL_TOOLS);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *enulls;
		int			ne;

		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &enulls, &ne);
		req->tools = palloc(sizeof(char *) * Max(ne, 1));
		for (int i = 0; i < ne; i++)
			if (!enulls[i])
				req->tools[req->ntools++] = TextDatumGetCString(elems[i]);
	}
	req->prompt_tokens = count_or_unknown(row, COL_PROMPT_TOKENS);
	req->completion_tokens = count_or_unknown(row, COL_COMPLETION_TOKENS);
}

/*
 * Evaluate the agent's policies on the trace.  Sets what the row stores
 * (flagged and/or masked), records log and flag violations in this
 * transaction, and for a block records durably and raises EX003.  *windowed
 * tells whether windowed policies counted the trace.
 */
static void
apply_policies(Row *row, const PolicyRequest *reqp, bool *windowed)
{
	const PolicyRequest req = *reqp;
	PolicyOutcome out;

	execlave_policy_evaluate(&req, &out);
	*windowed = out.windowed;
	if (out.violations == NIL)
		return;

	if (out.blocked)
	{
		StringInfoData names;
		int			nblock = 0;
		ListCell   *lc;
		char	   *json = execlave_violations_json(&req, out.violations);

		initStringInfo(&names);
		foreach(lc, out.violations)
		{
			PolicyViolation *v = lfirst(lc);

			if (v->mode != MODE_BLOCK)
				continue;
			appendStringInfo(&names, "%s\"%s\"", nblock++ > 0 ? ", " : "", v->policy_name);
		}
		execlave_record_durably(json);
		ereport(ERROR,
				(errcode(ERRCODE_EXECLAVE_POLICY_BLOCKED),
				 errmsg("trace of agent \"%s\" blocked by %s %s", req.agent_key,
						nblock == 1 ? "policy" : "policies", names.data),
				 errdetail_internal("%s", json),
				 errhint("The violations are recorded in execlave.violations.")));
	}

	execlave_insert_violations(&req, out.violations);
	if (out.flagged)
		row_set(row, COL_STATUS, CStringGetTextDatum("flagged_for_review"));
	if (out.input_masks != NIL)
	{
		size_t		len;
		char	   *masked = execlave_apply_masks(req.input, req.input_len, out.input_masks, &len);

		row_set(row, COL_INPUT, PointerGetDatum(cstring_to_text_with_len(masked, len)));
	}
	if (out.output_masks != NIL)
	{
		size_t		len;
		char	   *masked = execlave_apply_masks(req.output, req.output_len, out.output_masks, &len);

		row_set(row, COL_OUTPUT, PointerGetDatum(cstring_to_text_with_len(masked, len)));
	}
}

/*
 * Set ingested_at to the clock.  The windows count the trace at
 * execlave_clock(); a rebuild after a restart reads ingested_at, so the two
 * must agree (a client-given ingested_at is overwritten; the default
 * already agrees, and then the tuple is not copied).
 */
static void
stamp_ingested_at(Row *row)
{
	TimestampTz now = execlave_clock();

	if (!ROW_NULL(row, COL_INGESTED_AT) &&
		DatumGetTimestampTz(ROW_VALUE(row, COL_INGESTED_AT)) == now)
		return;
	row_set(row, COL_INGESTED_AT, TimestampTzGetDatum(now));
}

/*
 * After the policies accepted the trace: the windows' follow-ups
 * (cost.threshold, pause_agent), ingested_at (always the clock: a value the
 * client gives is overwritten), and the anomaly statistics.
 */
static void
after_accept(Row *row, const PolicyRequest *req, bool windowed, bool observe, const char *status)
{
	if (windowed)
		execlave_limits_after_accept(req);
	stamp_ingested_at(row);
	if (observe)
		execlave_anomaly_observe(req, ROW_NULL(row, COL_DURATION) ? -1
								 : DatumGetFloat8(ROW_VALUE(row, COL_DURATION)),
								 status != NULL && (strcmp(status, "error") == 0 ||
													strcmp(status, "timeout") == 0));
}

/*
 * BEFORE INSERT row trigger on execlave.traces: resolve the agent, refuse
 * paused or archived agents, complete agent_id and agent_key.
 */
Datum
execlave_traces_before_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	Datum		id_datum,
				key_datum;
	bool		id_null,
				key_null;
	Row			row;
	const ExeclaveAgent *agent;
	char	   *given_key;
	bool		set_id,
				set_key;
	pg_uuid_t	agent_id;
	char		agent_key[EXECLAVE_MAX_KEY_LEN + 1];

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("execlave.traces_before_insert() must be a BEFORE INSERT FOR EACH ROW trigger")));

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	tuple = trigdata->tg_trigtuple;
	memo_columns(rel);
	row.values = palloc(sizeof(Datum) * desc->natts);
	row.nulls = palloc(sizeof(bool) * desc->natts);
	row.changed = false;
	heap_deform_tuple(tuple, desc, row.values, row.nulls);

	id_null = ROW_NULL(&row, COL_AGENT_ID);
	id_datum = ROW_VALUE(&row, COL_AGENT_ID);
	key_null = ROW_NULL(&row, COL_AGENT_KEY);
	key_datum = ROW_VALUE(&row, COL_AGENT_KEY);
	given_key = key_null ? NULL : TextDatumGetCString(key_datum);	/* once per row */

	execlave_agent_cache_sync();
	if (!id_null)
	{
		pg_uuid_t  *id = DatumGetUUIDP(id_datum);

		agent = execlave_agent_lookup_id(id);
		if (agent == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_EXECLAVE_UNKNOWN_AGENT),
					 errmsg("agent \"%s\" does not exist",
							DatumGetCString(DirectFunctionCall1(uuid_out, id_datum))),
					 errhint("Register it with execlave_register_agent().")));
		if (given_key != NULL)
		{
			pg_uuid_t	given_id;

			if (strcmp(given_key, agent->key) != 0 &&
				!(execlave_parse_uuid(given_key, &given_id) &&
				  memcmp(&given_id, &agent->id, sizeof(pg_uuid_t)) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("agent_key \"%s\" does not name the agent given by agent_id", given_key),
						 errhint("Give agent_id or agent_key, not two different agents.")));
		}
	}
	else if (given_key != NULL)
		agent = execlave_agent_resolve(given_key, false);
	else
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("a trace must name its agent"),
				 errhint("Set agent_key (the agent's key or UUID) or agent_id.")));

	execlave_check_agent_usable(agent);
	check_trace_time(&row);

	/* Copy the agent: loading the policy cache may flush the agent cache. */
	memcpy(&agent_id, &agent->id, sizeof(pg_uuid_t));
	strlcpy(agent_key, agent->key, sizeof(agent_key));

	/* Complete the row only when something is missing or not canonical. */
	set_id = id_null;
	set_key = given_key == NULL || strcmp(given_key, agent_key) != 0;
	if (set_id)
	{
		pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

		memcpy(copy, &agent_id, sizeof(pg_uuid_t));
		row_set(&row, COL_AGENT_ID, UUIDPGetDatum(copy));
	}
	if (set_key)
		row_set(&row, COL_AGENT_KEY, CStringGetTextDatum(agent_key));

	/* Policies, after the kill switch; then what follows acceptance. */
	{
		bool		policies = execlave_policies_apply_to(&agent_id);
		bool		observe = execlave_anomaly_active();
		bool		windowed = false;

		if (policies || observe)
		{
			PolicyRequest req;
			char	   *status = ROW_NULL(&row, COL_STATUS) ? NULL
				: TextDatumGetCString(ROW_VALUE(&row, COL_STATUS));

			fill_request(&req, &row, &agent_id, agent_key, policies);
			if (policies)
				apply_policies(&row, &req, &windowed);
			after_accept(&row, &req, windowed, observe, status);
		}
		else
			after_accept(&row, NULL, false, false, NULL);	/* only ingested_at */
	}

	/* one new tuple with every change, as heap_modify_tuple_by_cols makes it */
	if (row.changed)
	{
		HeapTuple	newtuple = heap_form_tuple(desc, row.values, row.nulls);

		newtuple->t_data->t_ctid = tuple->t_data->t_ctid;
		newtuple->t_self = tuple->t_self;
		newtuple->t_tableOid = tuple->t_tableOid;
		tuple = newtuple;
	}
	return PointerGetDatum(tuple);
}

/* execlave.new_trace_id() RETURNS text: 'tr_' followed by 16 random hex digits. */
Datum
execlave_new_trace_id(PG_FUNCTION_ARGS)
{
	static const char hex[] = "0123456789abcdef";
	uint8		bytes[8];
	char		buf[3 + 16 + 1] = "tr_";

	if (!pg_strong_random(bytes, sizeof(bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random trace id")));
	for (int i = 0; i < 8; i++)
	{
		buf[3 + 2 * i] = hex[bytes[i] >> 4];
		buf[3 + 2 * i + 1] = hex[bytes[i] & 0x0f];
	}
	buf[19] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}
