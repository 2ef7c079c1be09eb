/*
 * recorder.c
 *		Durable recording of blocked requests' violations.
 *
 * A block-mode violation refuses the request with an error, which rolls back
 * everything the transaction wrote, yet its violation row and its
 * policy.violated event must survive.  execlave_record_durably() hands the
 * violations to a background process that commits them in a transaction of
 * its own, and waits (at most execlave.record_timeout) for the outcome before
 * the caller raises the policy error.  If they cannot be committed in time
 * the backend emits a WARNING and writes them to the server log (LOG); the
 * request is refused all the same: a request is never let through because it
 * could not be recorded.
 *
 * With shared_preload_libraries (the supported setup) each database has at
 * most one long-lived recorder, and at most execlave.max_recorders run in
 * the cluster; a database that never blocks has none.  Shared memory (one
 * struct, requested in _PG_init) holds:
 *
 *   - a recorder slot per possible recorder: the database it serves, its
 *     state (free, stopped = has work but no process, starting, running), a
 *     generation number, its latch, and a FIFO of queued requests;
 *   - a request entry per backend (indexed by pgprocno, so a backend has at
 *     most one request and the queue can never overflow): a sequence number
 *     naming the request, the handle of a DSM segment holding its JSON (any
 *     size), its deadline, its state and the outcome.
 *
 * A blocked backend writes its JSON into a new DSM segment, queues its entry
 * on its database's slot (claiming a free slot if the database has none),
 * starts the recorder if the slot has no process, sets the recorder's latch
 * and waits on its own latch.  The recorder takes up to RECORDER_BATCH
 * requests in queue order, copies their JSON, calls
 * execlave.record_violations() for each in its own subtransaction (so one
 * bad request fails alone) within one transaction, commits, and reports each
 * outcome and sets each requester's latch.  After execlave.recorder_idle_timeout
 * with nothing to do it exits and frees its slot; it exits at once when
 * idle if a backend of another database waits for a slot.
 *
 * Locking rules.  One LWLock guards the whole struct; it is held only for a
 * few list operations, never across a system call that can block, a
 * transaction or a latch wait.  Only the holder of the lock changes a slot's
 * state, so starting a recorder is serialized: the backend that moves a slot
 * from stopped to starting (and bumps its generation) registers the worker
 * after releasing the lock; every other waiter sees "starting" and waits.  A
 * worker whose generation is no longer its slot's exits without touching
 * anything.  A request's sequence number is checked wherever it is touched,
 * so an outcome for a request its backend has given up on is dropped, and
 * the DSM segment carries the number too, so a reused handle is never read
 * as a request.
 *
 * Lifetime rules.  A request ends when its backend reads the outcome, gives
 * up at its deadline (a queued request is taken off the queue: certainly not
 * recorded; one the recorder has taken is waited for RECORD_GRACE_MS longer,
 * since the recorder's statement timeout is the request's deadline), is
 * interrupted (cancel: the entry is withdrawn in PG_CATCH; FATAL: in a
 * before_shmem_exit callback).  A recorder that exits on an error fails its
 * queued and taken requests from a before_shmem_exit callback (committed
 * ones are reported done), so no one waits for a process that is gone; a
 * SIGKILL of any process is a crash restart, which resets this memory.  The
 * backend never records by itself, so nothing is recorded twice.
 *
 * Deadlocks.  The waiting backend holds its transaction's locks, and a wait
 * between it and the recorder is invisible to the deadlock detector.  The
 * recorder runs each request under lock_timeout = execlave.record_timeout
 * and a statement timeout at that request's deadline, so such a wait always
 * ends.
 *
 * Without shared_preload_libraries there is no shared memory: each request
 * starts its own short-lived worker, as 0.1.1 did, but at most
 * FALLBACK_WORKERS per database at a time, counted by session-level locks
 * on a private advisory lock tag (released at the end of the wait, on error
 * and by backend exit, so the backend cannot leak one); further requests
 * wait for one within execlave.record_timeout.
 *
 * Either way the worker connects as the bootstrap superuser, pins
 * search_path = pg_catalog, pg_temp, resolves execlave.record_violations
 * there, and runs each transaction as the NOLOGIN role execlave_worker
 * (SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE).  The function
 * is SECURITY DEFINER and called through fmgr, so that role needs no
 * privilege.  A database whose extension predates 0.1.2, in a cluster where
 * the role does not exist yet, is recorded as the connected superuser.
 */

#include "recorder.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "execlave.h"


/* execlave.record_timeout, in milliseconds (defined in config.c). */
int			execlave_record_timeout_ms = 5000;

/* execlave.recorder_idle_timeout, in milliseconds. */
int			execlave_recorder_idle_ms = 10000;

/* execlave.max_recorders (only when preloaded). */
int			execlave_max_recorders = 2;

/* Most requests one recorder transaction commits. */
#define RECORDER_BATCH		64

/* How long past its deadline a backend waits for a request already taken. */
#define RECORD_GRACE_MS		1000

