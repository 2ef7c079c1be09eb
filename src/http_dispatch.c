/*
 * http_dispatch.c
 *		execlave_api.dispatch(text): the entry point of the hosted API (nginx
 *		sends every /api, /api/v1 and /health request to PostgREST's POST
 *		/rpc/dispatch with the raw body and the X-Execlave-* headers).
 *
 * The hot routes -- POST /api[/v1]/agents/authorize, /policies/enforce and
 * /traces/ingest, with no query string -- are served here in one call: the
 * API key is checked as execlave_api.authenticate() checks it (its row by
 * prefix, the constant-time digest comparison of apikeys.c, the caller's
 * settings, the last use to the minute), the body is parsed and the
 * handler runs in a subtransaction, as in the SQL dispatcher; authorize's
 * and enforce's checks are C (then the decision of grants.c, or
 * execlave.enforce), their answers SQL functions shared with the SQL
 * handlers.  Every statement is that of a SQL function called through fmgr:
 * this file runs no SPI.
 *
 * Every other request, and every hot request refused before its handler
 * (no, a bad or a refused key, a body that is not application/json), is
 * passed whole to the SQL dispatcher, execlave_api.dispatch_sql(text),
 * which answers it: nothing has been written by then (a refused key writes
 * nothing), so that answer is the SQL dispatcher's own, byte for byte.  An
 * error of a handler becomes the answer through execlave_api.error_answer(),
 * which the SQL dispatcher uses too, and undoes what the handler wrote.
 *
 * Runs as the extension's owner (SECURITY DEFINER, search_path pinned to
 * pg_catalog, pg_temp); every statement names its schema.
 */

#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "execlave.h"

PG_FUNCTION_INFO_V1(execlave_http_dispatch);

/* apikeys.c: SHA-256(key) = stored, in constant time */
extern PGDLLEXPORT Datum execlave_api_key_matches(PG_FUNCTION_ARGS);

#define API_SCHEMA "execlave_api"

typedef enum HotRoute
{
	HOT_NONE,
	HOT_AUTHORIZE,
	HOT_ENFORCE,
	HOT_INGEST
} HotRoute;

/* The OID of execlave_api.<name>(types) or <schema>.<name>(types). */
static Oid
function_oid(const char *schema, const char *name, int nargs, Oid *types)
{
	return LookupFuncName(list_make2(makeString(pstrdup(schema)), makeString(pstrdup(name))),
						  nargs, types, false);
}

/* Prepare fcinfo for a call of schema.name(types) (collation: the database's). */
static void
prepare_call(FunctionCallInfo fcinfo, FmgrInfo *flinfo, const char *schema, const char *name,
			 int nargs, Oid *types)
{
	fmgr_info(function_oid(schema, name, nargs, types), flinfo);
	InitFunctionCallInfoData(*fcinfo, flinfo, nargs, DEFAULT_COLLATION_OID, NULL, NULL);
	for (int i = 0; i < nargs; i++)
	{
		fcinfo->args[i].value = (Datum) 0;
		fcinfo->args[i].isnull = true;
	}
}

static inline void
set_arg(FunctionCallInfo fcinfo, int i, Datum value)
{
	fcinfo->args[i].value = value;
	fcinfo->args[i].isnull = false;
}

/* The SQL dispatcher's answer to the whole request. */
static Datum
dispatch_sql(FunctionCallInfo outer)
{
	Oid			types[1] = {TEXTOID};
	FmgrInfo	flinfo;
	Datum		result;

	LOCAL_FCINFO(fcinfo, 1);

	prepare_call(fcinfo, &flinfo, API_SCHEMA, "dispatch_sql", 1, types);
	fcinfo->args[0] = outer->args[0];
	result = FunctionCallInvoke(fcinfo);
	outer->isnull = fcinfo->isnull;
	return result;
}

