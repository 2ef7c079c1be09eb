/*
 * anomaly.c
 *		trace.anomaly: every accepted trace updates its agent's running
 *		statistics (stats.c, in the shared usage entry of windows.c, under its
 *		spinlock), and a value more than execlave.anomaly_threshold standard
 *		deviations above the running mean after the warm-up, or an error-rate
 *		spike, emits trace.anomaly; at most one per metric, agent and minute.
 */

#include "anomaly.h"

#include <math.h>

#include "port/pg_bitutils.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"

#include "clock.h"
#include "money.h"
#include "policy.h"
#include "sqlcall.h"
#include "stats.h"
#include "windows.h"



bool		execlave_anomaly_detection = true;

/* Called once per process from _PG_init: execlave.anomaly_detection. */
void
execlave_anomaly_init(void)
{
	DefineCustomBoolVariable("execlave.anomaly_detection",
							 gettext_noop("Emit trace.anomaly events for traces far above an agent's running statistics."),
							 NULL,
							 &execlave_anomaly_detection,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* Are anomalies detected (preloaded and execlave.anomaly_detection on)? */
bool
execlave_anomaly_active(void)
{
	return execlave_anomaly_detection && execlave_usage_ready();
}

/*
 * Fold an accepted trace into its agent's statistics and emit trace.anomaly
 * for each metric whose value lies more than execlave.anomaly_threshold
 * standard deviations above the running mean (after the warm-up), and for
 * an error-rate spike; at most one per metric, agent and minute.
 */
void
execlave_anomaly_observe(const PolicyRequest *req, double duration_ms, bool is_error)
{
	UsageKey	key;
	UsageEntry *e;
	Windows		w;
	double		vals[NUM_VALUE_METRICS];
	bool		have[NUM_VALUE_METRICS];
	bool		fire[NUM_METRICS] = {false};
	double		score[NUM_METRICS] = {0};
	double		value[NUM_METRICS] = {0};
	double		mean[NUM_METRICS] = {0};
	double		sd[NUM_METRICS] = {0};
	int64		observed;
	int			nfire = 0;

	if (!execlave_anomaly_detection || !execlave_usage_ready())
		return;
	execlave_windows_of(execlave_clock(), &w);
	vals[M_LATENCY] = duration_ms;
	have[M_LATENCY] = isfinite(duration_ms) && duration_ms >= 0 && duration_ms < 1e12;
	vals[M_COST] = req->cost_nanos >= 0 ? (double) req->cost_nanos / NANOS_PER_USD : 0;
	have[M_COST] = req->cost_nanos >= 0;
	vals[M_TOKENS] = (double) req->total_tokens;
	have[M_TOKENS] = req->total_tokens >= 0;

	execlave_usage_agent_key(&key, &req->agent_id);
	e = execlave_usage_lock(&key, NULL, &w, true);
	if (e == NULL)
		return;					/* shared memory full: no statistics for this agent */
	observed = e->s.observed;
	if (observed >= execlave_anomaly_warmup)
	{
		for (int m = 0; m < NUM_VALUE_METRICS; m++)
		{
			double		s;

			if (!have[m] || e->s.n[m] < execlave_anomaly_warmup)
				continue;
			s = execlave_metric_sd(&e->s, m);
			value[m] = vals[m];
			mean[m] = e->s.mean[m];
			sd[m] = s;
			score[m] = (vals[m] - e->s.mean[m]) / s;
			if (score[m] > execlave_anomaly_threshold && e->s.last_signal_minute[m] < w.minute)
			{
				fire[m] = true;
				e->s.last_signal_minute[m] = w.minute;
			}
		}
		if (is_error && observed >= ERROR_WINDOW)
		{
			uint32		recent = ((e->s.recent << 1) | 1u) & ((1u << ERROR_WINDOW) - 1);
			int			errors = pg_popcount32(recent);
			double		p = e->s.err_rate;
			double		s = Max(sqrt(ERROR_WINDOW * p * (1 - p)), 1.0);

			value[M_ERRORS] = (double) errors / ERROR_WINDOW;
			mean[M_ERRORS] = p;
			sd[M_ERRORS] = s / ERROR_WINDOW;
			score[M_ERRORS] = (errors - ERROR_WINDOW * p) / s;
			if (errors >= ERROR_MIN_HITS && score[M_ERRORS] > execlave_anomaly_threshold &&
				e->s.last_signal_minute[M_ERRORS] < w.minute)
			{
				fire[M_ERRORS] = true;
				e->s.last_signal_minute[M_ERRORS] = w.minute;
			}
		}
	}
	execlave_stats_fold(&e->s, vals, have, is_error, execlave_anomaly_warmup, execlave_anomaly_threshold);
	execlave_usage_unlock(e);

	for (int m = 0; m < NUM_METRICS; m++)
		nfire += fire[m];
	if (nfire == 0)
		return;
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoChar(&buf, '[');
		for (int m = 0; m < NUM_METRICS; m++)
		{
			if (!fire[m])
				continue;
			if (buf.len > 1)
				appendStringInfoString(&buf, ", ");
			appendStringInfo(&buf, "{\"metric\": \"%s\", \"value\": %.9g, \"baseline_mean\": %.9g, "
							 "\"baseline_stddev\": %.9g, \"score\": %.3f, \"threshold\": %g, "
							 "\"observations\": " INT64_FORMAT ", \"agent_key\": ",
							 execlave_metric_names[m], value[m], mean[m], sd[m], score[m],
							 execlave_anomaly_threshold, observed);
			escape_json(&buf, req->agent_key);
			appendStringInfoString(&buf, ", \"trace_id\": ");
			if (req->trace_id)
				escape_json(&buf, req->trace_id);
			else
				appendStringInfoString(&buf, "null");
			appendStringInfoChar(&buf, '}');
		}
		appendStringInfoChar(&buf, ']');
		execlave_sql_emit_signals("trace.anomaly", &req->agent_id, buf.data);
	}
}

/* ---------------------------------------------------------------------
 * SQL: execlave_anomaly_baseline(agent)
 * ---------------------------------------------------------------------
 */
PG_FUNCTION_INFO_V1(execlave_anomaly_baseline);

/* execlave_anomaly_baseline(agent) RETURNS TABLE (metric, observations, mean, stddev) */
Datum
execlave_anomaly_baseline(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UsageEntry	e;
	Windows		w;

	execlave_usage_snapshot(fcinfo, &e, &w);
	InitMaterializedSRF(fcinfo, 0);
	for (int m = 0; m < NUM_METRICS; m++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(execlave_metric_names[m]);
		if (m < NUM_VALUE_METRICS)
		{
			values[1] = Int64GetDatum(e.s.n[m]);
			values[2] = Float8GetDatum(e.s.mean[m]);
			values[3] = Float8GetDatum(sqrt(e.s.var[m]));
			nulls[2] = nulls[3] = e.s.n[m] == 0;
		}
		else
		{
			values[1] = Int64GetDatum(e.s.observed);
			values[2] = Float8GetDatum(e.s.err_rate);
			nulls[2] = e.s.observed == 0;
			nulls[3] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
