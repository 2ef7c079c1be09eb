/*
 * policy_trigger.c
 *		The BEFORE row trigger of execlave.policies (execlave.policies_before_write:
 *		every write is validated with the evaluator's own compiler, so a stored
 *		config always compiles) and execlave.validate_policy().  Runs as the
 *		writing role; reads agents through the agent cache.
 */

#include "policy.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "agent_cache.h"
#include "apikeys.h"
#include "catalog.h"
#include "execlave.h"
#include "policy_cache.h"
#include "preload.h"



PG_FUNCTION_INFO_V1(execlave_policies_before_write);
PG_FUNCTION_INFO_V1(execlave_validate_policy);


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
			for (int j = i; j > 0 && execlave_uuid_order(DatumGetUUIDP(elems[j - 1]), DatumGetUUIDP(elems[j])) > 0; j--)
			{
				Datum		t = elems[j];

				elems[j] = elems[j - 1];
				elems[j - 1] = t;
			}
		for (int i = 0; i < ne; i++)
			if (nd == 0 || execlave_uuid_order(DatumGetUUIDP(elems[nd - 1]), DatumGetUUIDP(elems[i])) != 0)
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

