/*
 * usage_limits.c
 *		Evaluation of the windowed policies: rate_limit (requests per UTC
 *		minute and hour), cost_limit (USD per trace and per UTC day) and
 *		budget_cap (USD per calendar month, per agent or shared), checked and
 *		counted in one atomic step under the entry's spinlock (windows.c);
 *		crossed cost thresholds (cost.threshold) and pause_agent pauses are
 *		left pending until the trace is accepted (execlave_limits_after_accept).
 */

#include "usage_limits.h"

#include "access/xact.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "clock.h"
#include "money.h"
#include "policy.h"
#include "sqlcall.h"
#include "violations.h"
#include "windows.h"



/* Work left for after the row is accepted (see execlave_limits_after_accept) */
typedef struct Pending
{
	StringInfoData events;		/* JSON objects of cost.threshold, comma-separated */
	int			nevents;
	char	   *pause_reason;
	bool		active;
} Pending;

static Pending pending;

/* End of transaction: nothing is left pending. */
static void
limits_xact_callback(XactEvent event, void *arg)
{
	pending.active = false;
}

/* Called once per process from _PG_init. */
void
execlave_limits_init(void)
{
	RegisterXactCallback(limits_xact_callback, NULL);
}

/* The mode a cost or rate violation of p is recorded with. */
static PolicyMode
effective_mode(const CompiledPolicy *p)
{
	return (p->type != POLICY_RATE_LIMIT && p->action == LIMIT_WARN) ? MODE_LOG : p->mode;
}

/* Does a blocking per-trace cap of p refuse a request of cost on its own? */
static bool
blocks_trace(const CompiledPolicy *p, int64 cost)
{
	return p->type == POLICY_COST_LIMIT && effective_mode(p) == MODE_BLOCK &&
		p->max_cost_trace >= 0 && cost > p->max_cost_trace;
}

/* Would adding one request of cost to c exceed a blocking limit of p? */
static bool
blocks_agent(const CompiledPolicy *p, const Counts *c, int64 cost)
{
	if (effective_mode(p) != MODE_BLOCK)
		return false;
	switch (p->type)
	{
		case POLICY_RATE_LIMIT:
			return (p->max_per_minute >= 0 && c->minute_count + 1 > p->max_per_minute) ||
				(p->max_per_hour >= 0 && c->hour_count + 1 > p->max_per_hour);
		case POLICY_COST_LIMIT:
			/* the per-trace cap: blocks_trace(), before anything is counted */
			return p->max_cost_day >= 0 && c->day_cost + cost > p->max_cost_day;
		case POLICY_BUDGET_CAP:
			return !p->budget_per_policy && c->month_cost + cost > p->max_cost_month;
		default:
			return false;
	}
}

/* Is spend + cost over cap (pre-execution without an estimate: nothing left)? */
static bool
over_cap(int64 spend, int64 cost, int64 cap, bool estimate_missing)
{
	return estimate_missing ? spend >= cap : spend + cost > cap;
}

/* Record the thresholds of p crossed by going from before to after. */
static void
note_thresholds(const PolicyRequest *req, const CompiledPolicy *p, const char *window,
				TimestampTz window_start, int64 cap, int64 before, int64 after)
{
	for (int i = 0; i < p->nthresholds; i++)
	{
		int			pct = p->thresholds[i];
		int64		t = cap / 100 * pct + (cap % 100) * pct / 100;
		pg_uuid_t	pid = p->id;

		if (!(before < t && after >= t))
			continue;
		if (pending.nevents > 0)
			appendStringInfoString(&pending.events, ", ");
		appendStringInfo(&pending.events,
						 "{\"policy_id\": \"%s\", \"policy_name\": ",
						 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid))));
		escape_json(&pending.events, p->name);
		appendStringInfo(&pending.events,
						 ", \"policy_type\": \"%s\", \"agent_key\": ",
						 execlave_policy_type_names[p->type]);
		escape_json(&pending.events, req->agent_key);
		appendStringInfoString(&pending.events, ", \"trace_id\": ");
		if (req->trace_id)
			escape_json(&pending.events, req->trace_id);
		else
			appendStringInfoString(&pending.events, "null");
		appendStringInfo(&pending.events,
						 ", \"window\": \"%s\", \"window_start\": \"%s\", "
						 "\"scope\": \"%s\", \"spend_usd\": %s, \"cap_usd\": %s, \"percent\": %d, "
						 "\"spend_percent\": %.1f}",
						 window, execlave_ts_text(window_start),
						 p->budget_per_policy ? "policy" : "agent", execlave_usd_text(after), execlave_usd_text(cap), pct,
						 cap > 0 ? 100.0 * (double) after / (double) cap : 100.0);
		pending.nevents++;
	}
	/* pause_agent: on reaching the cap, whatever thresholds are listed (a cap of 0: any spend) */
	if (p->action == LIMIT_PAUSE_AGENT && pending.pause_reason == NULL &&
		after >= cap && (before < cap || (cap == 0 && after > before)))
		pending.pause_reason =
			psprintf("%s policy \"%s\" reached 100%% of its %s cap of %s USD (spend %s USD)",
					 execlave_policy_type_names[p->type], p->name,
					 strcmp(window, "day") == 0 ? "daily" : "monthly", execlave_usd_text(cap), execlave_usd_text(after));
}