/* Poll interval of a backend whose recorder has no process yet. */
#define RECORDER_POLL_MS	10

/* A slot starting for longer than this lost its worker: start another. */
#define RECORDER_START_STALE_MS 30000

/* Without preloading: per-request workers per database at a time. */
#define FALLBACK_WORKERS	2

/* The advisory lock tag of those workers: key1, and a field4 no SQL function uses. */
#define FALLBACK_LOCK_KEY	0x45584C56
#define FALLBACK_LOCK_FIELD4 0x0EC1

#define REQUEST_MAGIC		0x45585243

#define ERROR_LEN			256

/* Request entry states */
#define ENTRY_FREE			0
#define ENTRY_WAITING		1	/* no recorder slot yet */
#define ENTRY_QUEUED		2
#define ENTRY_TAKEN			3	/* the recorder is committing it */
#define ENTRY_DONE			4
#define ENTRY_FAILED		5

/* Recorder slot states */
#define SLOT_FREE			0
#define SLOT_STOPPED		1	/* serves a database, no process: start one */
#define SLOT_STARTING		2
#define SLOT_RUNNING		3

/* One backend's request, in shared memory (index: pgprocno). */
typedef struct RecorderEntry
{
	uint64		seq;			/* 0 when free */
	int			state;
	Oid			dbid;
	int			slot;			/* when queued or taken */
	int			next;			/* next queued entry of the slot, -1 */
	dsm_handle	handle;
	TimestampTz deadline;
	char		error[ERROR_LEN];	/* ENTRY_FAILED: why */
} RecorderEntry;

/* One recorder, in shared memory. */
typedef struct RecorderSlot
{
	int			state;
	Oid			dbid;
	uint32		generation;
	TimestampTz start_at;		/* when it was last asked to start */
	bool		start_failed;	/* the last registration found no worker slot */
	pid_t		pid;
	Latch	   *latch;			/* when running */
	int			head;			/* queued entries, -1 when none */
	int			tail;
} RecorderSlot;

typedef struct RecorderControl
{
	LWLock	   *lock;
	uint64		next_seq;
	uint32		next_generation;
	int			nwaiting;		/* entries waiting for a free slot */
	int			nslots;
	int			nentries;
	RecorderSlot slots[FLEXIBLE_ARRAY_MEMBER];
	/* followed by RecorderEntry entries[nentries] */
} RecorderControl;

/* The DSM segment of a queued request. */
typedef struct RequestSegment
{
	uint32		magic;
	uint64		seq;
	Size		len;
	char		json[FLEXIBLE_ARRAY_MEMBER];
} RequestSegment;

/* The DSM segment of a per-request worker (no preloading). */
typedef struct FallbackSegment
{
	Oid			dbid;
	TimestampTz deadline;
	volatile int status;
	char		error[512];
	char		json[FLEXIBLE_ARRAY_MEMBER];
} FallbackSegment;

/* Outcome of a request inside a recorder transaction */
#define JOB_PENDING			0
#define JOB_RECORDED		1	/* in the subtransaction; not committed yet */
#define JOB_COMMITTED		2
#define JOB_FAILED			3

/* One request as a recorder process holds it. */
typedef struct RecorderJob
{
	int			entry;
	uint64		seq;
	dsm_handle	handle;
	TimestampTz deadline;
	char	   *json;			/* NULL: withdrawn before it was read */
	int			outcome;
	char	   *error;
} RecorderJob;

static RecorderControl *ctl = NULL;
static RecorderEntry *entries = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Backend side: the request being waited for. */
static int	my_entry = -1;
static uint64 my_seq = 0;
static bool backend_exit_registered = false;

/* Recorder side: its slot, generation and current batch. */
static int	my_slot = -1;
static uint32 my_generation = 0;
static RecorderJob jobs[RECORDER_BATCH];
static int	njobs = 0;

/* ---------------------------------------------------------------------
 * Shared memory, settings
 * ---------------------------------------------------------------------
 */

/* Size of the shared struct. */
static Size
recorder_shmem_size(void)
{
	Size		size = offsetof(RecorderControl, slots);

	size = add_size(size, mul_size(execlave_max_recorders, sizeof(RecorderSlot)));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(MaxBackends, sizeof(RecorderEntry)));
	return size;
}

/* shmem_request_hook: the struct and its lock. */
static void
recorder_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(recorder_shmem_size());
	RequestNamedLWLockTranche("execlave recorder", 1);
}

/* Address of the entries array. */
static RecorderEntry *
entries_of(RecorderControl *c)
{
	return (RecorderEntry *) ((char *) c +
							  MAXALIGN(offsetof(RecorderControl, slots) +
									   c->nslots * sizeof(RecorderSlot)));
}

