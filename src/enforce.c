/*
 * enforce.c
 *		execlave_enforce() and execlave_enforce_strict(): the pre-execution
 *		check of a request against the agent's policies.  A paused or archived
 *		agent is refused before any policy runs; violations are recorded in the
 *		caller's transaction, or committed separately (recorder.c) when the call
 *		raises EX003 or the transaction is read-only.
 */

#include "policy.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "agent_cache.h"
#include "agents.h"
#include "execlave.h"
#include "money.h"
#include "policy_eval.h"
#include "recorder.h"
#include "violations.h"



PG_FUNCTION_INFO_V1(execlave_enforce);
PG_FUNCTION_INFO_V1(execlave_enforce_strict);


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
		PG_RETURN_DATUM(execlave_answer_jsonb(buf.data));
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
		if (RecoveryInProgress())
			out.warnings = lappend(out.warnings,
								   pstrdup("violations not recorded: the server is a read-only standby"));
		else if (out.blocked && strict)
		{
			execlave_record_durably(execlave_violations_json(&req, out.violations));
			recorded = true;
		}
		else if (XactReadOnly)
		{
			/* a read-only transaction cannot write them itself */
			execlave_record_durably(execlave_violations_json(&req, out.violations));
			recorded = true;
		}
		else
		{
			execlave_insert_violations(&req, out.violations);
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
	PG_RETURN_DATUM(execlave_answer_jsonb(buf.data));
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