/* A string header (names are lower case in request.headers); *odd when it is not a string. */
static char *
header(Jsonb *headers, const char *name, bool *odd)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&headers->root, name, strlen(name), NULL);

	if (v == NULL)
		return NULL;
	if (v->type != jbvString)
	{
		*odd = true;
		return NULL;
	}
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* The hot route of a POST to uri (exactly /api[/v1]/<path>), or HOT_NONE. */
static HotRoute
hot_route(const char *uri)
{
	const char *p;

	if (uri == NULL || strncmp(uri, "/api/", 5) != 0)
		return HOT_NONE;
	p = uri + 5;
	if (strncmp(p, "v1/", 3) == 0)
		p += 3;
	if (strcmp(p, "agents/authorize") == 0)
		return HOT_AUTHORIZE;
	if (strcmp(p, "policies/enforce") == 0)
		return HOT_ENFORCE;
	if (strcmp(p, "traces/ingest") == 0)
		return HOT_INGEST;
	return HOT_NONE;
}

static bool
is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool
is_alnum(char c)
{
	return is_alnum_lower(c) || (c >= 'A' && c <= 'Z');
}

/* Set a request setting for the transaction, as set_config(name, value, true). */
static void
set_local(const char *name, const char *value)
{
	(void) set_config_option(name, value, superuser() ? PGC_SUSET : PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/*
 * execlave_api.authenticate(key) for a key that it accepts: true, with the
 * caller set for the transaction (and *scope the key's scope); false, with
 * nothing set or written, for a key it refuses (the SQL dispatcher then
 * answers the request with the reason).  The row is read and the last use
 * written by execlave_api.key_by_prefix and key_used (its statements).
 */
static bool
authenticate(const char *key, char **scope)
{
	size_t		len = key ? strlen(key) : 0;
	const char *env = NULL;
	const char *secret = NULL;
	size_t		env_len = 0;
	size_t		secret_len = 0;
	bool		well_formed = false;
	bool		found = false;
	bool		ok;
	Datum		stored = (Datum) 0;
	char	   *id = NULL;
	bool		revoked = false;
	bool		expired = false;
	bool		stale = false;
	char	   *agent = NULL;
	char	   *actor = NULL;

	LOCAL_FCINFO(match, 2);

	if (len == 0)
		return false;
	/* ag_<[a-z0-9]+ of at most 16>_<[A-Za-z0-9]+ of 32 to 128> */
	if (len > 3 && strncmp(key, "ag_", 3) == 0)
	{
		const char *p = key + 3;

		env = p;
		while (*p && is_alnum_lower(*p))
			p++;
		env_len = p - env;
		if (*p == '_' && env_len > 0)
		{
			secret = ++p;
			while (*p && is_alnum(*p))
				p++;
			secret_len = p - secret;
			well_formed = *p == '\0' && env_len <= 16 && secret_len >= 32 && secret_len <= 128;
		}
	}

	if (well_formed)
	{
		Oid			types[1] = {TEXTOID};
		FmgrInfo	flinfo;
		HeapTupleHeader row;
		bool		isnull;
		Datum		d;

		LOCAL_FCINFO(fcinfo, 1);

		prepare_call(fcinfo, &flinfo, API_SCHEMA, "key_by_prefix", 1, types);
		set_arg(fcinfo, 0, CStringGetTextDatum(psprintf("ag_%.*s_%.8s", (int) env_len, env, secret)));
		row = DatumGetHeapTupleHeader(FunctionCallInvoke(fcinfo));
		d = GetAttributeByNum(row, 1, &isnull);
		if (!isnull)
		{
			found = true;
			id = TextDatumGetCString(d);
			stored = GetAttributeByNum(row, 2, &isnull);
			revoked = DatumGetBool(GetAttributeByNum(row, 3, &isnull));
			expired = DatumGetBool(GetAttributeByNum(row, 4, &isnull));
			*scope = TextDatumGetCString(GetAttributeByNum(row, 5, &isnull));
			agent = TextDatumGetCString(GetAttributeByNum(row, 6, &isnull));
			actor = TextDatumGetCString(GetAttributeByNum(row, 7, &isnull));
			stale = DatumGetBool(GetAttributeByNum(row, 8, &isnull));
		}
	}

	/* the digest comparison runs whether or not a key was found (constant time) */
	InitFunctionCallInfoData(*match, NULL, 2, InvalidOid, NULL, NULL);
	match->args[0].value = stored;
	match->args[0].isnull = !found;
	match->args[1].value = CStringGetTextDatum(key);
	match->args[1].isnull = false;
	ok = DatumGetBool(execlave_api_key_matches(match));

	if (!ok || !well_formed || revoked || expired)
		return false;
	set_local("execlave.api_key_id", id);
	set_local("execlave.api_scope", *scope);
	set_local("execlave.api_agent_id", agent);
	set_local("execlave.api_actor", actor);
	/* last use, to the minute: no write on most requests, none in read-only ones */
	if (stale && !XactReadOnly)
	{
		Oid			types[1] = {UUIDOID};
		FmgrInfo	flinfo;

		LOCAL_FCINFO(fcinfo, 1);

		prepare_call(fcinfo, &flinfo, API_SCHEMA, "key_used", 1, types);
		set_arg(fcinfo, 0, DirectFunctionCall1(uuid_in, CStringGetDatum(id)));
		(void) FunctionCallInvoke(fcinfo);
	}
	return true;
}

/* A body field a handler takes, and its JSON type: s(tring), n(umber), a(rray), o(bject) or * (any). */
typedef struct FieldSpec
{
	const char *name;
	char		type;
} FieldSpec;

/*
 * execlave_api.check_fields(body, spec_json): when a field of body is not
 * in spec, or of another type (null is absent), that function is called
 * and raises its error.
 */
static void
check_fields(Jsonb *body, const FieldSpec *spec, int nspec, const char *spec_json)
{
	JsonbIterator *it = JsonbIteratorInit(&body->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		good = true;
	char		want = 0;

	while (good && (tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			want = 0;
			for (int i = 0; i < nspec && want == 0; i++)
				if (strlen(spec[i].name) == (size_t) v.val.string.len &&
					memcmp(spec[i].name, v.val.string.val, v.val.string.len) == 0)
					want = spec[i].type;
			good = want != 0;
		}
		else if (tok == WJB_VALUE && want != '*' && v.type != jbvNull)
		{
			switch (want)
			{
				case 's':
					good = v.type == jbvString;
					break;
				case 'n':
					good = v.type == jbvNumeric;
					break;
				case 'a':
					good = v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data);
					break;
				case 'o':
					good = v.type == jbvBinary && JsonContainerIsObject(v.val.binary.data);
					break;
				default:
					good = false;
			}
		}
	}
	if (!good)
	{
		Oid			types[2] = {JSONBOID, JSONBOID};
		FmgrInfo	flinfo;

		LOCAL_FCINFO(fcinfo, 2);

		prepare_call(fcinfo, &flinfo, API_SCHEMA, "check_fields", 2, types);
		set_arg(fcinfo, 0, JsonbPGetDatum(body));
		set_arg(fcinfo, 1, DirectFunctionCall1(jsonb_in, CStringGetDatum(spec_json)));
		(void) FunctionCallInvoke(fcinfo);
	}
}

/* A string field of body, NULL when absent or null. */
static char *
string_field(Jsonb *body, const char *name)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&body->root, name, strlen(name), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
require_field(const char *value, const char *name)
{
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" is required", name)));
}

