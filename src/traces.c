/*
 * traces.c
 *		The trace ingestion trigger: the one entry point for every trace.
 *
 * execlave.traces_before_insert() runs BEFORE INSERT FOR EACH ROW on
 * execlave.traces.  It resolves the agent named by agent_id or agent_key (a
 * key or a UUID), fills in whichever of the two is missing, and enforces the
 * kill switch: a paused agent's trace is refused with EX001.  Policy
 * evaluation hangs on this same path.  No query runs per row once the agent
 * is cached (agent_cache.c).
 */
#include "execlave.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(execlave_traces_before_insert);
PG_FUNCTION_INFO_V1(execlave_new_trace_id);

/* Column numbers of the last relation the trigger ran on. */
static Oid	memo_relid = InvalidOid;
static AttrNumber memo_att_agent_id;
static AttrNumber memo_att_agent_key;

/* Nothing to set up yet; kept so _PG_init calls every module alike. */
void
execlave_traces_init(void)
{
}

/* Number of the named column in desc; error if absent. */
static AttrNumber
trace_attnum(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("table has no column \"%s\"", name),
			 errhint("execlave.traces_before_insert() belongs on execlave.traces and its partitions.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
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

/* Set memo_att_* for rel, reusing the memo when it still fits. */
static void
memo_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (memo_relid == RelationGetRelid(rel) &&
		attnum_is(desc, memo_att_agent_id, "agent_id") &&
		attnum_is(desc, memo_att_agent_key, "agent_key"))
		return;
	memo_relid = InvalidOid;
	memo_att_agent_id = trace_attnum(desc, "agent_id");
	memo_att_agent_key = trace_attnum(desc, "agent_key");
	memo_relid = RelationGetRelid(rel);
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
	const ExeclaveAgent *agent;
	char	   *given_key;
	bool		set_id,
				set_key;

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

	id_datum = heap_getattr(tuple, memo_att_agent_id, desc, &id_null);
	key_datum = heap_getattr(tuple, memo_att_agent_key, desc, &key_null);
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

	/* Complete the row only when something is missing or not canonical. */
	set_id = id_null;
	set_key = given_key == NULL || strcmp(given_key, agent->key) != 0;
	if (set_id || set_key)
	{
		int			cols[2];
		Datum		vals[2];
		bool		nulls[2] = {false, false};
		int			n = 0;

		if (set_id)
		{
			pg_uuid_t  *copy = palloc(sizeof(pg_uuid_t));

			memcpy(copy, &agent->id, sizeof(pg_uuid_t));
			cols[n] = memo_att_agent_id;
			vals[n++] = UUIDPGetDatum(copy);
		}
		if (set_key)
		{
			cols[n] = memo_att_agent_key;
			vals[n++] = CStringGetTextDatum(agent->key);
		}
		tuple = heap_modify_tuple_by_cols(tuple, desc, n, cols, vals, nulls);
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