/* One violation of a cost cap: window "trace", "day" or "month". */
static void
cost_violation(PolicyOutcome *out, const PolicyRequest *req, const CompiledPolicy *p,
			   const char *window, TimestampTz window_start, int64 spend, int64 cost, int64 cap)
{
	bool		est = !req->ingestion;
	bool		per_trace = strcmp(window, "trace") == 0;
	bool		daily = strcmp(window, "day") == 0;
	char	   *this_one;
	char	   *msg;
	char	   *details;
	PolicyMode	mode = effective_mode(p);

	if (req->cost_nanos < 0)
		this_one = pstrdup("no cost estimate given and nothing left");
	else
		this_one = psprintf("%s %s USD", est ? "estimated" : "this trace", execlave_usd_text(cost));
	if (per_trace)
		msg = psprintf("per-trace cost cap exceeded: %s, cap %s USD", this_one, execlave_usd_text(cap));
	else
		msg = psprintf("%s cap exceeded: %s USD spent %s, %s, cap %s USD",
					   daily ? "daily cost" : "monthly budget", execlave_usd_text(spend),
					   daily ? "today (UTC)" : "this month (UTC)", this_one, execlave_usd_text(cap));
	details = psprintf("{\"window\": \"%s\", \"window_start\": %s%s%s, \"scope\": \"%s\", "
					   "\"spend_usd\": %s, \"cost_usd\": %s, \"cap_usd\": %s, \"estimated\": %s, \"action\": \"%s\"}",
					   window, per_trace ? "" : "\"", per_trace ? "null" : execlave_ts_text(window_start),
					   per_trace ? "" : "\"", p->budget_per_policy ? "policy" : "agent",
					   execlave_usd_text(spend), req->cost_nanos < 0 ? "null" : execlave_usd_text(cost), execlave_usd_text(cap),
					   est ? "true" : "false",
					   p->action == LIMIT_WARN ? "warn" : p->action == LIMIT_PAUSE_AGENT ? "pause_agent" : "block");
	execlave_add_violation(out, p, mode, msg, details);
	if (req->ingestion && mode == MODE_BLOCK && p->action == LIMIT_PAUSE_AGENT)
	{
		PolicyViolation *v = llast(out->violations);

		/* refused: the pause goes with the durably recorded violation */
		v->pause_reason = psprintf("%s policy \"%s\": %s", execlave_policy_type_names[p->type],
								   p->name, msg);
	}
}

/*
 * Evaluate the windowed policies ps[0..n-1] on req, after the other
 * policies (out holds their outcome).  At ingestion, an accepted trace is
 * counted atomically with the checks of every blocking limit; crossed
 * thresholds and a pause are left pending for execlave_windows_after_accept.
 */