/* execlave_api.own_agent(agent, what): the agent's id; 403 unless the key may act for it. */
static Datum
own_agent(const char *agent, const char *what)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	FmgrInfo	flinfo;

	LOCAL_FCINFO(fcinfo, 2);

	prepare_call(fcinfo, &flinfo, API_SCHEMA, "own_agent", 2, types);
	set_arg(fcinfo, 0, CStringGetTextDatum(agent));
	set_arg(fcinfo, 1, CStringGetTextDatum(what));
	return FunctionCallInvoke(fcinfo);
}

/* execlave.resolve_agent(agent): the agent's id (EX002 when unknown). */
static Datum
resolve_agent(const char *agent)
{
	Oid			types[1] = {TEXTOID};
	FmgrInfo	flinfo;

	LOCAL_FCINFO(fcinfo, 1);

	prepare_call(fcinfo, &flinfo, EXECLAVE_SCHEMA, "resolve_agent", 1, types);
	set_arg(fcinfo, 0, CStringGetTextDatum(agent));
	return FunctionCallInvoke(fcinfo);
}

static bool
texts_differ(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) != 0;
}

/*
 * POST /api/agents/authorize (execlave_api.http_authorize, in C): 200 with
 * the grant, or 403 with the reason.
 */
static Datum
http_authorize(Jsonb *body, const char *scope, int *status)
{
	static const FieldSpec fields[] = {{"sourceAgentId", 's'}, {"callerAgentId", 's'},
	{"targetAgentId", 's'}, {"calleeAgentId", 's'}, {"action", 's'}};
	char	   *src;
	char	   *tgt;
	char	   *act;
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	FmgrInfo	flinfo;
	HeapTupleHeader decision;
	bool		authorized;
	bool		isnull;
	char	   *reason;
	Datum		grant_id;
	bool		no_grant;
	Datum		answer;

	LOCAL_FCINFO(fcinfo, 3);

	check_fields(body, fields, lengthof(fields),
						"{\"sourceAgentId\": \"string\", \"callerAgentId\": \"string\","
						" \"targetAgentId\": \"string\", \"calleeAgentId\": \"string\", \"action\": \"string\"}");
	if (texts_differ(string_field(body, "sourceAgentId"), string_field(body, "callerAgentId")) ||
		texts_differ(string_field(body, "targetAgentId"), string_field(body, "calleeAgentId")))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sourceAgentId and callerAgentId (or targetAgentId and calleeAgentId) name different agents"),
				 errhint("Send one spelling of each.")));
	src = string_field(body, "sourceAgentId");
	if (src == NULL)
		src = string_field(body, "callerAgentId");
	tgt = string_field(body, "targetAgentId");
	if (tgt == NULL)
		tgt = string_field(body, "calleeAgentId");
	if (src == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"sourceAgentId\" (or \"callerAgentId\") is required")));
	if (tgt == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"targetAgentId\" (or \"calleeAgentId\") is required")));
	act = string_field(body, "action");
	require_field(act, "action");
	if (strcmp(scope, "agent") == 0)
		(void) own_agent(src, "authorize as source");

	/* execlave_api.authorize_decision: an agent key learns nothing about other agents */
	prepare_call(fcinfo, &flinfo, EXECLAVE_SCHEMA, "authorize_explain", 3, types);
	set_arg(fcinfo, 0, CStringGetTextDatum(src));
	set_arg(fcinfo, 1, CStringGetTextDatum(tgt));
	set_arg(fcinfo, 2, CStringGetTextDatum(act));
	decision = DatumGetHeapTupleHeader(FunctionCallInvoke(fcinfo));
	authorized = DatumGetBool(GetAttributeByNum(decision, 1, &isnull));
	reason = TextDatumGetCString(GetAttributeByNum(decision, 2, &isnull));
	grant_id = GetAttributeByNum(decision, 3, &no_grant);
	if (!authorized && strcmp(scope, "agent") == 0 &&
		strcmp(reason, "source_paused") != 0 && strcmp(reason, "source_archived") != 0)
	{
		reason = "not_authorized";
		no_grant = true;
	}

	/* execlave_api.authorize_answer(authorized, reason, grant_id, src, tgt, act) */
	{
		Oid			atypes[6] = {BOOLOID, TEXTOID, UUIDOID, TEXTOID, TEXTOID, TEXTOID};
		FmgrInfo	aflinfo;
		HeapTupleHeader result;

		LOCAL_FCINFO(afcinfo, 6);

		prepare_call(afcinfo, &aflinfo, API_SCHEMA, "authorize_answer", 6, atypes);
		set_arg(afcinfo, 0, BoolGetDatum(authorized));
		set_arg(afcinfo, 1, CStringGetTextDatum(reason));
		if (!no_grant)
			set_arg(afcinfo, 2, grant_id);
		set_arg(afcinfo, 3, CStringGetTextDatum(src));
		set_arg(afcinfo, 4, CStringGetTextDatum(tgt));
		set_arg(afcinfo, 5, CStringGetTextDatum(act));
		result = DatumGetHeapTupleHeader(FunctionCallInvoke(afcinfo));
		*status = DatumGetInt32(GetAttributeByNum(result, 1, &isnull));
		if (isnull)
			*status = -1;
		answer = GetAttributeByNum(result, 2, &isnull);
	}
	return answer;
}

