/*
 * enforce.c
 *		execlave_enforce() and execlave_enforce_strict(): the pre-execution
 *		check of a request against the agent's policies.  A paused or archived
 *		agent is refused before any policy runs; violations are recorded in the
 *		caller's transaction, or committed separately (recorder.c) when the call
 *		raises EX003 or the transaction is read-only.  When a require_approval
 *		policy fires and no block policy does, execlave.approval_gate (through
 *		sqlcall.c) consumes an approval of this action context or returns its
 *		pending request: the answer says allowed, or requires_approval with
 *		the request's id.
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
#include "sqlcall.h"
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

/* A string field of a jsonb object, or NULL. */
static char *
jsonb_string(Jsonb *j, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&j->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * The approval gate of a request that require_approval policies stopped:
 * *consumed tells whether an approval of this context was used up; the
 * request's id (and, pending, its expiry) are returned.
 */
static void
approval_gate(FunctionCallInfo fcinfo, const PolicyRequest *req, const PolicyOutcome *out,
			  bool *consumed, char **id, char **expires_at)
{
	StringInfoData pol;
	ListCell   *lc;
	int			timeout = APPROVAL_TIMEOUT_MAX;
	Jsonb	   *res;
	char	   *status;

	if (RecoveryInProgress() || XactReadOnly)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("a request that needs approval cannot be checked in a read-only transaction"),
				 errhint("Call execlave_enforce on the primary, in a read-write transaction: its approval request is written there.")));
	initStringInfo(&pol);
	appendStringInfoChar(&pol, '[');
	foreach(lc, out->violations)
	{
		PolicyViolation *v = lfirst(lc);
		pg_uuid_t	pid = v->policy_id;

		if (v->mode != MODE_REQUIRE_APPROVAL)
			continue;
		timeout = Min(timeout, v->approval_timeout);
		appendStringInfo(&pol, "%s{\"policy_id\": \"%s\", \"policy_name\": ", pol.len > 1 ? ", " : "",
						 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid))));
		escape_json(&pol, v->policy_name);
		appendStringInfo(&pol, ", \"policy_type\": \"%s\", \"message\": ", execlave_policy_type_names[v->type]);
		escape_json(&pol, v->message);
		appendStringInfoChar(&pol, '}');
	}
	appendStringInfoChar(&pol, ']');
	res = DatumGetJsonbP(execlave_sql_approval_gate(&req->agent_id, req->agent_key,
													PG_GETARG_DATUM(1),
													PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3),
													PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4),
													PG_ARGISNULL(5) ? (Datum) 0 : PG_GETARG_DATUM(5),
													pol.data, timeout));
	status = jsonb_string(res, "status");
	*id = jsonb_string(res, "id");
	*expires_at = jsonb_string(res, "expires_at");
	if (status == NULL || *id == NULL)
		elog(ERROR, "execlave.approval_gate gave no status or id");
	*consumed = strcmp(status, "consumed") == 0;
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
	bool		approval = false;
	bool		consumed = false;
	char	   *approval_id = NULL;
	char	   *approval_expires = NULL;
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

	/*
	 * require_approval (no block): allowed if an approval of this context is
	 * consumed now, else the pending request's id.  Not raised by
	 * execlave_enforce_strict either: the request must commit for an
	 * approver to see it.
	 */
	if (!out.blocked && out.needs_approval)
	{
		approval = true;
		approval_gate(fcinfo, &req, &out, &consumed, &approval_id, &approval_expires);
	}

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"allowed\": %s, ", out.blocked || (approval && !consumed) ? "false" : "true");
	if (approval && consumed)
		appendStringInfo(&buf, "\"approval_consumed\": true, \"approval_request_id\": \"%s\", ", approval_id);
	else if (approval)
	{
		appendStringInfo(&buf, "\"requires_approval\": true, \"approval_request_id\": \"%s\", ", approval_id);
		if (approval_expires != NULL)
			appendStringInfo(&buf, "\"approval_expires_at\": \"%s\", ", approval_expires);
	}
	appendStringInfoString(&buf, "\"violations\": [");
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
