/*
 * windows.c
 *		Windowed usage counters and running trace statistics in shared
 *		memory: rate_limit, cost_limit and budget_cap policies, cost.threshold
 *		and trace.anomaly.
 *
 * Counters.  One shared hash entry per agent (requests in the current UTC
 * minute and hour, spend in the current UTC day and calendar month, and the
 * anomaly statistics) and one per budget_cap policy of scope "policy" (spend
 * of all the agents it covers this month).  Spend is kept in nano-USD
 * (int64), so sums are exact.  Windows are numbered from the clock
 * (execlave_clock(): the transaction's start, as now() and ingested_at) in
 * UTC; an entry rolls a window over when a trace with a later window number
 * arrives, so windows roll over exactly at the boundary.  A trace whose
 * transaction began before a roll-over counts in the newer window.
 *
 * Concurrency.  Each entry has a spinlock, held for a few arithmetic
 * operations: the check against every blocking limit and the increment are
 * one atomic step, so two sessions never lose a count and never both take
 * the last unit of a limit, and no row lock is taken.  The hash itself is
 * guarded by an LWLock, shared for lookups.
 *
 * Transactions.  A trace is counted when its row is accepted.  Each backend
 * remembers what it added (per entry, window and subtransaction); an abort
 * or a subtransaction abort subtracts it again, so a rolled-back trace does
 * not count.  Counts are therefore those of committed and in-progress
 * traces.
 *
 * Restart.  Shared memory is lost; an entry is rebuilt, on first use, from
 * execlave.traces (ingested_at within the current windows, and the last
 * traces for the statistics).  The trigger keeps ingested_at equal to the
 * clock the windows used.
 */
#include "policy.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(execlave_usage);
PG_FUNCTION_INFO_V1(execlave_anomaly_baseline);

/* GUCs */
char	   *execlave_test_clock = NULL;
bool		execlave_anomaly_detection = true;
int			execlave_anomaly_warmup = 30;
double		execlave_anomaly_threshold = 4.0;
int			execlave_max_tracked = 10000;

/* Parsed execlave.test_clock; 0 when not set */
static bool test_clock_set = false;
static TimestampTz test_clock_value = 0;

#define USAGE_AGENT		1
#define USAGE_POLICY	2

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
static const char *const metric_names[NUM_METRICS] = {"latency_ms", "cost_usd", "total_tokens", "error_rate"};

/* Smallest standard deviation a score divides by, per value metric */
static const double metric_min_sd[NUM_VALUE_METRICS] = {1.0, 0.000001, 1.0};

#define EWMA_ALPHA		0.05	/* weight of the newest trace in the statistics */
#define ERROR_WINDOW	20		/* traces in the recent error-rate window */
#define ERROR_ALPHA		0.02	/* weight of a trace leaving that window in the baseline */
#define ERROR_MIN_HITS	3		/* errors in that window before a spike counts */
#define REPLAY_TRACES	200		/* traces replayed into the statistics on load */

typedef struct UsageKey
{
	Oid			dbid;
	uint32		kind;			/* USAGE_AGENT or USAGE_POLICY */
	uint32		version;		/* USAGE_POLICY: hash of the policy's agents */
	pg_uuid_t	id;				/* agent or policy */
} UsageKey;

typedef struct Counts
{
	int64		minute_no,
				minute_count;
	int64		hour_no,
				hour_count;
	int64		day_no,
				day_cost;
	int64		month_no,
				month_cost;
} Counts;

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

typedef struct UsageEntry
{
	UsageKey	key;			/* hash key: first */
	slock_t		mutex;
	Counts		c;
	Stats		s;
} UsageEntry;

static HTAB *usage_hash = NULL;
static LWLock *usage_lock = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Window numbers and starts of a moment */
typedef struct Windows
{
	int64		minute,
				hour,
				day,
				month;
	TimestampTz minute_start,
				hour_start,
				day_start,
				month_start;
} Windows;

/* What this backend added, to subtract again on abort */
typedef struct Reservation
{
	UsageKey	key;
	SubTransactionId subid;
	int64		minute_no,
				hour_no,
				day_no,
				month_no;
	int64		count;
	int64		cost;
} Reservation;

static Reservation *reservations = NULL;
static int	nreservations = 0;
static int	maxreservations = 0;