/* A JSON array of strings as text[] (execlave_api.text_array; the field is an array). */
static Datum
text_array(JsonbValue *value, const char *field)
{
	JsonbIterator *it = JsonbIteratorInit(value->val.binary.data);
	JsonbValue	v;
	JsonbIteratorToken tok;
	ArrayBuildState *astate = initArrayResult(TEXTOID, CurrentMemoryContext, false);

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("field \"%s\" must be a JSON array of strings", field)));
		astate = accumArrayResult(astate, PointerGetDatum(cstring_to_text_with_len(v.val.string.val,
																				   v.val.string.len)),
								  false, TEXTOID, CurrentMemoryContext);
	}
	return makeArrayResult(astate, CurrentMemoryContext);
}

/*
 * POST /api/policies/enforce (execlave_api.http_enforce, in C up to the
 * check; the answer is execlave_api.enforce_answer's).
 */
static Datum
http_enforce(Jsonb *body, const char *scope, int *status, bool *answer_null)
{
	static const FieldSpec fields[] = {{"agentId", 's'}, {"input", 's'}, {"environment", 's'},
	{"metadata", 'o'}, {"estimatedCost", 'n'}, {"tools", 'a'}, {"model", 's'}, {"modelName", 's'},
	{"toolDescriptors", '*'}, {"conversationHistory", '*'}, {"toolOutputs", '*'}};
	char	   *agent;
	char	   *input;
	char	   *model;
	char	   *environment;
	Datum		aid;
	JsonbValue *v;
	Datum		meta = (Datum) 0;
	Oid			types[6] = {TEXTOID, TEXTOID, TEXTOID, NUMERICOID, TEXTARRAYOID, JSONBOID};
	Oid			atypes[2] = {UUIDOID, JSONBOID};
	FmgrInfo	flinfo;
	Datum		r;
	HeapTupleHeader result;
	bool		isnull;

	LOCAL_FCINFO(fcinfo, 6);

	check_fields(body, fields, lengthof(fields),
				 "{\"agentId\": \"string\", \"input\": \"string\", \"environment\": \"string\","
				 " \"metadata\": \"object\", \"estimatedCost\": \"number\", \"tools\": \"array\","
				 " \"model\": \"string\", \"modelName\": \"string\", \"toolDescriptors\": \"any\","
				 " \"conversationHistory\": \"any\", \"toolOutputs\": \"any\"}");
	agent = string_field(body, "agentId");
	require_field(agent, "agentId");
	input = string_field(body, "input");
	require_field(input, "input");
	/* execlave_api.own_agent: for an admin key, the agent (EX002 when unknown) */
	aid = strcmp(scope, "admin") == 0 ? resolve_agent(agent) : own_agent(agent, "run a pre-execution check");

	v = getKeyJsonValueFromContainer(&body->root, "metadata", 8, NULL);
	if (v != NULL && v->type != jbvNull)
		meta = JsonbPGetDatum(JsonbValueToJsonb(v));
	environment = string_field(body, "environment");
	if (environment != NULL)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"environment\": ");
		escape_json(&buf, environment);
		appendStringInfoChar(&buf, '}');
		meta = DirectFunctionCall2(jsonb_concat,
								   meta != (Datum) 0 ? meta : DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")),
								   DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	}
	model = string_field(body, "model");
	if (model == NULL)
		model = string_field(body, "modelName");

	prepare_call(fcinfo, &flinfo, EXECLAVE_SCHEMA, "enforce", 6, types);
	set_arg(fcinfo, 0, CStringGetTextDatum(agent));
	set_arg(fcinfo, 1, CStringGetTextDatum(input));
	if (model != NULL)
		set_arg(fcinfo, 2, CStringGetTextDatum(model));
	v = getKeyJsonValueFromContainer(&body->root, "estimatedCost", 13, NULL);
	if (v != NULL && v->type == jbvNumeric)
		set_arg(fcinfo, 3, NumericGetDatum(v->val.numeric));
	v = getKeyJsonValueFromContainer(&body->root, "tools", 5, NULL);
	if (v != NULL && v->type == jbvBinary)
		set_arg(fcinfo, 4, text_array(v, "tools"));
	if (meta != (Datum) 0)
		set_arg(fcinfo, 5, meta);
	r = FunctionCallInvoke(fcinfo);
	if (fcinfo->isnull)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("execlave.enforce returned NULL")));

	prepare_call(fcinfo, &flinfo, API_SCHEMA, "enforce_answer", 2, atypes);
	set_arg(fcinfo, 0, aid);
	set_arg(fcinfo, 1, r);
	result = DatumGetHeapTupleHeader(FunctionCallInvoke(fcinfo));
	*status = DatumGetInt32(GetAttributeByNum(result, 1, &isnull));
	if (isnull)
		*status = -1;
	return GetAttributeByNum(result, 2, answer_null);
}

