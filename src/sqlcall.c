/*
 * sqlcall.c
 *		The C code's dependencies on SQL, in one place.  Everything here runs
 *		in the session of whoever triggered it (a trace insert, an enforce
 *		call), so nothing may resolve a name on that session's search_path:
 *
 *		- internal functions, called through fmgr by their schema-qualified
 *		  name (LookupFuncName with schema execlave): execlave.record_violations
 *		  (jsonb), execlave.emit_signals(text, uuid, jsonb) and
 *		  execlave.pause_for_policy(uuid, text), SECURITY DEFINER with a pinned
 *		  search_path and granted to no role (fmgr runs them as their owner
 *		  without an EXECUTE check, so only this code can call them);
 *		- the windowed counters' rebuild statements (windows.c), run through
 *		  SPI with every function, aggregate, type and operator qualified and
 *		  the search_path pinned around them (execlave_pin_search_path).
 *
 *		The background processes (webhook_worker.c, recorder.c) keep their
 *		statements with them; they run under a search_path pinned once.
 */

#include "sqlcall.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"

#include "execlave.h"



/* Requests and spend of an agent in the current windows: $1 agent, $2-$5 window starts. */
const char *const execlave_sql_agent_usage =
"SELECT pg_catalog.count(*) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $2),"
" pg_catalog.count(*) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $3),"
" COALESCE(pg_catalog.sum(cost_usd) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $4),"
"          0::pg_catalog.numeric),"
" COALESCE(pg_catalog.sum(cost_usd), 0::pg_catalog.numeric)"
" FROM execlave.traces"
" WHERE agent_id OPERATOR(pg_catalog.=) $1 AND ingested_at OPERATOR(pg_catalog.>=) $5";

/* An agent's latest REPLAY_TRACES traces, for the statistics: $1 agent. */
const char *const execlave_sql_agent_replay =
"SELECT duration_ms, cost_usd::pg_catalog.float8, total_tokens::pg_catalog.float8, status"
" FROM execlave.traces WHERE agent_id OPERATOR(pg_catalog.=) $1"
" ORDER BY started_at DESC LIMIT " CppAsString2(REPLAY_TRACES);

/* Spend of a shared budget this month: $1 its agents (NULL: all), $2 the month's start. */
const char *const execlave_sql_budget_usage =
"SELECT COALESCE(pg_catalog.sum(cost_usd), 0::pg_catalog.numeric)"
" FROM execlave.traces WHERE ingested_at OPERATOR(pg_catalog.>=) $2"
" AND ($1 IS NULL OR agent_id OPERATOR(pg_catalog.=) ANY ($1))";

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

/*
 * Call execlave.record_violations(json) in the current transaction: one
 * execlave.violations row per element, and policy.violated events.
 */
void
execlave_sql_record_violations(const char *json)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		args[1];

	args[0] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	execlave_call_internal("record_violations", 1, argtypes, args);
}

/* Emit one event of type per element of the JSON array json, in this transaction. */
void
execlave_sql_emit_signals(const char *type, const pg_uuid_t *agent, const char *json)
{
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(type);
	args[1] = UUIDPGetDatum(agent);
	args[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	execlave_call_internal("emit_signals", 3, types, args);
}

/* Pause the agent for a cost policy (pause_agent), in this transaction. */
void
execlave_sql_pause_for_policy(const pg_uuid_t *agent, const char *reason)
{
	Oid			types[2] = {UUIDOID, TEXTOID};
	Datum		args[2];

	args[0] = UUIDPGetDatum(agent);
	args[1] = CStringGetTextDatum(reason);
	execlave_call_internal("pause_for_policy", 2, types, args);
}

/*
 * Call execlave.approval_gate(agent, agent_key, input, estimated_cost, tools,
 * metadata, policies, timeout_s) in this transaction: consume an approval of
 * this action context, else the pending request (created if need be).
 * Datum arguments are (Datum) 0 for NULL.  Returns the jsonb answer.
 */
Datum
execlave_sql_approval_gate(const pg_uuid_t *agent, const char *agent_key, Datum input,
						   Datum estimated_cost, Datum tools, Datum metadata,
						   const char *policies, int timeout_s)
{
	Oid			types[8] = {UUIDOID, TEXTOID, TEXTOID, NUMERICOID, TEXTARRAYOID, JSONBOID,
	JSONBOID, INT4OID};
	Datum		args[8];
	Oid			fn;
	FmgrInfo	flinfo;
	Datum		result;

	LOCAL_FCINFO(fcinfo, 8);

	args[0] = UUIDPGetDatum(agent);
	args[1] = CStringGetTextDatum(agent_key);
	args[2] = input;
	args[3] = estimated_cost;
	args[4] = tools;
	args[5] = metadata;
	args[6] = DirectFunctionCall1(jsonb_in, CStringGetDatum(policies));
	args[7] = Int32GetDatum(timeout_s);
	fn = LookupFuncName(list_make2(makeString(EXECLAVE_SCHEMA), makeString("approval_gate")),
						8, types, false);
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 8, InvalidOid, NULL, NULL);
	for (int i = 0; i < 8; i++)
	{
		fcinfo->args[i].value = args[i];
		fcinfo->args[i].isnull = (i >= 2 && i <= 5 && args[i] == (Datum) 0);
	}
	result = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		elog(ERROR, "execlave.approval_gate returned NULL");
	return result;
}

/*
 * Pin search_path = pg_catalog, pg_temp until execlave_unpin_search_path
 * (or the end of the (sub)transaction, which unwinds it on error).
 */
int
execlave_pin_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* Restore the search_path pinned by execlave_pin_search_path. */
void
execlave_unpin_search_path(int nest)
{
	AtEOXact_GUC(true, nest);
}
