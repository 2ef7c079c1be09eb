/*
 * recorder.c
 *		Durable recording of blocked requests' violations.
 *
 * A block-mode violation refuses the request with an error, which rolls back
 * everything the transaction wrote, yet its violation row and its
 * policy.violated event must survive.  execlave_record_durably() hands the
 * violations to a short-lived dynamic background worker and waits for it:
 *
 *   1. the backend copies the violations (JSON) into a new DSM segment and
 *      registers a worker (no shared_preload_libraries needed);
 *   2. the worker attaches, connects to the same database as the bootstrap
 *      superuser, calls execlave.record_violations() in its own transaction
 *      and commits, with lock_timeout and statement_timeout set to
 *      execlave.record_timeout so it can never wait forever on a lock the
 *      blocked transaction holds;
 *   3. the backend waits for the worker to exit (interruptible), reads the
 *      outcome from the segment, and only then raises the policy error.
 *
 * If no worker slot frees up within execlave.record_timeout, or the worker
 * fails, the backend emits a WARNING and writes the violations to the server
 * log (LOG), then raises the policy error anyway: a request is never let
 * through because it could not be recorded.
 */
#include "policy.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "utils/memutils.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

/* execlave.record_timeout, in milliseconds. */
int			execlave_record_timeout_ms = 5000;

/* Outcome of a recording, written by the worker. */
#define RECORD_PENDING	0
#define RECORD_DONE		1
#define RECORD_FAILED	2

typedef struct RecorderShared
{
	Oid			dbid;
	int			timeout_ms;
	volatile int status;
	char		error[512];
	char		json[FLEXIBLE_ARRAY_MEMBER];
} RecorderShared;

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

/*
 * Commit the violations (a JSON array for execlave.record_violations) in a
 * separate transaction, waiting until it is done.
 */
void
execlave_record_durably(const char *json)
{
	size_t		len = strlen(json);
	dsm_segment *seg;
	RecorderShared *sh;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	BgwHandleStatus status;
	TimestampTz deadline;

	seg = dsm_create(offsetof(RecorderShared, json) + len + 1, 0);
	sh = dsm_segment_address(seg);
	sh->dbid = MyDatabaseId;
	sh->timeout_ms = execlave_record_timeout_ms;
	sh->status = RECORD_PENDING;
	sh->error[0] = '\0';
	memcpy(sh->json, json, len + 1);

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "execlave");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "execlave_recorder_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "execlave violation recorder for PID %d", MyProcPid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "execlave violation recorder");
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	/* All worker slots may be busy for a moment: retry until the deadline. */
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), execlave_record_timeout_ms);
	while (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		if (GetCurrentTimestamp() >= deadline)
		{
			dsm_detach(seg);
			report_unrecorded("no background worker slot became free (raise max_worker_processes)",
							  json);
			return;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, 10,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	status = WaitForBackgroundWorkerShutdown(handle);
	pg_read_barrier();
	if (status != BGWH_STOPPED)
		report_unrecorded("the server is shutting down", json);
	else if (sh->status != RECORD_DONE)
		report_unrecorded(sh->status == RECORD_FAILED ? sh->error
						  : "the recorder worker exited without committing", json);
	dsm_detach(seg);
}

/* Entry point of the recorder worker; arg is the DSM handle. */
void
execlave_recorder_main(Datum arg)
{
	dsm_segment *seg;
	RecorderShared *sh;
	char		timeout[32];

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execlave violation recorder: could not attach to its shared memory segment")));
	sh = dsm_segment_address(seg);

	BackgroundWorkerInitializeConnectionByOid(sh->dbid, InvalidOid, 0);
	pgstat_report_appname("execlave violation recorder");

	snprintf(timeout, sizeof(timeout), "%d", sh->timeout_ms);
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SetConfigOption("lock_timeout", timeout, PGC_SUSET, PGC_S_SESSION);
	enable_timeout_after(STATEMENT_TIMEOUT, sh->timeout_ms);
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT execlave.record_violations($1)");

	PG_TRY();
	{
		execlave_record_violations(sh->json);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(TopMemoryContext);
		edata = CopyErrorData();
		strlcpy(sh->error, edata->message ? edata->message : "unknown error", sizeof(sh->error));
		pg_write_barrier();
		sh->status = RECORD_FAILED;
		PG_RE_THROW();
	}
	PG_END_TRY();

	PopActiveSnapshot();
	CommitTransactionCommand();
	disable_timeout(STATEMENT_TIMEOUT, false);
	pgstat_report_activity(STATE_IDLE, NULL);

	pg_write_barrier();
	sh->status = RECORD_DONE;
	dsm_detach(seg);
	proc_exit(0);
}