/* A handler in SQL, execlave_api.http_<name>(NULL, '{}', body) -> (status, answer). */
static Datum
http_sql_handler(const char *name, Jsonb *body, int *status, bool *answer_null)
{
	Oid			types[3] = {TEXTOID, JSONBOID, JSONBOID};
	FmgrInfo	flinfo;
	HeapTupleHeader result;
	bool		isnull;
	Datum		answer;

	LOCAL_FCINFO(fcinfo, 3);

	prepare_call(fcinfo, &flinfo, API_SCHEMA, name, 3, types);
	set_arg(fcinfo, 1, DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	set_arg(fcinfo, 2, JsonbPGetDatum(body));
	result = DatumGetHeapTupleHeader(FunctionCallInvoke(fcinfo));
	*status = DatumGetInt32(GetAttributeByNum(result, 1, &isnull));
	if (isnull)
		*status = -1;
	answer = GetAttributeByNum(result, 2, answer_null);
	return answer;
}

/* execlave_api.error_answer(sqlstate, message, detail, hint, parsing) -> (status, answer) */
static Datum
error_answer(ErrorData *edata, bool parsing, int *status, bool *answer_null)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	FmgrInfo	flinfo;
	HeapTupleHeader result;
	bool		isnull;

	LOCAL_FCINFO(fcinfo, 5);

	prepare_call(fcinfo, &flinfo, API_SCHEMA, "error_answer", 5, types);
	/* as GET STACKED DIAGNOSTICS gives them: '' for what is absent */
	set_arg(fcinfo, 0, CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode)));
	set_arg(fcinfo, 1, CStringGetTextDatum(edata->message ? edata->message : ""));
	set_arg(fcinfo, 2, CStringGetTextDatum(edata->detail ? edata->detail : ""));
	set_arg(fcinfo, 3, CStringGetTextDatum(edata->hint ? edata->hint : ""));
	set_arg(fcinfo, 4, BoolGetDatum(parsing));
	result = DatumGetHeapTupleHeader(FunctionCallInvoke(fcinfo));
	*status = DatumGetInt32(GetAttributeByNum(result, 1, &isnull));
	if (isnull)
		*status = -1;
	return GetAttributeByNum(result, 2, answer_null);
}