/* shmem_startup_hook: create (or, in a child, find) the struct. */
static void
recorder_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ctl = ShmemInitStruct("execlave recorder", recorder_shmem_size(), &found);
	if (!found)
	{
		ctl->lock = &(GetNamedLWLockTranche("execlave recorder"))->lock;
		ctl->next_seq = 0;
		ctl->next_generation = 0;
		ctl->nwaiting = 0;
		ctl->nslots = execlave_max_recorders;
		ctl->nentries = MaxBackends;
		for (int i = 0; i < ctl->nslots; i++)
		{
			RecorderSlot *s = &ctl->slots[i];

			memset(s, 0, sizeof(*s));
			s->state = SLOT_FREE;
			s->dbid = InvalidOid;
			s->head = s->tail = -1;
		}
		entries = entries_of(ctl);
		for (int i = 0; i < ctl->nentries; i++)
		{
			memset(&entries[i], 0, sizeof(RecorderEntry));
			entries[i].next = -1;
			entries[i].slot = -1;
		}
	}
	entries = entries_of(ctl);
	LWLockRelease(AddinShmemInitLock);
}

/* Called from _PG_init: settings, and shared memory when preloaded. */
void
execlave_recorder_init(void)
{
	DefineCustomIntVariable("execlave.record_timeout",
							gettext_noop("Longest wait to commit a blocked request's violations in a separate transaction."),
							gettext_noop("Also the recorder's lock and statement timeout. Past it the violations go to the server log."),
							&execlave_record_timeout_ms,
							5000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("execlave.recorder_idle_timeout",
							gettext_noop("How long a database's violation recorder stays with nothing to do before it exits."),
							gettext_noop("Only with shared_preload_libraries; the next blocked request starts it again."),
							&execlave_recorder_idle_ms,
							10000, 100, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("execlave.max_recorders",
							gettext_noop("Most violation recorders (one per database) running at once."),
							gettext_noop("Each takes a background worker slot while it runs."),
							&execlave_max_recorders,
							2, 1, 64,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = recorder_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = recorder_shmem_startup;
}

/* ---------------------------------------------------------------------
 * Common helpers
 * ---------------------------------------------------------------------
 */

/* Say that the violations could not be committed, and log them. */
static void
report_unrecorded(const char *why, const char *json)
{
	ereport(WARNING,
			(errcode(ERRCODE_EXECLAVE_POLICY_BLOCKED),
			 errmsg("could not record the blocked request's violations: %s", why),
			 errhint("They are written to the server log; the request is refused all the same.")));
	ereport(LOG,
			(errmsg("execlave: unrecorded policy violations: %s", json)));
}

/* Milliseconds from now until ts, at least 1 (for WaitLatch). */
static long
ms_until(TimestampTz ts)
{
	TimestampTz now = GetCurrentTimestamp();

	if (ts <= now)
		return 1;
	return Max(1, (long) ((ts - now + 999) / 1000));
}

/* Fill in a recorder worker's common fields. */
static void
init_worker(BackgroundWorker *worker, const char *function)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_ConsistentState;
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "execlave");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_type, BGW_MAXLEN, "execlave violation recorder");
	worker->bgw_notify_pid = MyProcPid;
}