/* Work left for after the row is accepted (see execlave_windows_after_accept) */
typedef struct Pending
{
	StringInfoData events;		/* JSON objects of cost.threshold, comma-separated */
	int			nevents;
	char	   *pause_reason;
	bool		active;
} Pending;

static Pending pending;

/* ---------------------------------------------------------------------
 * Shared memory, GUCs, callbacks
 * ---------------------------------------------------------------------
 */
static void
windows_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(hash_estimate_size(execlave_max_tracked, sizeof(UsageEntry)));
	RequestNamedLWLockTranche("execlave windows", 1);
}

static void
windows_shmem_startup(void)
{
	HASHCTL		info;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	usage_lock = &(GetNamedLWLockTranche("execlave windows"))->lock;
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(UsageKey);
	info.entrysize = sizeof(UsageEntry);
	usage_hash = ShmemInitHash("execlave usage", execlave_max_tracked, execlave_max_tracked,
							   &info, HASH_ELEM | HASH_BLOBS | HASH_FIXED_SIZE);
	LWLockRelease(AddinShmemInitLock);
}

/* Parse "YYYY-MM-DD HH:MM:SS[.frac]" (UTC; 'T' and a trailing 'Z' allowed). */
static bool
parse_utc(const char *s, TimestampTz *out)
{
	int			y,
				mo,
				d,
				h,
				mi;
	double		sec;
	char		sep;
	int			used = 0;
	const char *rest;

	if (sscanf(s, "%d-%d-%d%c%d:%d:%lf%n", &y, &mo, &d, &sep, &h, &mi, &sec, &used) != 7 ||
		(sep != ' ' && sep != 'T'))
		return false;
	rest = s + used;
	if (*rest == 'Z')
		rest++;
	else if (strcmp(rest, "+00") == 0 || strcmp(rest, "+00:00") == 0)
		rest += strlen(rest);
	if (*rest != '\0')
		return false;
	if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > day_tab[isleap(y)][mo - 1] ||
		h < 0 || h > 23 || mi < 0 || mi > 59 || !(sec >= 0 && sec < 60))
		return false;
	*out = (TimestampTz) (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY +
		(h * INT64CONST(3600) + mi * INT64CONST(60)) * USECS_PER_SEC +
		(TimestampTz) llround(sec * USECS_PER_SEC);
	return true;
}

static bool
check_test_clock(char **newval, void **extra, GucSource source)
{
	TimestampTz t;
	TimestampTz *keep;

	if (*newval == NULL || **newval == '\0')
		return true;
	if (!parse_utc(*newval, &t))
	{
		GUC_check_errdetail("Give a UTC time like '2026-03-31 23:59:59.5', or '' for the real clock.");
		return false;
	}
	keep = malloc(sizeof(TimestampTz));
	if (keep == NULL)
		return false;
	*keep = t;
	*extra = keep;
	return true;
}

static void
assign_test_clock(const char *newval, void *extra)
{
	test_clock_set = extra != NULL;
	test_clock_value = extra ? *(TimestampTz *) extra : 0;
}

/* Subtract a reservation from its entry (never errors: runs during abort). */
static void
unreserve(const Reservation *r)
{
	UsageEntry *e;

	if (usage_hash == NULL)
		return;
	LWLockAcquire(usage_lock, LW_SHARED);
	e = hash_search(usage_hash, &r->key, HASH_FIND, NULL);
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		if (e->c.minute_no == r->minute_no)
			e->c.minute_count = Max(e->c.minute_count - r->count, 0);
		if (e->c.hour_no == r->hour_no)
			e->c.hour_count = Max(e->c.hour_count - r->count, 0);
		if (e->c.day_no == r->day_no)
			e->c.day_cost = Max(e->c.day_cost - r->cost, 0);
		if (e->c.month_no == r->month_no)
			e->c.month_cost = Max(e->c.month_cost - r->cost, 0);
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(usage_lock);
}

static void
windows_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			for (int i = 0; i < nreservations; i++)
				unreserve(&reservations[i]);
			nreservations = 0;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			/* a prepared transaction's traces stay counted (see README) */
			nreservations = 0;
			break;
		default:
			break;
	}
	pending.active = false;
}