/* Is s empty but for spaces, tabs, CR and LF (btrim(s, E' \t\r\n') = '')? */
static bool
blank(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* lower(btrim(split_part(ctype, ';', 1))) = 'application/json', for ASCII spellings. */
static bool
json_content_type(const char *ctype)
{
	const char *end;

	if (ctype == NULL)
		return false;
	end = strchr(ctype, ';');
	if (end == NULL)
		end = ctype + strlen(ctype);
	while (ctype < end && *ctype == ' ')
		ctype++;
	while (end > ctype && end[-1] == ' ')
		end--;
	return end - ctype == 16 && pg_strncasecmp(ctype, "application/json", 16) == 0;
}

/*
 * execlave_api.dispatch(raw text) RETURNS jsonb: the hosted API's answer,
 * with response.status set for PostgREST.
 */
Datum
execlave_http_dispatch(PG_FUNCTION_ARGS)
{
	const char *hdrs = GetConfigOption("request.headers", true, false);
	Jsonb	   *headers;
	bool		odd = false;
	char	   *method;
	HotRoute	route;
	char	   *key;
	char	   *ctype;
	char	   *scope = NULL;
	text	   *raw = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	char	   *body_text = NULL;
	volatile int status = 0;
	volatile Datum answer = (Datum) 0;
	volatile bool answer_null = false;
	volatile bool parsing = false;
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	if (hdrs == NULL || hdrs[0] == '\0')
		return dispatch_sql(fcinfo);
	headers = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(hdrs)));
	if (!JB_ROOT_IS_OBJECT(headers))
		return dispatch_sql(fcinfo);
	method = header(headers, "x-execlave-method", &odd);
	route = hot_route(header(headers, "x-execlave-uri", &odd));
	key = header(headers, "x-api-key", &odd);
	ctype = header(headers, "x-execlave-content-type", &odd);
	if (odd || route == HOT_NONE || (method != NULL && strcmp(method, "POST") != 0))
		return dispatch_sql(fcinfo);
	/* every hot route takes any key: admin, or an agent key for its own agent */
	if (!authenticate(key, &scope))
		return dispatch_sql(fcinfo);
	if (raw != NULL && !blank(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw)))
	{
		if (!json_content_type(ctype))
			return dispatch_sql(fcinfo);	/* 415; the key's settings are set again there */
		body_text = text_to_cstring(raw);
	}

	/* the handler: an error undoes what it wrote */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		Jsonb	   *body;
		int			st = 0;
		bool		null_answer = false;
		Datum		a = (Datum) 0;

		if (body_text != NULL)
		{
			parsing = true;
			body = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(body_text)));
			parsing = false;
			if (!JB_ROOT_IS_OBJECT(body) || JB_ROOT_IS_SCALAR(body))
			{
				parsing = true;
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the body must be a JSON object, not %s",
								TextDatumGetCString(DirectFunctionCall1(jsonb_typeof, JsonbPGetDatum(body))))));
			}
		}
		else
			body = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));

		switch (route)
		{
			case HOT_AUTHORIZE:
				a = http_authorize(body, scope, &st);
				break;
			case HOT_ENFORCE:
				a = http_enforce(body, scope, &st, &null_answer);
				break;
			case HOT_INGEST:
				a = http_sql_handler("http_ingest_traces", body, &st, &null_answer);
				break;
			case HOT_NONE:
				break;
		}
		status = st;
		answer = a;
		answer_null = null_answer;
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			st;
		bool		null_answer;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		answer = error_answer(edata, parsing, &st, &null_answer);
		status = st;
		answer_null = null_answer;
		FreeErrorData(edata);
	}
	PG_END_TRY();

	/* execlave_api.respond(status, answer) */
	if (status >= 0)
		set_local("response.status", psprintf("%d", status));
	if (answer_null)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(answer);
}

