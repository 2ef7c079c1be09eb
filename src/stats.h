/*
 * stats.h
 *		The running statistics of an agent's traces that trace.anomaly
 *		compares with: per metric an exponentially weighted mean and
 *		variance, and the error rate with its recent window.  Pure arithmetic
 *		on a struct (it lives in the shared usage entries of windows.c).
 */
#ifndef EXECLAVE_STATS_H
#define EXECLAVE_STATS_H

#include "postgres.h"

/* Anomaly metrics */
enum
{
	M_LATENCY,
	M_COST,
	M_TOKENS,
	M_ERRORS,
	NUM_METRICS
};
#define NUM_VALUE_METRICS 3

#define EWMA_ALPHA		0.05	/* weight of the newest trace in the statistics */
#define ERROR_WINDOW	20		/* traces in the recent error-rate window */
#define ERROR_ALPHA		0.02	/* weight of a trace leaving that window in the baseline */
#define ERROR_MIN_HITS	3		/* errors in that window before a spike counts */

typedef struct Stats
{
	int64		observed;		/* traces folded in */
	int64		n[NUM_VALUE_METRICS];	/* values folded in, per metric */
	double		mean[NUM_VALUE_METRICS];
	double		var[NUM_VALUE_METRICS];
	double		err_rate;		/* EWMA of "the trace is an error" */
	uint32		recent;			/* bit i: the i-th latest trace was an error */
	int64		last_signal_minute[NUM_METRICS];
} Stats;

/* "latency_ms", "cost_usd", "total_tokens", "error_rate" */
extern const char *const execlave_metric_names[NUM_METRICS];

/* execlave.anomaly_warmup, execlave.anomaly_threshold */
extern int	execlave_anomaly_warmup;
extern double execlave_anomaly_threshold;

extern void execlave_stats_init(void);
extern double execlave_metric_sd(const Stats *s, int m);
extern void execlave_stats_fold(Stats *s, const double *vals_in, const bool *have, bool is_error,
								int warmup, double k);

#endif							/* EXECLAVE_STATS_H */