static void
windows_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			k = nreservations;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	/* this subtransaction's additions are the array's suffix (see remember()) */
	while (k > 0 && reservations[k - 1].subid == mySubid)
		k--;
	for (int i = k; i < nreservations; i++)
	{
		if (event == SUBXACT_EVENT_ABORT_SUB)
			unreserve(&reservations[i]);
		else
			reservations[i].subid = parentSubid;
	}
	if (event == SUBXACT_EVENT_ABORT_SUB)
		nreservations = k;
#ifdef USE_ASSERT_CHECKING
	for (int i = 0; i < nreservations; i++)
		Assert(reservations[i].subid != mySubid);
#endif
}

/* Called from _PG_init: GUCs, and shared memory when preloaded. */
void
execlave_windows_init(void)
{
	DefineCustomStringVariable("execlave.test_clock",
							   gettext_noop("For tests only: a fixed UTC time used instead of the transaction start by windowed policies."),
							   gettext_noop("Empty (the default) means the real clock."),
							   &execlave_test_clock,
							   "",
							   PGC_SUSET, 0,
							   check_test_clock, assign_test_clock, NULL);
	DefineCustomBoolVariable("execlave.anomaly_detection",
							 gettext_noop("Emit trace.anomaly events for traces far above an agent's running statistics."),
							 NULL,
							 &execlave_anomaly_detection,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
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
	if (process_shared_preload_libraries_in_progress)
		DefineCustomIntVariable("execlave.max_tracked_agents",
								gettext_noop("Agents (and shared budgets) whose windowed usage shared memory can hold."),
								NULL,
								&execlave_max_tracked,
								10000, 100, 10000000,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);

	RegisterXactCallback(windows_xact_callback, NULL);
	RegisterSubXactCallback(windows_subxact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = windows_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = windows_shmem_startup;
}

/* ---------------------------------------------------------------------
 * Clock and windows
 * ---------------------------------------------------------------------
 */

/* The clock of windowed policies: execlave.test_clock, or now(). */
TimestampTz
execlave_clock(void)
{
	return test_clock_set ? test_clock_value : GetCurrentTransactionStartTimestamp();
}

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void
windows_of(TimestampTz t, Windows *w)
{
	int			y,
				m,
				d;

	w->minute = floor_div(t, USECS_PER_MINUTE);
	w->hour = floor_div(t, USECS_PER_HOUR);
	w->day = floor_div(t, USECS_PER_DAY);
	j2date((int) (w->day + POSTGRES_EPOCH_JDATE), &y, &m, &d);
	w->month = (int64) y * 12 + (m - 1);
	w->minute_start = w->minute * USECS_PER_MINUTE;
	w->hour_start = w->hour * USECS_PER_HOUR;
	w->day_start = w->day * USECS_PER_DAY;
	w->month_start = (TimestampTz) (date2j(y, m, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
}

/* Move the entry's windows forward to w (never back). Spinlock held. */
static inline void
roll(Counts *c, const Windows *w)
{
	if (w->minute > c->minute_no)
	{
		c->minute_no = w->minute;
		c->minute_count = 0;
	}
	if (w->hour > c->hour_no)
	{
		c->hour_no = w->hour;
		c->hour_count = 0;
	}
	if (w->day > c->day_no)
	{
		c->day_no = w->day;
		c->day_cost = 0;
	}
	if (w->month > c->month_no)
	{
		c->month_no = w->month;
		c->month_cost = 0;
	}
}

/* Numeric USD -> nano-USD, rounded; clamped to [-2^62, 2^62]; NaN is 0. */
int64
execlave_numeric_to_nanos(Numeric n)
{
	static Numeric scale = NULL;
	static Numeric limit = NULL;
	static Numeric neg_limit = NULL;
	Datum		scaled;

	if (numeric_is_nan(n))
		return 0;
	if (scale == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		Numeric		s1 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(NANOS_PER_USD)));
		Numeric		l1 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(INT64CONST(1) << 62)));
		Numeric		l2 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(-(INT64CONST(1) << 62))));

		MemoryContextSwitchTo(old);
		limit = l1;
		neg_limit = l2;
		scale = s1;				/* last: the others are ready when it is set */
	}
	scaled = DirectFunctionCall2(numeric_mul, NumericGetDatum(n), NumericGetDatum(scale));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, scaled, NumericGetDatum(limit))))
		return INT64CONST(1) << 62;
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, scaled, NumericGetDatum(neg_limit))))
		return -(INT64CONST(1) << 62);
	scaled = DirectFunctionCall2(numeric_round, scaled, Int32GetDatum(0));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, scaled));
}