/*
 * execlave_api.trace_fields_known(traces jsonb) RETURNS boolean: is every
 * element of the array an object whose fields are all trace fields of the
 * batch ingestion (the names of execlave_api.ingest_traces's "known")?
 * The test of its one-statement path, without a copy of each element.
 */
PG_FUNCTION_INFO_V1(execlave_trace_fields_known);

Datum
execlave_trace_fields_known(PG_FUNCTION_ARGS)
{
	static const char *const known[] = {"traceId", "agentId", "sessionId", "userId", "timestamp",
		"startedAt", "durationMs", "duration", "status", "input", "output", "errorMessage", "errorType",
		"model", "modelName", "promptTokens", "completionTokens", "totalTokens", "cost", "costUsd",
	"environment", "tags", "tools", "metadata", "parentTraceId", "spanType"};
	Jsonb	   *traces = PG_GETARG_JSONB_P(0);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_ARRAY(traces) || JB_ROOT_IS_SCALAR(traces))
		PG_RETURN_BOOL(false);
	it = JsonbIteratorInit(&traces->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbIterator *fit;
		JsonbValue	f;
		JsonbIteratorToken ftok;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			PG_RETURN_BOOL(false);
		fit = JsonbIteratorInit(v.val.binary.data);
		while ((ftok = JsonbIteratorNext(&fit, &f, true)) != WJB_DONE)
		{
			bool		found = false;

			if (ftok != WJB_KEY)
				continue;
			for (int i = 0; i < (int) lengthof(known) && !found; i++)
				found = strlen(known[i]) == (size_t) f.val.string.len &&
					memcmp(known[i], f.val.string.val, f.val.string.len) == 0;
			if (!found)
				PG_RETURN_BOOL(false);
		}
	}
	PG_RETURN_BOOL(true);
}