void
execlave_limits_evaluate(const PolicyRequest *req, const CompiledPolicy **ps, int n, PolicyOutcome *out)
{
	Windows		w;
	UsageKey	akey;
	Counts		before;
	bool		need_agent = false;
	bool		accept = req->ingestion && !out->blocked;
	int64		cost = Max(req->cost_nanos, 0);
	bool		no_estimate = !req->ingestion && req->cost_nanos < 0;
	int64	   *pbefore = palloc0(sizeof(int64) * n);
	Reservation *added = palloc(sizeof(Reservation) * (n + 1));
	int			nadded = 0;

	execlave_usage_require_shmem();
	execlave_usage_reserve_room(n + 1);		/* execlave_usage_remember() must not fail once something is counted */
	execlave_windows_of(execlave_clock(), &w);
	if (pending.events.data == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&pending.events);
		MemoryContextSwitchTo(old);
	}
	resetStringInfo(&pending.events);
	pending.nevents = 0;
	pending.pause_reason = NULL;
	pending.active = req->ingestion;
	out->windowed = true;

	for (int i = 0; i < n; i++)
		if (!(ps[i]->type == POLICY_BUDGET_CAP && ps[i]->budget_per_policy) &&
			!(ps[i]->type == POLICY_COST_LIMIT && ps[i]->max_cost_day < 0))
			need_agent = true;

	/*
	 * A per-trace cap refuses on the request alone, so before anything is
	 * counted: a shared budget must not hold a refused trace's cost even for
	 * the moment its violation takes to be recorded.
	 */
	for (int i = 0; accept && i < n; i++)
		if (blocks_trace(ps[i], cost))
			accept = false;

	memset(&before, 0, sizeof(before));
	if (need_agent)
	{
		UsageEntry *e;

		execlave_usage_agent_key(&akey, &req->agent_id);
		e = execlave_usage_lock(&akey, NULL, &w, false);
		before = e->c;
		if (accept)
		{
			for (int i = 0; accept && i < n; i++)
				if (blocks_agent(ps[i], &e->c, cost))
					accept = false;
			if (accept)
			{
				e->c.minute_count++;
				e->c.hour_count++;
				e->c.day_cost = execlave_add_sat(e->c.day_cost, cost);
				e->c.month_cost = execlave_add_sat(e->c.month_cost, cost);
				execlave_usage_note_addition(&added[nadded++], &akey, &e->c, 1, cost);
			}
		}
		execlave_usage_unlock(e);
		/* remembered at once: an error from here on is undone by the abort */
		if (nadded > 0)
			execlave_usage_remember(&added[nadded - 1]);
	}

	/* shared budgets, one entry each */
	for (int i = 0; i < n; i++)
	{
		const CompiledPolicy *p = ps[i];
		UsageKey	pkey;
		UsageEntry *e;

		if (!(p->type == POLICY_BUDGET_CAP && p->budget_per_policy))
			continue;
		execlave_usage_policy_key(&pkey, p);
		e = execlave_usage_lock(&pkey, p, &w, false);
		pbefore[i] = e->c.month_cost;
		if (accept)
		{
			if (effective_mode(p) == MODE_BLOCK && e->c.month_cost + cost > p->max_cost_month)
				accept = false;
			else
			{
				e->c.month_cost = execlave_add_sat(e->c.month_cost, cost);
				execlave_usage_note_addition(&added[nadded++], &pkey, &e->c, 0, cost);
			}
		}
		execlave_usage_unlock(e);
		if (accept && nadded > 0)
			execlave_usage_remember(&added[nadded - 1]);
	}
	if (!accept)
	{
		/* a later limit refused the request: take back what it added, and its record */
		for (int i = 0; i < nadded; i++)
		{
			Reservation neg = added[i];

			execlave_usage_unreserve(&added[i]);
			neg.count = -neg.count;
			neg.cost = -neg.cost;
			execlave_usage_remember(&neg);
		}
	}

	/* the violations, from the usage before this request */
	for (int i = 0; i < n; i++)
	{
		const CompiledPolicy *p = ps[i];

		switch (p->type)
		{
			case POLICY_RATE_LIMIT:
				{
					StringInfoData msg;
					StringInfoData det;
					bool		over_m = p->max_per_minute >= 0 && before.minute_count + 1 > p->max_per_minute;
					bool		over_h = p->max_per_hour >= 0 && before.hour_count + 1 > p->max_per_hour;

					if (!over_m && !over_h)
						break;
					initStringInfo(&msg);
					initStringInfo(&det);
					appendStringInfoString(&msg, "rate limit exceeded:");
					appendStringInfoChar(&det, '{');
					if (over_m)
					{
						appendStringInfo(&msg, " request " INT64_FORMAT " this minute (limit " INT64_FORMAT ")",
										 before.minute_count + 1, p->max_per_minute);
						appendStringInfo(&det, "\"minute\": {\"window_start\": \"%s\", \"requests\": " INT64_FORMAT ", \"limit\": " INT64_FORMAT "}",
										 execlave_ts_text(w.minute_start), before.minute_count + 1, p->max_per_minute);
					}
					if (over_h)
					{
						appendStringInfo(&msg, "%s request " INT64_FORMAT " this hour (limit " INT64_FORMAT ")",
										 over_m ? "," : "", before.hour_count + 1, p->max_per_hour);
						appendStringInfo(&det, "%s\"hour\": {\"window_start\": \"%s\", \"requests\": " INT64_FORMAT ", \"limit\": " INT64_FORMAT "}",
										 over_m ? ", " : "", execlave_ts_text(w.hour_start), before.hour_count + 1, p->max_per_hour);
					}
					appendStringInfoChar(&det, '}');
					execlave_add_violation(out, p, p->mode, msg.data, det.data);
					break;
				}
			case POLICY_COST_LIMIT:
				if (p->max_cost_trace >= 0 && req->cost_nanos >= 0 && cost > p->max_cost_trace)
					cost_violation(out, req, p, "trace", 0, 0, cost, p->max_cost_trace);
				if (p->max_cost_day >= 0 && over_cap(before.day_cost, cost, p->max_cost_day, no_estimate))
					cost_violation(out, req, p, "day", w.day_start, before.day_cost, cost, p->max_cost_day);
				if (accept && p->max_cost_day >= 0 && cost > 0)
					note_thresholds(req, p, "day", w.day_start, p->max_cost_day,
									before.day_cost, before.day_cost + cost);
				break;
			case POLICY_BUDGET_CAP:
				{
					int64		spend = p->budget_per_policy ? pbefore[i] : before.month_cost;

					if (over_cap(spend, cost, p->max_cost_month, no_estimate))
						cost_violation(out, req, p, "month", w.month_start, spend, cost, p->max_cost_month);
					if (accept && cost > 0)
						note_thresholds(req, p, "month", w.month_start, p->max_cost_month,
										spend, spend + cost);
					break;
				}
			default:
				break;
		}
	}
}