/* "12.500000000" style text of a nano-USD amount, trailing zeros trimmed to 2 decimals */
static char *
usd_text(int64 nanos)
{
	char		buf[64];
	int			len;
	bool		neg = nanos < 0;
	uint64		a = neg ? -(uint64) nanos : (uint64) nanos;

	len = snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%09d", neg ? "-" : "",
				   a / NANOS_PER_USD, (int) (a % NANOS_PER_USD));
	while (len > 3 && buf[len - 1] == '0' && buf[len - 3] != '.')
		buf[--len] = '\0';
	return pstrdup(buf);
}

static char *
ts_text(TimestampTz t)
{
	int			y,
				m,
				d;
	int64		day = floor_div(t, USECS_PER_DAY);
	int64		us = t - day * USECS_PER_DAY;

	j2date((int) (day + POSTGRES_EPOCH_JDATE), &y, &m, &d);
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d,
					(int) (us / USECS_PER_HOUR), (int) (us / USECS_PER_MINUTE % 60),
					(int) (us / USECS_PER_SEC % 60));
}

/* ---------------------------------------------------------------------
 * Entries: lookup, rebuild from traces
 * ---------------------------------------------------------------------
 */
static void
require_shmem(void)
{
	if (usage_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rate_limit, cost_limit and budget_cap policies require execlave to be loaded via shared_preload_libraries"),
				 errhint("Add execlave to shared_preload_libraries in postgresql.conf and restart the server, or disable these policies.")));
}

static void
agent_key_of(UsageKey *key, const pg_uuid_t *agent)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->kind = USAGE_AGENT;
	memcpy(&key->id, agent, sizeof(pg_uuid_t));
}

static void
policy_key_of(UsageKey *key, const CompiledPolicy *p)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->kind = USAGE_POLICY;
	key->version = p->nagents > 0
		? hash_bytes((const unsigned char *) p->agents, sizeof(pg_uuid_t) * p->nagents) : 0;
	memcpy(&key->id, &p->id, sizeof(pg_uuid_t));
}

/* The standard deviation a score divides by: floored at 5% of the mean and a per-metric minimum. */
static double
metric_sd(const Stats *s, int m)
{
	return Max(sqrt(s->var[m]), Max(0.05 * fabs(s->mean[m]), metric_min_sd[m]));
}

/*
 * Fold one trace into the statistics (no signal).  Past the warm-up a value
 * is capped at mean + k standard deviations first, so that a spike does not
 * drag the baseline up and hide the next one.
 */
