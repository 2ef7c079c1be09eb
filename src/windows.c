/*
 * windows.c
 *		The shared store of windowed usage counters and running trace
 *		statistics (read by usage_limits.c for rate_limit, cost_limit and
 *		budget_cap, by anomaly.c for trace.anomaly).
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

#include "windows.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "agent_cache.h"
#include "agents.h"
#include "clock.h"
#include "money.h"
#include "policy.h"
#include "sqlcall.h"
#include "stats.h"



int			execlave_max_tracked = 10000;

static HTAB *usage_hash = NULL;
static LWLock *usage_lock = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Reservation *reservations = NULL;
static int	nreservations = 0;
static int	maxreservations = 0;

/* ---------------------------------------------------------------------
 * Shared memory, GUCs, callbacks
 * ---------------------------------------------------------------------
 */
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

/* Subtract a reservation from its entry (never errors: runs during abort). */
void
execlave_usage_unreserve(const Reservation *r)
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
				execlave_usage_unreserve(&reservations[i]);
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
}

static void
windows_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	int			k = nreservations;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	/* this subtransaction's additions are the array's suffix (see execlave_usage_remember()) */
	while (k > 0 && reservations[k - 1].subid == mySubid)
		k--;
	for (int i = k; i < nreservations; i++)
	{
		if (event == SUBXACT_EVENT_ABORT_SUB)
			execlave_usage_unreserve(&reservations[i]);
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

/* Called from _PG_init: execlave.max_tracked_agents, and shared memory when preloaded. */
void
execlave_windows_init(void)
{
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

/* Is the shared store there (the library preloaded)? */
bool
execlave_usage_ready(void)
{
	return usage_hash != NULL;
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

/* ---------------------------------------------------------------------
 * Entries: lookup, rebuild from traces
 * ---------------------------------------------------------------------
 */
/* ---------------------------------------------------------------------
 * Entries: lookup, rebuild from traces
 * ---------------------------------------------------------------------
 */
void
execlave_usage_require_shmem(void)
{
	if (usage_hash == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("rate_limit, cost_limit and budget_cap policies require execlave to be loaded via shared_preload_libraries"),
				 errhint("Add execlave to shared_preload_libraries in postgresql.conf and restart the server, or disable these policies.")));
}

void
execlave_usage_agent_key(UsageKey *key, const pg_uuid_t *agent)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->kind = USAGE_AGENT;
	memcpy(&key->id, agent, sizeof(pg_uuid_t));
}

void
execlave_usage_policy_key(UsageKey *key, const CompiledPolicy *p)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	key->kind = USAGE_POLICY;
	key->version = p->nagents > 0
		? hash_bytes((const unsigned char *) p->agents, sizeof(pg_uuid_t) * p->nagents) : 0;
	memcpy(&key->id, &p->id, sizeof(pg_uuid_t));
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
	nest = execlave_pin_search_path();
	SPI_connect();
	if (key->kind == USAGE_AGENT)
	{
		vals[0] = UUIDPGetDatum(&key->id);
		vals[1] = TimestampTzGetDatum(w->minute_start);
		vals[2] = TimestampTzGetDatum(w->hour_start);
		vals[3] = TimestampTzGetDatum(w->day_start);
		vals[4] = TimestampTzGetDatum(w->month_start);
		rc = SPI_execute_with_args(execlave_sql_agent_usage, 5, types, vals, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the usage of an agent from execlave.traces");
		out->c.minute_count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		out->c.hour_count = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		out->c.day_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull)));
		out->c.month_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull)));

		/* the statistics: replay the agent's latest traces, oldest first */
		rc = SPI_execute_with_args(execlave_sql_agent_replay, 1, types, vals, NULL, true, 0);
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
			execlave_stats_fold(&out->s, v, have, status_is_error(st), execlave_anomaly_warmup,
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
		rc = SPI_execute_with_args(execlave_sql_budget_usage, 2, types, vals,
								   scope->nagents > 0 ? "  " : "n ", true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read the usage of a budget from execlave.traces");
		out->c.month_cost = execlave_numeric_to_nanos(DatumGetNumeric(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
	}
	SPI_finish();
	execlave_unpin_search_path(nest);
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
 * held, its windows rolled to w.  Release with execlave_usage_unlock().  When the
 * table is full: NULL if missing_ok, else error 53400.
 */
UsageEntry *
execlave_usage_lock(const UsageKey *key, const CompiledPolicy *scope, const Windows *w, bool missing_ok)
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

/* Release an entry locked by execlave_usage_lock(). */
void
execlave_usage_unlock(UsageEntry *e)
{
	SpinLockRelease(&e->mutex);
	LWLockRelease(usage_lock);
}

/* Make room for n more reservations, so that execlave_usage_remember() never allocates under way. */
void
execlave_usage_reserve_room(int n)
{
	if (nreservations + n <= maxreservations)
		return;
	maxreservations = Max(maxreservations * 2, nreservations + n + 8);
	reservations = reservations == NULL
		? MemoryContextAlloc(TopMemoryContext, sizeof(Reservation) * maxreservations)
		: repalloc(reservations, sizeof(Reservation) * maxreservations);
}

/* Describe an addition of count requests and cost to an entry now in windows c. */
void
execlave_usage_note_addition(Reservation *a, const UsageKey *key, const Counts *c, int64 count, int64 cost)
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
 * So execlave_usage_remember() and the subtransaction callback look at that suffix only,
 * and a transaction of many subtransactions (a PL/pgSQL loop with an
 * EXCEPTION block, ingest_traces) stays linear.
 */
void
execlave_usage_remember(const Reservation *a)
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
	execlave_usage_reserve_room(1);
	reservations[nreservations] = *a;
	reservations[nreservations].subid = subid;
	nreservations++;
}

/* Look up (rebuilding if needed) the agent's entry and copy it. */
void
execlave_usage_snapshot(FunctionCallInfo fcinfo, UsageEntry *copy, Windows *w)
{
	const ExeclaveAgent *agent;
	UsageKey	key;
	UsageEntry *e;

	execlave_usage_require_shmem();
	execlave_agent_cache_sync();
	agent = execlave_agent_from_arg(fcinfo, 0, "agent", false);
	execlave_usage_agent_key(&key, &agent->id);
	execlave_windows_of(execlave_clock(), w);
	e = execlave_usage_lock(&key, NULL, w, false);
	*copy = *e;
	execlave_usage_unlock(e);
}