/*
 * The trace is accepted: emit its cost.threshold events and pause the agent
 * if a pause_agent policy reached 100%, in the trace's transaction.
 */
void
execlave_limits_after_accept(const PolicyRequest *req)
{
	char	   *events;
	char	   *pause_reason;

	if (!pending.active)
		return;
	/* take the pending work first: what follows may evaluate policies again */
	pending.active = false;
	events = pending.nevents > 0 ? psprintf("[%s]", pending.events.data) : NULL;
	pause_reason = pending.pause_reason;
	pending.pause_reason = NULL;
	if (events != NULL)
		execlave_sql_emit_signals("cost.threshold", &req->agent_id, events);
	if (pause_reason != NULL)
		execlave_sql_pause_for_policy(&req->agent_id, pause_reason);
}

/* ---------------------------------------------------------------------
 * SQL: execlave_usage(agent)
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(execlave_usage);

/* execlave_usage(agent) RETURNS TABLE (window, window_start, requests, spend_usd) */
Datum
execlave_usage(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UsageEntry	e;
	Windows		w;
	const char *names[4] = {"minute", "hour", "day", "month"};
	TimestampTz starts[4];
	int64		counts[4];
	int64		costs[4];

	execlave_usage_snapshot(fcinfo, &e, &w);
	starts[0] = w.minute_start;
	starts[1] = w.hour_start;
	starts[2] = w.day_start;
	starts[3] = w.month_start;
	counts[0] = e.c.minute_count;
	counts[1] = e.c.hour_count;
	counts[2] = -1;
	counts[3] = -1;
	costs[0] = costs[1] = -1;
	costs[2] = e.c.day_cost;
	costs[3] = e.c.month_cost;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < 4; i++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(names[i]);
		values[1] = TimestampTzGetDatum(starts[i]);
		if (counts[i] >= 0)
			values[2] = Int64GetDatum(counts[i]);
		else
			nulls[2] = true;
		if (costs[i] >= 0)
			values[3] = DirectFunctionCall3(numeric_in, CStringGetDatum(execlave_usd_text(costs[i])),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