static void
stats_fold(Stats *s, const double *vals_in, const bool *have, bool is_error, int warmup, double k)
{
	double		vals[NUM_VALUE_METRICS];

	for (int m = 0; m < NUM_VALUE_METRICS; m++)
	{
		double		delta;

		if (!have[m])
			continue;
		vals[m] = vals_in[m];
		if (s->n[m] >= warmup)
			vals[m] = Min(vals[m], s->mean[m] + k * metric_sd(s, m));
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

static bool
status_is_error(const char *status)
{
	return status != NULL && (strcmp(status, "error") == 0 || strcmp(status, "timeout") == 0);
}

/* Read the current usage (and statistics) of key from execlave.traces. */
static void
load_entry(const UsageKey *key, const CompiledPolicy *scope, const Windows *w, UsageEntry *out)
{
	Oid			types[5] = {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		vals[5];
	bool		isnull;
	int			rc;
	int			nest;

	memset(out, 0, sizeof(*out));
	out->c.minute_no = w->minute;
	out->c.hour_no = w->hour;
	out->c.day_no = w->day;
	out->c.month_no = w->month;
	for (int m = 0; m < NUM_METRICS; m++)
		out->s.last_signal_minute[m] = PG_INT64_MIN;

	/*
	 * The statements run in the inserting session, under its search_path:
	 * every name in them is qualified, and the path is pinned for them too,
	 * so that nothing planted in a schema on that path can change a counter
	 * every session shares.
	 */
	nest = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	SPI_connect();
	if (key->kind == USAGE_AGENT)
	{
		vals[0] = UUIDPGetDatum(&key->id);
		vals[1] = TimestampTzGetDatum(w->minute_start);
		vals[2] = TimestampTzGetDatum(w->hour_start);
		vals[3] = TimestampTzGetDatum(w->day_start);
		vals[4] = TimestampTzGetDatum(w->month_start);
		rc = SPI_execute_with_args(
								   "SELECT pg_catalog.count(*) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $2),"
								   " pg_catalog.count(*) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $3),"
								   " COALESCE(pg_catalog.sum(cost_usd) FILTER (WHERE ingested_at OPERATOR(pg_catalog.>=) $4),"
								   "          0::pg_catalog.numeric),"
								   " COALESCE(pg_catalog.sum(cost_usd), 0::pg_catalog.numeric)"
								   " FROM execlave.traces"
								   " WHERE agent_id OPERATOR(pg_catalog.=) $1 AND ingested_at OPERATOR(pg_catalog.>=) $5",
								   5, types, vals, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the usage of an agent from execlave.traces");
		out->c.minute_count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		out->c.hour_count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		out->c.day_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)));
		out->c.month_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));

		/* the statistics: replay the agent's latest traces, oldest first */
		rc = SPI_execute_with_args(
								   "SELECT duration_ms, cost_usd::pg_catalog.float8, total_tokens::pg_catalog.float8, status"
								   " FROM execlave.traces WHERE agent_id OPERATOR(pg_catalog.=) $1"
								   " ORDER BY started_at DESC LIMIT " CppAsString2(REPLAY_TRACES),
								   1, types, vals, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read the latest traces of an agent");
		for (int64 i = (int64) SPI_processed - 1; i >= 0; i--)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			double		v[NUM_VALUE_METRICS];
			bool		have[NUM_VALUE_METRICS];
			char	   *st;

			for (int m = 0; m < NUM_VALUE_METRICS; m++)
			{
				Datum		d = SPI_getbinval(tup, desc, m + 1, &isnull);

				v[m] = isnull ? 0 : DatumGetFloat8(d);
				have[m] = !isnull && isfinite(v[m]) && v[m] >= 0 && v[m] < 1e12;
			}
			st = SPI_getvalue(tup, desc, 4);
			stats_fold(&out->s, v, have, status_is_error(st), execlave_anomaly_warmup,
					   execlave_anomaly_threshold);
		}
	}
	else
	{
		Datum		agents;

		if (scope->nagents > 0)
		{
			Datum	   *elems = palloc(sizeof(Datum) * scope->nagents);

			for (int i = 0; i < scope->nagents; i++)
				elems[i] = UUIDPGetDatum(&scope->agents[i]);
			agents = PointerGetDatum(construct_array(elems, scope->nagents, UUIDOID, UUID_LEN,
													 false, TYPALIGN_CHAR));
		}
		else
			agents = (Datum) 0;
		types[0] = UUIDARRAYOID;
		vals[0] = agents;
		vals[1] = TimestampTzGetDatum(w->month_start);
		rc = SPI_execute_with_args(
								   "SELECT COALESCE(pg_catalog.sum(cost_usd), 0::pg_catalog.numeric)"
								   " FROM execlave.traces WHERE ingested_at OPERATOR(pg_catalog.>=) $2"
								   " AND ($1 IS NULL OR agent_id OPERATOR(pg_catalog.=) ANY ($1))",
								   2, types, vals, scope->nagents > 0 ? "  " : "n ", true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the usage of a budget from execlave.traces");
		out->c.month_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_finish();
	AtEOXact_GUC(true, nest);
}

/* Remove entries whose every window is over (LWLock held exclusively). */
static void
evict_stale(const Windows *w)
{
	HASH_SEQ_STATUS seq;
	UsageEntry *e;

	hash_seq_init(&seq, usage_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->c.month_no < w->month && e->c.day_no < w->day)
			hash_search(usage_hash, &e->key, HASH_REMOVE, NULL);
	}
}

/*
 * The entry of key, created (rebuilt from the traces) when absent, with the
 * hash's LWLock held shared (so that no one can evict it) and its spinlock
 * held, its windows rolled to w.  Release with unlock_entry().  When the
 * table is full: NULL if missing_ok, else error 53400.
 */
