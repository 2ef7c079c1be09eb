/*
 * agents.c
 *		SQL-callable agent functions on the hot path, and the kill-switch check.
 *
 * execlave_agent_status(), execlave_assert_active() and
 * execlave.resolve_agent() answer from the backend-local cache
 * (agent_cache.c).  execlave.invalidate_cache() is the statement trigger that
 * turns every change of a cached table into a relcache invalidation; the
 * management functions (register, pause, resume) are SQL in the install script
 * and reach these through the table and its triggers.
 */

#include "agents.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/timestamp.h"

#include "agent_cache.h"
#include "execlave.h"


PG_FUNCTION_INFO_V1(execlave_agent_status);
PG_FUNCTION_INFO_V1(execlave_assert_active);
PG_FUNCTION_INFO_V1(execlave_resolve_agent);
PG_FUNCTION_INFO_V1(execlave_invalidate_cache);

/* SQL spelling of a status. */
const char *
execlave_agent_status_name(ExeclaveAgentStatus status)
{
	switch (status)
	{
		case AGENT_ACTIVE:
			return "active";
		case AGENT_PAUSED:
			return "paused";
		case AGENT_INACTIVE:
			return "inactive";
		case AGENT_ARCHIVED:
			return "archived";
	}
	return "unknown";
}

/*
 * Raise the kill-switch error if the agent may not do new work:
 * EX001 when paused, EX004 when archived.  Active and inactive pass.
 */
void
execlave_check_agent_usable(const ExeclaveAgent *agent)
{
	if (agent->status == AGENT_PAUSED)
	{
		char		key[EXECLAVE_MAX_KEY_LEN + 1];
		const char *when = agent->paused_at != 0 ? timestamptz_to_str(agent->paused_at) : "an unknown time";
		const char *by = agent->paused_by ? agent->paused_by : "unknown";
		const char *why = agent->pause_reason ? agent->pause_reason : "no reason given";

		strlcpy(key, agent->key, sizeof(key));
		ereport(ERROR,
				(errcode(ERRCODE_EXECLAVE_AGENT_PAUSED),
				 errmsg("agent \"%s\" is paused", key),
				 errdetail("Paused at %s by %s: %s", when, by, why),
				 errhint("Resume it with SELECT execlave_resume_agent('%s').", key)));
	}
	if (agent->status == AGENT_ARCHIVED)
		ereport(ERROR,
				(errcode(ERRCODE_EXECLAVE_AGENT_ARCHIVED),
				 errmsg("agent \"%s\" is archived", agent->key),
				 errhint("Archived agents accept no new work; register a new agent or set its status back with UPDATE execlave.agents.")));
}

/*
 * Resolve argument argno (text: key or UUID) to a cached agent, raising
 * 22004 for NULL and the resolver's errors otherwise (EX002 for an unknown
 * agent unless missing_ok, then NULL).  Callers run
 * execlave_agent_cache_sync() first, so the answer reflects every committed
 * change.
 */
const ExeclaveAgent *
execlave_agent_from_arg(FunctionCallInfo fcinfo, int argno, const char *argname,
						bool missing_ok)
{
	text	   *t;
	char		buf[EXECLAVE_MAX_KEY_LEN + 2];
	int			len;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));

	t = PG_GETARG_TEXT_PP(argno);
	len = VARSIZE_ANY_EXHDR(t);
	if (len > EXECLAVE_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is too long (%d bytes, at most %d)",
						argname, len, EXECLAVE_MAX_KEY_LEN)));
	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
	if (strlen(buf) != (size_t) len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s", argname)));

	return execlave_agent_resolve(buf, missing_ok);
}

/* execlave_agent_status(agent text) RETURNS text */
Datum
execlave_agent_status(PG_FUNCTION_ARGS)
{
	const ExeclaveAgent *agent;

	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);

	PG_RETURN_TEXT_P(cstring_to_text(execlave_agent_status_name(agent->status)));
}

/* execlave_assert_active(agent text) RETURNS void: the kill-switch check. */
Datum
execlave_assert_active(PG_FUNCTION_ARGS)
{
	const ExeclaveAgent *agent;

	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);

	execlave_check_agent_usable(agent);
	PG_RETURN_VOID();
}

/* execlave.resolve_agent(agent text) RETURNS uuid: key or UUID to UUID. */
Datum
execlave_resolve_agent(PG_FUNCTION_ARGS)
{
	const ExeclaveAgent *agent;
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);

	memcpy(result, &agent->id, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}

/*
 * Statement trigger on a cached table (execlave.agents, execlave.grants):
 * queue a relcache invalidation so every backend drops what it cached from
 * the table when this transaction commits (and this backend after the
 * current command).
 */
Datum
execlave_invalidate_cache(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("execlave.invalidate_cache() must be called as a trigger")));

	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
