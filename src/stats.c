/*
 * stats.c
 *		The running statistics trace.anomaly compares an agent's traces with
 *		(see stats.h), and their settings (execlave.anomaly_warmup,
 *		execlave.anomaly_threshold).  No locking here: the callers hold the
 *		usage entry's spinlock (windows.c).
 */

#include "stats.h"

#include <math.h>

#include "utils/guc.h"

const char *const execlave_metric_names[NUM_METRICS] = {"latency_ms", "cost_usd", "total_tokens", "error_rate"};

/* Smallest standard deviation a score divides by, per value metric */
static const double metric_min_sd[NUM_VALUE_METRICS] = {1.0, 0.000001, 1.0};

int			execlave_anomaly_warmup = 30;
double		execlave_anomaly_threshold = 4.0;

/* Called once per process from _PG_init: the statistics' settings. */
void
execlave_stats_init(void)
{
	DefineCustomIntVariable("execlave.anomaly_warmup",
							gettext_noop("Traces of an agent observed before anomalies are reported for it."),
							NULL,
							&execlave_anomaly_warmup,
							30, 2, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomRealVariable("execlave.anomaly_threshold",
							 gettext_noop("Standard deviations above the running mean that make a trace an anomaly."),
							 NULL,
							 &execlave_anomaly_threshold,
							 4.0, 0.5, 1000.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* The standard deviation a score divides by: floored at 5% of the mean and a per-metric minimum. */
double
execlave_metric_sd(const Stats *s, int m)
{
	return Max(sqrt(s->var[m]), Max(0.05 * fabs(s->mean[m]), metric_min_sd[m]));
}

/*
 * Fold one trace into the statistics (no signal).  Past the warm-up a value
 * is capped at mean + k standard deviations first, so that a spike does not
 * drag the baseline up and hide the next one.
 */
void
execlave_stats_fold(Stats *s, const double *vals_in, const bool *have, bool is_error, int warmup, double k)
{
	double		vals[NUM_VALUE_METRICS];

	for (int m = 0; m < NUM_VALUE_METRICS; m++)
	{
		double		delta;

		if (!have[m])
			continue;
		vals[m] = vals_in[m];
		if (s->n[m] >= warmup)
			vals[m] = Min(vals[m], s->mean[m] + k * execlave_metric_sd(s, m));
		if (s->n[m] == 0)
		{
			s->mean[m] = vals[m];
			s->var[m] = 0;
		}
		else
		{
			delta = vals[m] - s->mean[m];
			s->mean[m] += EWMA_ALPHA * delta;
			s->var[m] = (1 - EWMA_ALPHA) * (s->var[m] + EWMA_ALPHA * delta * delta);
		}
		s->n[m]++;
	}
	/*
	 * The error-rate baseline is the rate before the recent window: fed with
	 * the trace leaving that window (a running mean until one leaves).
	 */
	if (s->observed < ERROR_WINDOW)
		s->err_rate = (s->err_rate * s->observed + (is_error ? 1.0 : 0.0)) / (s->observed + 1);
	else
		s->err_rate += ERROR_ALPHA * ((double) ((s->recent >> (ERROR_WINDOW - 1)) & 1u) - s->err_rate);
	s->recent = (s->recent << 1) | (is_error ? 1u : 0u);
	s->observed++;
}