static UsageEntry *
lock_entry(const UsageKey *key, const CompiledPolicy *scope, const Windows *w, bool missing_ok)
{
	UsageEntry *e;
	UsageEntry	loaded;
	bool		found;

	for (;;)
	{
		LWLockAcquire(usage_lock, LW_SHARED);
		e = hash_search(usage_hash, key, HASH_FIND, NULL);
		if (e != NULL)
		{
			SpinLockAcquire(&e->mutex);
			roll(&e->c, w);
			return e;
		}
		LWLockRelease(usage_lock);

		/* not tracked yet: read it from the traces, holding no lock */
		load_entry(key, scope, w, &loaded);

		LWLockAcquire(usage_lock, LW_EXCLUSIVE);
		e = hash_search(usage_hash, key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			evict_stale(w);
			e = hash_search(usage_hash, key, HASH_ENTER_NULL, &found);
		}
		if (e == NULL)
		{
			LWLockRelease(usage_lock);
			if (missing_ok)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("execlave's shared memory for windowed usage is full (%d agents and shared budgets)",
							execlave_max_tracked),
					 errhint("Raise execlave.max_tracked_agents and restart the server.")));
		}
		if (!found)
		{
			/* first here: our reading stands (a concurrent one is dropped) */
			e->c = loaded.c;
			e->s = loaded.s;
			SpinLockInit(&e->mutex);
		}
		LWLockRelease(usage_lock);
		/* and find it again under the shared lock */
	}
}

/* Release an entry locked by lock_entry(). */
static inline void
unlock_entry(UsageEntry *e)
{
	SpinLockRelease(&e->mutex);
	LWLockRelease(usage_lock);
}

/* a + b, saturating at 2^62 (sums of nano-USD never overflow) */
static inline int64
add_sat(int64 a, int64 b)
{
	const int64 limit = INT64CONST(1) << 62;

	if (b > 0 && a > limit - b)
		return limit;
	return a + b;
}

/* Make room for n more reservations, so that remember() never allocates under way. */
static void
reserve_room(int n)
{
	if (nreservations + n <= maxreservations)
		return;
	maxreservations = Max(maxreservations * 2, nreservations + n + 8);
	reservations = reservations == NULL
		? MemoryContextAlloc(TopMemoryContext, sizeof(Reservation) * maxreservations)
		: repalloc(reservations, sizeof(Reservation) * maxreservations);
}

/* Describe an addition of count requests and cost to an entry now in windows c. */
static inline void
note_addition(Reservation *a, const UsageKey *key, const Counts *c, int64 count, int64 cost)
{
	a->key = *key;
	a->subid = InvalidSubTransactionId;
	a->minute_no = c->minute_no;
	a->hour_no = c->hour_no;
	a->day_no = c->day_no;
	a->month_no = c->month_no;
	a->count = count;
	a->cost = cost;
}

/*
 * Remember an addition (a) for abort, merged with an earlier one of the same
 * subtransaction when it can be.
 *
 * The array keeps the current subtransaction's additions as its suffix: they
 * are appended under its id, a committing child's are relabelled with the
 * parent's id where they lie (at the end), an aborting child's are cut off.
 * So remember() and the subtransaction callback look at that suffix only,
 * and a transaction of many subtransactions (a PL/pgSQL loop with an
 * EXCEPTION block, ingest_traces) stays linear.
 */
static void
remember(const Reservation *a)
{
	SubTransactionId subid = GetCurrentSubTransactionId();

	for (int i = nreservations - 1; i >= 0 && reservations[i].subid == subid; i--)
	{
		Reservation *r = &reservations[i];

		if (r->minute_no == a->minute_no && r->hour_no == a->hour_no &&
			r->day_no == a->day_no && r->month_no == a->month_no &&
			memcmp(&r->key, &a->key, sizeof(UsageKey)) == 0)
		{
			r->count += a->count;
			r->cost += a->cost;
			return;
		}
	}
	reserve_room(1);
	reservations[nreservations] = *a;
	reservations[nreservations].subid = subid;
	nreservations++;
}