/* Recorder process: session settings once connected. */
static void
setup_session(void)
{
	char		timeout[32];

	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	snprintf(timeout, sizeof(timeout), "%d", execlave_record_timeout_ms);
	SetConfigOption("lock_timeout", timeout, PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	pgstat_report_appname("execlave violation recorder");
}

/* Call execlave.record_violations(json) as function fn, in the current transaction. */
static void
call_record(Oid fn, const char *json)
{
	FmgrInfo	flinfo;
	LOCAL_FCINFO(fcinfo, 1);

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

/* Record one job in a subtransaction of the current transaction, setting its outcome. */
static void
record_job(RecorderJob *job, Oid fn, MemoryContext cxt)
{
	ResourceOwner owner = CurrentResourceOwner;

	if (GetCurrentTimestamp() >= job->deadline)
	{
		job->outcome = JOB_FAILED;
		job->error = "the recorder reached it after its deadline (execlave.record_timeout)";
		return;
	}
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		enable_timeout_at(STATEMENT_TIMEOUT, job->deadline);
		PushActiveSnapshot(GetTransactionSnapshot());
		call_record(fn, job->json);
		PopActiveSnapshot();
		disable_timeout(STATEMENT_TIMEOUT, false);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		CommandCounterIncrement();
		job->outcome = JOB_RECORDED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		disable_timeout(STATEMENT_TIMEOUT, false);
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		job->outcome = JOB_FAILED;
		job->error = edata->message ? edata->message : "unknown error";
		ereport(LOG,
				(errmsg("execlave violation recorder: could not record a blocked request's violations: %s",
						job->error)));
	}
	PG_END_TRY();
}

/*
 * Commit jobs[0..n-1] (those with JSON) in one transaction, each in its own
 * subtransaction, as execlave_worker.  Sets every job's outcome; interrupts
 * are held from the commit's return until the caller has reported.
 */
static void
commit_jobs(RecorderJob *js, int n, MemoryContext cxt)
{
	Oid			save_uid;
	int			save_sec;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	GetUserIdAndSecContext(&save_uid, &save_sec);
	PG_TRY();
	{
		Oid			argtypes[1] = {JSONBOID};
		Oid			fn;
		Oid			role;

		/* resolved before the switch: execlave_worker needs no USAGE on schema execlave */
		fn = LookupFuncName(list_make2(makeString(EXECLAVE_SCHEMA), makeString("record_violations")),
							1, argtypes, false);
		role = get_role_oid("execlave_worker", true);
		if (OidIsValid(role))
			SetUserIdAndSecContext(role, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		MemoryContextSwitchTo(cxt);
		for (int i = 0; i < n; i++)
			if (js[i].json != NULL && js[i].outcome == JOB_PENDING)
				record_job(&js[i], fn, cxt);
		CommitTransactionCommand();
		/* no interrupt between the commit and the report: an outcome is never lost */
		HOLD_INTERRUPTS();
		SetUserIdAndSecContext(save_uid, save_sec);
		for (int i = 0; i < n; i++)
			if (js[i].outcome == JOB_RECORDED)
				js[i].outcome = JOB_COMMITTED;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		char	   *msg;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		SetUserIdAndSecContext(save_uid, save_sec);
		msg = psprintf("the recorder's transaction failed: %s",
					   edata->message ? edata->message : "unknown error");
		ereport(LOG, (errmsg("execlave violation recorder: %s", msg)));
		for (int i = 0; i < n; i++)
			if (js[i].outcome == JOB_PENDING || js[i].outcome == JOB_RECORDED)
			{
				js[i].outcome = JOB_FAILED;
				js[i].error = msg;
			}
		HOLD_INTERRUPTS();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}

/* ---------------------------------------------------------------------
 * Shared queue: operations under ctl->lock
 * ---------------------------------------------------------------------
 */

/* The latch of the backend owning entry e. */
static Latch *
entry_latch(int e)
{
	return &GetPGProcByNumber(e)->procLatch;
}

/* Give entry e (of the request seq) its outcome and wake its backend. */
static void
finish_entry(int e, uint64 seq, bool done, const char *error)
{
	RecorderEntry *en = &entries[e];

	if (en->seq != seq || en->state != ENTRY_TAKEN)
		return;					/* its backend gave up on it */
	en->state = done ? ENTRY_DONE : ENTRY_FAILED;
	strlcpy(en->error, error ? error : "", sizeof(en->error));
	SetLatch(entry_latch(e));
}

/* Append entry e to slot s's queue. */
static void
queue_append(int s, int e)
{
	RecorderSlot *sl = &ctl->slots[s];

	entries[e].next = -1;
	entries[e].slot = s;
	if (sl->tail < 0)
		sl->head = e;
	else
		entries[sl->tail].next = e;
	sl->tail = e;
}

/* Take entry e off slot s's queue. */
static void
queue_remove(int s, int e)
{
	RecorderSlot *sl = &ctl->slots[s];
	int			prev = -1;

	for (int i = sl->head; i >= 0; prev = i, i = entries[i].next)
	{
		if (i != e)
			continue;
		if (prev < 0)
			sl->head = entries[i].next;
		else
			entries[prev].next = entries[i].next;
		if (sl->tail == e)
			sl->tail = prev;
		break;
	}
	entries[e].next = -1;
}

/* Fail every queued request of slot s and free the slot. */
static void
fail_slot(int s, const char *why)
{
	RecorderSlot *sl = &ctl->slots[s];

	while (sl->head >= 0)
	{
		int			e = sl->head;

		sl->head = entries[e].next;
		entries[e].next = -1;
		entries[e].state = ENTRY_TAKEN;
		finish_entry(e, entries[e].seq, false, why);
	}
	sl->tail = -1;
	sl->state = SLOT_FREE;
	sl->dbid = InvalidOid;
	sl->pid = 0;
	sl->latch = NULL;
}

/* The slot serving dbid, claiming a free one if needed; -1 if all serve others. */
static int
slot_for(Oid dbid)
{
	int			free_slot = -1;

	for (int i = 0; i < ctl->nslots; i++)
	{
		if (ctl->slots[i].state != SLOT_FREE && ctl->slots[i].dbid == dbid)
			return i;
		if (ctl->slots[i].state == SLOT_FREE && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
	{
		RecorderSlot *sl = &ctl->slots[free_slot];

		sl->state = SLOT_STOPPED;
		sl->dbid = dbid;
		sl->start_failed = false;
		sl->head = sl->tail = -1;
	}
	return free_slot;
}

/*
 * If slot s has no process (or lost the one it was starting), mark it
 * starting under a new generation and return that; 0 when nothing to start.
 */
static uint32
claim_start(int s)
{
	RecorderSlot *sl = &ctl->slots[s];

	if (sl->state == SLOT_STARTING &&
		!TimestampDifferenceExceeds(sl->start_at, GetCurrentTimestamp(), RECORDER_START_STALE_MS))
		return 0;
	if (sl->state != SLOT_STOPPED && sl->state != SLOT_STARTING)
		return 0;
	sl->state = SLOT_STARTING;
	if (++ctl->next_generation == 0)
		++ctl->next_generation;
	sl->generation = ctl->next_generation;
	sl->start_at = GetCurrentTimestamp();
	return sl->generation;
}

/* Is some recorder slot free (under the lock)? */
static bool
any_slot_free(void)
{
	for (int i = 0; i < ctl->nslots; i++)
		if (ctl->slots[i].state == SLOT_FREE)
			return true;
	return false;
}

/* Set the latch of every running recorder whose queue is empty (they may yield). */
static void
wake_idle_recorders(void)
{
	for (int i = 0; i < ctl->nslots; i++)
		if (ctl->slots[i].state == SLOT_RUNNING && ctl->slots[i].head < 0 && ctl->slots[i].latch)
			SetLatch(ctl->slots[i].latch);
}

/* ---------------------------------------------------------------------
 * Backend side (preloaded)
 * ---------------------------------------------------------------------
 */

/* Take this backend's request out of the queue, wherever it is. */
static void
withdraw_request(void)
{
	RecorderEntry *en;

	if (my_entry < 0 || my_seq == 0)
		return;
	en = &entries[my_entry];
	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	if (en->seq == my_seq)
	{
		if (en->state == ENTRY_QUEUED)
			queue_remove(en->slot, my_entry);
		else if (en->state == ENTRY_WAITING)
			ctl->nwaiting--;
		en->state = ENTRY_FREE;
		en->seq = 0;
	}
	LWLockRelease(ctl->lock);
	my_seq = 0;
}

/* before_shmem_exit: a backend leaving (FATAL) while it waits withdraws its request. */
static void
backend_exit(int code, Datum arg)
{
	withdraw_request();
}

/* Register the recorder of slot s, generation gen; on failure mark the slot stopped. */
static BackgroundWorkerHandle *
start_recorder(int s, uint32 gen)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	Oid			dbid = ctl->slots[s].dbid;	/* stable while the slot is starting */

	init_worker(&worker, "execlave_db_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "execlave violation recorder for database %u", dbid);
	worker.bgw_main_arg = Int32GetDatum(s);
	memcpy(worker.bgw_extra, &gen, sizeof(gen));
	if (RegisterDynamicBackgroundWorker(&worker, &handle))
		return handle;
	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	if (ctl->slots[s].state == SLOT_STARTING && ctl->slots[s].generation == gen)
	{
		ctl->slots[s].state = SLOT_STOPPED;
		ctl->slots[s].start_failed = true;
	}
	LWLockRelease(ctl->lock);
	return NULL;
}

/* Put entry e on its database's recorder queue (under the lock); false: no slot. */
static bool
assign_entry(int e, uint32 *start_gen, Latch **latch)
{
	int			s = slot_for(entries[e].dbid);

	if (s < 0)
		return false;
	queue_append(s, e);
	entries[e].state = ENTRY_QUEUED;
	*start_gen = claim_start(s);
	if (ctl->slots[s].state == SLOT_RUNNING)
		*latch = ctl->slots[s].latch;
	return true;
}

/*
 * Wait until entry e has an outcome, starting its recorder when needed
 * (start_gen != 0: we claimed the start) and first setting latch (the
 * recorder's, when running).  Leaves why it was not recorded in failure
 * (empty when it was) and frees the entry.
 */
static void
wait_for_outcome(int e, TimestampTz deadline, uint32 start_gen, Latch *latch, char *failure,
				 size_t failure_size)
{
	RecorderEntry *en = &entries[e];
	TimestampTz hard_deadline = TimestampTzPlusMilliseconds(deadline, RECORD_GRACE_MS);
	BackgroundWorkerHandle *handle = NULL;
	uint32		handle_gen = 0;
	int			handle_slot = -1;
	bool		finished = false;

	while (!finished)
	{
		TimestampTz now;
		TimestampTz wake_at;
		bool		poll = false;

		if (start_gen != 0)
		{
			int			s = en->slot;	/* only we move our entry between slots */

			if (handle != NULL)
				pfree(handle);
			handle = start_recorder(s, start_gen);
			handle_gen = start_gen;
			handle_slot = s;
			start_gen = 0;
		}
		if (latch != NULL)
			SetLatch(latch);
		latch = NULL;

		/* the worker we registered stopped before it ran: its queue cannot be served */
		if (handle != NULL)
		{
			pid_t		pid;

			if (GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
			{
				LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
				if (ctl->slots[handle_slot].state == SLOT_STARTING &&
					ctl->slots[handle_slot].generation == handle_gen)
					fail_slot(handle_slot, "the recorder exited before it started");
				LWLockRelease(ctl->lock);
				pfree(handle);
				handle = NULL;
			}
		}

		LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
		now = GetCurrentTimestamp();
		wake_at = deadline;
		switch (en->state)
		{
			case ENTRY_DONE:
				finished = true;
				break;
			case ENTRY_FAILED:
				strlcpy(failure, en->error[0] ? en->error : "the recorder failed", failure_size);
				finished = true;
				break;
			case ENTRY_WAITING:
				if (assign_entry(e, &start_gen, &latch))
					ctl->nwaiting--;
				else if (now >= deadline)
				{
					strlcpy(failure, "every violation recorder is busy with another database (raise execlave.max_recorders)",
							failure_size);
					ctl->nwaiting--;
					finished = true;
				}
				else
					wake_idle_recorders();
				poll = true;
				break;
			case ENTRY_QUEUED:
				if (now >= deadline)
				{
					strlcpy(failure, ctl->slots[en->slot].start_failed
							? "no background worker slot became free (raise max_worker_processes)"
							: "the recorder did not reach it within execlave.record_timeout",
							failure_size);
					queue_remove(en->slot, e);
					finished = true;
					break;
				}
				start_gen = claim_start(en->slot);
				poll = ctl->slots[en->slot].state != SLOT_RUNNING;
				break;
			case ENTRY_TAKEN:
				if (now >= hard_deadline)
				{
					strlcpy(failure, "the recorder did not answer within execlave.record_timeout (they may be recorded all the same)",
							failure_size);
					finished = true;
				}
				wake_at = hard_deadline;
				break;
			default:
				/* cannot happen; no elog while holding the lock */
				strlcpy(failure, "its request entry was in an unexpected state", failure_size);
				finished = true;
				break;
		}
		if (finished)
		{
			en->state = ENTRY_FREE;
			en->seq = 0;
			my_seq = 0;
		}
		LWLockRelease(ctl->lock);
		if (finished || start_gen != 0)
			continue;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 poll ? Min(RECORDER_POLL_MS, ms_until(wake_at)) : ms_until(wake_at),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	if (handle != NULL)
		pfree(handle);
}

/* Commit the violations through the database's recorder, waiting for the outcome. */
static void
record_through_queue(const char *json)
{
	size_t		len = strlen(json);
	int			e = MyProc->pgprocno;
	RecorderEntry *en;
	dsm_segment *seg;
	RequestSegment *rs;
	TimestampTz deadline;
	uint32		start_gen = 0;
	Latch	   *latch = NULL;
	char		failure[ERROR_LEN + 64];

	if (e < 0 || e >= ctl->nentries)
	{
		report_unrecorded("this process has no request entry", json);
		return;
	}
	seg = dsm_create(offsetof(RequestSegment, json) + len + 1, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
	{
		report_unrecorded("too many dynamic shared memory segments", json);
		return;
	}
	rs = dsm_segment_address(seg);
	rs->magic = REQUEST_MAGIC;
	rs->len = len;
	memcpy(rs->json, json, len + 1);
	if (!backend_exit_registered)
	{
		before_shmem_exit(backend_exit, (Datum) 0);
		backend_exit_registered = true;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), execlave_record_timeout_ms);
	failure[0] = '\0';
	en = &entries[e];

	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	rs->seq = ++ctl->next_seq;
	my_entry = e;
	my_seq = rs->seq;
	en->seq = rs->seq;
	en->dbid = MyDatabaseId;
	en->handle = dsm_segment_handle(seg);
	en->deadline = deadline;
	en->error[0] = '\0';
	en->next = -1;
	en->slot = -1;
	if (!assign_entry(e, &start_gen, &latch))
	{
		en->state = ENTRY_WAITING;
		ctl->nwaiting++;
		wake_idle_recorders();
	}
	LWLockRelease(ctl->lock);

	PG_TRY();
	{
		wait_for_outcome(e, deadline, start_gen, latch, failure, sizeof(failure));
	}
	PG_CATCH();
	{
		withdraw_request();
		ereport(LOG,
				(errmsg("execlave: the wait for the recording of these policy violations was interrupted, they may be unrecorded: %s",
						json)));
		PG_RE_THROW();
	}
	PG_END_TRY();

	dsm_detach(seg);
	if (failure[0] != '\0')
		report_unrecorded(failure, json);
}

/* ---------------------------------------------------------------------
 * The recorder of a database (preloaded)
 * ---------------------------------------------------------------------
 */

/* before_shmem_exit of a recorder: report its batch, fail its queue, free its slot. */
static void
recorder_exit(int code, Datum arg)
{
	if (my_slot < 0)
		return;
	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	if (ctl->slots[my_slot].generation == my_generation && ctl->slots[my_slot].state != SLOT_FREE)
	{
		for (int i = 0; i < njobs; i++)
			finish_entry(jobs[i].entry, jobs[i].seq, jobs[i].outcome == JOB_COMMITTED,
						 "the recorder exited without committing");
		fail_slot(my_slot, "the recorder exited without committing");
	}
	LWLockRelease(ctl->lock);
	my_slot = -1;
}

/* Take up to RECORDER_BATCH queued requests into jobs[]; *yield: others want a slot. */
static int
take_jobs(bool *yield)
{
	RecorderSlot *sl = &ctl->slots[my_slot];
	int			n = 0;

	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	while (sl->head >= 0 && n < RECORDER_BATCH)
	{
		int			e = sl->head;
		RecorderEntry *en = &entries[e];

		sl->head = en->next;
		en->next = -1;
		en->state = ENTRY_TAKEN;
		jobs[n].entry = e;
		jobs[n].seq = en->seq;
		jobs[n].handle = en->handle;
		jobs[n].deadline = en->deadline;
		jobs[n].json = NULL;
		jobs[n].outcome = JOB_PENDING;
		jobs[n].error = NULL;
		n++;
	}
	if (sl->head < 0)
		sl->tail = -1;
	njobs = n;
	*yield = ctl->nwaiting > 0;
	LWLockRelease(ctl->lock);
	return n;
}

/* Copy each job's JSON out of its segment (a withdrawn request's may be gone). */
static void
read_jobs(MemoryContext cxt)
{
	for (int i = 0; i < njobs; i++)
	{
		dsm_segment *seg = dsm_attach(jobs[i].handle);
		RequestSegment *rs;

		if (seg == NULL)
		{
			jobs[i].outcome = JOB_FAILED;
			jobs[i].error = "the request was withdrawn";
			continue;
		}
		rs = dsm_segment_address(seg);
		if (dsm_segment_map_length(seg) >= offsetof(RequestSegment, json) &&
			rs->magic == REQUEST_MAGIC && rs->seq == jobs[i].seq &&
			dsm_segment_map_length(seg) > offsetof(RequestSegment, json) + rs->len)
			jobs[i].json = MemoryContextStrdup(cxt, rs->json);
		else
		{
			jobs[i].outcome = JOB_FAILED;
			jobs[i].error = "the request was withdrawn";
		}
		dsm_detach(seg);
	}
}

/* Report every job's outcome to its backend; interrupts were held since the commit. */
static void
report_jobs(void)
{
	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	for (int i = 0; i < njobs; i++)
		finish_entry(jobs[i].entry, jobs[i].seq, jobs[i].outcome == JOB_COMMITTED,
					 jobs[i].error ? jobs[i].error : "the recorder failed");
	njobs = 0;
	LWLockRelease(ctl->lock);
	RESUME_INTERRUPTS();
}

/* Entry point of a database's recorder; arg is its slot, bgw_extra its generation. */
void
execlave_db_recorder_main(Datum arg)
{
	Oid			dbid;
	MemoryContext cxt;
	TimestampTz last_work;

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	if (ctl == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execlave violation recorder: execlave is not in shared_preload_libraries")));
	my_slot = DatumGetInt32(arg);
	memcpy(&my_generation, MyBgworkerEntry->bgw_extra, sizeof(my_generation));
	before_shmem_exit(recorder_exit, (Datum) 0);

	/* a slot that has moved on (our start was given up for lost) is not ours */
	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	if (my_slot < 0 || my_slot >= ctl->nslots ||
		ctl->slots[my_slot].generation != my_generation ||
		ctl->slots[my_slot].state != SLOT_STARTING)
	{
		LWLockRelease(ctl->lock);
		my_slot = -1;
		proc_exit(0);
	}
	dbid = ctl->slots[my_slot].dbid;
	ctl->slots[my_slot].pid = MyProcPid;
	LWLockRelease(ctl->lock);

	BackgroundWorkerInitializeConnectionByOid(dbid, InvalidOid, 0);
	setup_session();

	LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
	if (ctl->slots[my_slot].generation != my_generation ||
		ctl->slots[my_slot].state != SLOT_STARTING)
	{
		LWLockRelease(ctl->lock);
		my_slot = -1;
		proc_exit(0);
	}
	ctl->slots[my_slot].state = SLOT_RUNNING;
	ctl->slots[my_slot].latch = MyLatch;
	ctl->slots[my_slot].start_failed = false;
	LWLockRelease(ctl->lock);

	cxt = AllocSetContextCreate(TopMemoryContext, "execlave recorder batch", ALLOCSET_DEFAULT_SIZES);
	last_work = GetCurrentTimestamp();
	for (;;)
	{
		bool		yield;
		TimestampTz idle_until;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			setup_session();
		}
		MemoryContextReset(cxt);
		MemoryContextSwitchTo(cxt);
		if (take_jobs(&yield) > 0)
		{
			read_jobs(cxt);
			pgstat_report_activity(STATE_RUNNING, "SELECT execlave.record_violations($1)");
			commit_jobs(jobs, njobs, cxt);
			report_jobs();
			pgstat_report_activity(STATE_IDLE, NULL);
			pgstat_report_stat(false);
			last_work = GetCurrentTimestamp();
			continue;
		}

		/*
		 * Nothing queued: exit when idle long enough, or at once when a
		 * backend of another database waits for a slot and none is free (so
		 * that one idle recorder, not all, makes way).
		 */
		idle_until = TimestampTzPlusMilliseconds(last_work, execlave_recorder_idle_ms);
		if (yield || GetCurrentTimestamp() >= idle_until)
		{
			RecorderSlot *sl = &ctl->slots[my_slot];
			bool		leave = false;
			bool		work = false;

			LWLockAcquire(ctl->lock, LW_EXCLUSIVE);
			if (sl->head >= 0)
				work = true;
			else if (GetCurrentTimestamp() >= idle_until || !any_slot_free())
			{
				sl->state = SLOT_FREE;
				sl->dbid = InvalidOid;
				sl->pid = 0;
				sl->latch = NULL;
				leave = true;
			}
			LWLockRelease(ctl->lock);
			if (leave)
			{
				my_slot = -1;
				proc_exit(0);
			}
			if (work)
				continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms_until(idle_until), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * Without shared_preload_libraries: a bounded worker per request
 * ---------------------------------------------------------------------
 */

/* Take one of the database's FALLBACK_WORKERS session locks before deadline; -1 if none. */
static int
acquire_fallback_slot(TimestampTz deadline, LOCKTAG *tag)
{
	for (;;)
	{
		for (int i = 0; i < FALLBACK_WORKERS; i++)
		{
			SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, FALLBACK_LOCK_KEY, i, FALLBACK_LOCK_FIELD4);
			if (LockAcquire(tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL)
				return i;
		}
		if (GetCurrentTimestamp() >= deadline)
			return -1;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(RECORDER_POLL_MS, ms_until(deadline)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Start a worker for this one request and wait for it to exit. */
static void
run_own_worker(const char *json, TimestampTz deadline)
{
	size_t		len = strlen(json);
	dsm_segment *seg;
	FallbackSegment *sh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;

	seg = dsm_create(offsetof(FallbackSegment, json) + len + 1, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg == NULL)
	{
		report_unrecorded("too many dynamic shared memory segments", json);
		return;
	}
	sh = dsm_segment_address(seg);
	sh->dbid = MyDatabaseId;
	sh->deadline = deadline;
	sh->status = JOB_PENDING;
	sh->error[0] = '\0';
	memcpy(sh->json, json, len + 1);

	init_worker(&worker, "execlave_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "execlave violation recorder for PID %d", MyProcPid);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));

	/* All worker slots may be busy for a moment: retry until the deadline. */
	while (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (GetCurrentTimestamp() >= deadline)
		{
			dsm_detach(seg);
			report_unrecorded("no background worker slot became free (raise max_worker_processes)",
							  json);
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 RECORDER_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* the worker's statement timeout is our deadline, so this wait is bounded */
	status = WaitForBackgroundWorkerShutdown(handle);
	pg_read_barrier();
	if (status != BGWH_STOPPED)
		report_unrecorded("the server is shutting down", json);
	else if (sh->status != JOB_COMMITTED)
		report_unrecorded(sh->status == JOB_FAILED ? sh->error
						  : "the recorder worker exited without committing", json);
	dsm_detach(seg);
}

/* No shared memory: a worker of our own, at most FALLBACK_WORKERS per database at a time. */
static void
record_with_own_worker(const char *json)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   execlave_record_timeout_ms);
	LOCKTAG		tag;

	if (acquire_fallback_slot(deadline, &tag) < 0)
	{
		char		why[128];

		snprintf(why, sizeof(why),
				 "every violation recorder of this database stayed busy (at most %d at a time without shared_preload_libraries)",
				 FALLBACK_WORKERS);
		report_unrecorded(why, json);
		return;
	}
	PG_TRY();
	{
		run_own_worker(json, deadline);
	}
	PG_FINALLY();
	{
		LockRelease(&tag, ExclusiveLock, true);
	}
	PG_END_TRY();
}

/* Entry point of a per-request recorder worker; arg is the DSM handle. */
void
execlave_recorder_main(Datum arg)
{
	dsm_segment *seg;
	FallbackSegment *sh;
	RecorderJob job;
	MemoryContext cxt;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execlave violation recorder: could not attach to its shared memory segment")));
	sh = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(sh->dbid, InvalidOid, 0);
	setup_session();
	pgstat_report_activity(STATE_RUNNING, "SELECT execlave.record_violations($1)");

	cxt = AllocSetContextCreate(TopMemoryContext, "execlave recorder", ALLOCSET_DEFAULT_SIZES);
	memset(&job, 0, sizeof(job));
	job.json = sh->json;
	job.deadline = sh->deadline;
	job.outcome = JOB_PENDING;
	commit_jobs(&job, 1, cxt);
	if (job.outcome != JOB_COMMITTED)
		strlcpy(sh->error, job.error ? job.error : "unknown error", sizeof(sh->error));
	pg_write_barrier();
	sh->status = job.outcome;
	RESUME_INTERRUPTS();
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * Commit the violations (a JSON array for execlave.record_violations) in a
 * separate transaction, waiting until it is done or execlave.record_timeout
 * has passed.
 */
void
execlave_record_durably(const char *json)
{
	if (ctl != NULL)
		record_through_queue(json);
	else
		record_with_own_worker(json);
}