/* ---------------------------------------------------------------------
 * Evaluation
 * ---------------------------------------------------------------------
 */

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
						 window, ts_text(window_start),
						 p->budget_per_policy ? "policy" : "agent", usd_text(after), usd_text(cap), pct,
						 cap > 0 ? 100.0 * (double) after / (double) cap : 100.0);
		pending.nevents++;
	}
	/* pause_agent: on reaching the cap, whatever thresholds are listed (a cap of 0: any spend) */
	if (p->action == LIMIT_PAUSE_AGENT && pending.pause_reason == NULL &&
		after >= cap && (before < cap || (cap == 0 && after > before)))
		pending.pause_reason =
			psprintf("%s policy \"%s\" reached 100%% of its %s cap of %s USD (spend %s USD)",
					 execlave_policy_type_names[p->type], p->name,
					 strcmp(window, "day") == 0 ? "daily" : "monthly", usd_text(cap), usd_text(after));
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
		this_one = psprintf("%s %s USD", est ? "estimated" : "this trace", usd_text(cost));
	if (per_trace)
		msg = psprintf("per-trace cost cap exceeded: %s, cap %s USD", this_one, usd_text(cap));
	else
		msg = psprintf("%s cap exceeded: %s USD spent %s, %s, cap %s USD",
					   daily ? "daily cost" : "monthly budget", usd_text(spend),
					   daily ? "today (UTC)" : "this month (UTC)", this_one, usd_text(cap));
	details = psprintf("{\"window\": \"%s\", \"window_start\": %s%s%s, \"scope\": \"%s\", "
					   "\"spend_usd\": %s, \"cost_usd\": %s, \"cap_usd\": %s, \"estimated\": %s, \"action\": \"%s\"}",
					   window, per_trace ? "" : "\"", per_trace ? "null" : ts_text(window_start),
					   per_trace ? "" : "\"", p->budget_per_policy ? "policy" : "agent",
					   usd_text(spend), req->cost_nanos < 0 ? "null" : usd_text(cost), usd_text(cap),
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
execlave_windows_evaluate(const PolicyRequest *req, const CompiledPolicy **ps, int n, PolicyOutcome *out)
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

	require_shmem();
	reserve_room(n + 1);		/* remember() must not fail once something is counted */
	windows_of(execlave_clock(), &w);
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

		agent_key_of(&akey, &req->agent_id);
		e = lock_entry(&akey, NULL, &w, false);
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
				e->c.day_cost = add_sat(e->c.day_cost, cost);
				e->c.month_cost = add_sat(e->c.month_cost, cost);
				note_addition(&added[nadded++], &akey, &e->c, 1, cost);
			}
		}
		unlock_entry(e);
		/* remembered at once: an error from here on is undone by the abort */
		if (nadded > 0)
			remember(&added[nadded - 1]);
	}

	/* shared budgets, one entry each */
	for (int i = 0; i < n; i++)
	{
		const CompiledPolicy *p = ps[i];
		UsageKey	pkey;
		UsageEntry *e;

		if (!(p->type == POLICY_BUDGET_CAP && p->budget_per_policy))
			continue;
		policy_key_of(&pkey, p);
		e = lock_entry(&pkey, p, &w, false);
		pbefore[i] = e->c.month_cost;
		if (accept)
		{
			if (effective_mode(p) == MODE_BLOCK && e->c.month_cost + cost > p->max_cost_month)
				accept = false;
			else
			{
				e->c.month_cost = add_sat(e->c.month_cost, cost);
				note_addition(&added[nadded++], &pkey, &e->c, 0, cost);
			}
		}
		unlock_entry(e);
		if (accept && nadded > 0)
			remember(&added[nadded - 1]);
	}
	if (!accept)
	{
		/* a later limit refused the request: take back what it added, and its record */
		for (int i = 0; i < nadded; i++)
		{
			Reservation neg = added[i];

			unreserve(&added[i]);
			neg.count = -neg.count;
			neg.cost = -neg.cost;
			remember(&neg);
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
										 ts_text(w.minute_start), before.minute_count + 1, p->max_per_minute);
					}
					if (over_h)
					{
						appendStringInfo(&msg, "%s request " INT64_FORMAT " this hour (limit " INT64_FORMAT ")",
										 over_m ? "," : "", before.hour_count + 1, p->max_per_hour);
						appendStringInfo(&det, "%s\"hour\": {\"window_start\": \"%s\", \"requests\": " INT64_FORMAT ", \"limit\": " INT64_FORMAT "}",
										 over_m ? ", " : "", ts_text(w.hour_start), before.hour_count + 1, p->max_per_hour);
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

/* Emit one event of type per element of the JSON array json, in this transaction. */
static void
emit_signals(const char *type, const pg_uuid_t *agent, const char *json)
{
	Oid			types[3] = {TEXTOID, UUIDOID, JSONBOID};
	Datum		args[3];

	args[0] = CStringGetTextDatum(type);
	args[1] = UUIDPGetDatum(agent);
	args[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	execlave_call_internal("emit_signals", 3, types, args);
}

/*
 * The trace is accepted: emit its cost.threshold events and pause the agent
 * if a pause_agent policy reached 100%, in the trace's transaction.
 */
void
execlave_windows_after_accept(const PolicyRequest *req)
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
		emit_signals("cost.threshold", &req->agent_id, events);
	if (pause_reason != NULL)
	{
		Oid			types[2] = {UUIDOID, TEXTOID};
		Datum		args[2];

		args[0] = UUIDPGetDatum(&req->agent_id);
		args[1] = CStringGetTextDatum(pause_reason);
		execlave_call_internal("pause_for_policy", 2, types, args);
	}
}

/* ---------------------------------------------------------------------
 * trace.anomaly
 * ---------------------------------------------------------------------
 */

/*
 * Fold an accepted trace into its agent's statistics and emit trace.anomaly
 * for each metric whose value lies more than execlave.anomaly_threshold
 * standard deviations above the running mean (after the warm-up), and for
 * an error-rate spike; at most one per metric, agent and minute.
 */
/* Are anomalies detected (preloaded and execlave.anomaly_detection on)? */
bool
execlave_anomaly_active(void)
{
	return execlave_anomaly_detection && usage_hash != NULL;
}

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

	if (!execlave_anomaly_detection || usage_hash == NULL)
		return;
	windows_of(execlave_clock(), &w);
	vals[M_LATENCY] = duration_ms;
	have[M_LATENCY] = isfinite(duration_ms) && duration_ms >= 0 && duration_ms < 1e12;
	vals[M_COST] = req->cost_nanos >= 0 ? (double) req->cost_nanos / NANOS_PER_USD : 0;
	have[M_COST] = req->cost_nanos >= 0;
	vals[M_TOKENS] = (double) req->total_tokens;
	have[M_TOKENS] = req->total_tokens >= 0;

	agent_key_of(&key, &req->agent_id);
	e = lock_entry(&key, NULL, &w, true);
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
			s = metric_sd(&e->s, m);
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
	stats_fold(&e->s, vals, have, is_error, execlave_anomaly_warmup, execlave_anomaly_threshold);
	unlock_entry(e);

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
							 metric_names[m], value[m], mean[m], sd[m], score[m],
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
		emit_signals("trace.anomaly", &req->agent_id, buf.data);
	}
}

/* ---------------------------------------------------------------------
 * SQL: execlave_usage(agent), execlave_anomaly_baseline(agent)
 * ---------------------------------------------------------------------
 */

/* Look up (rebuilding if needed) the agent's entry and copy it. */
static void
agent_snapshot(FunctionCallInfo fcinfo, UsageEntry *copy, Windows *w)
{
	const ExeclaveAgent *agent;
	UsageKey	key;
	UsageEntry *e;

	require_shmem();
	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);
	agent_key_of(&key, &agent->id);
	windows_of(execlave_clock(), w);
	e = lock_entry(&key, NULL, w, false);
	*copy = *e;
	unlock_entry(e);
}

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

	agent_snapshot(fcinfo, &e, &w);
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
			values[3] = DirectFunctionCall3(numeric_in, CStringGetDatum(usd_text(costs[i])),
											ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		else
			nulls[3] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* execlave_anomaly_baseline(agent) RETURNS TABLE (metric, observations, mean, stddev) */
Datum
execlave_anomaly_baseline(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	UsageEntry	e;
	Windows		w;

	agent_snapshot(fcinfo, &e, &w);
	InitMaterializedSRF(fcinfo, 0);
	for (int m = 0; m < NUM_METRICS; m++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(metric_names[m]);
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
