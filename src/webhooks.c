/*
 * webhooks.c
 *		Webhook endpoints: URL and secret helpers, the shared state through
 *		which backends wake the webhook worker, and its registration.
 *
 * Deliveries are rows of execlave.deliveries written in the transaction of
 * the event that caused them (a trigger on execlave.events fans out).  A
 * statement trigger on execlave.deliveries marks the transaction; a
 * transaction callback sets the worker's latch when it commits, so the
 * worker sees new deliveries within a wake-up, never before they are
 * visible, and never for a transaction that rolled back.  The worker itself
 * (webhook_worker.c) also polls on a timer, so a lost wake-up only delays.
 */
#include "execlave.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "common/base64.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/inet.h"
#include "netcheck.h"
#include "webhook_check.h"

PG_FUNCTION_INFO_V1(execlave_check_webhook_url);
PG_FUNCTION_INFO_V1(execlave_new_webhook_secret);
PG_FUNCTION_INFO_V1(execlave_wake_webhook_worker);
PG_FUNCTION_INFO_V1(execlave_webhook_worker_status);
PG_FUNCTION_INFO_V1(execlave_webhook_address_refusal);

/* Shared between backends and the worker (only when preloaded). */
typedef struct WebhookShared
{
	slock_t		mutex;
	Latch	   *latch;			/* the worker's latch, NULL when not running */
	pid_t		pid;
	Oid			dbid;			/* database the worker serves, once connected */
} WebhookShared;

static WebhookShared *webhook_shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Set by the deliveries trigger; acted on at commit. */
static bool wake_at_commit = false;

/* True in the webhook worker, whose own writes need not wake it. */
bool		execlave_am_webhook_worker = false;

static void
webhook_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(WebhookShared)));
}

static void
webhook_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	webhook_shared = ShmemInitStruct("execlave webhooks", sizeof(WebhookShared), &found);
	if (!found)
	{
		SpinLockInit(&webhook_shared->mutex);
		webhook_shared->latch = NULL;
		webhook_shared->pid = 0;
		webhook_shared->dbid = InvalidOid;
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Transaction callback: wake the worker when a transaction that wrote deliveries commits. */
static void
webhook_xact_callback(XactEvent event, void *arg)
{
	Latch	   *latch = NULL;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit && webhook_shared != NULL)
			{
				SpinLockAcquire(&webhook_shared->mutex);
				latch = webhook_shared->latch;
				SpinLockRelease(&webhook_shared->mutex);
				if (latch != NULL)
					SetLatch(latch);
			}
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * Called from _PG_init.  When preloaded: shared memory for the wake-up and
 * the worker itself.  In every process: the commit callback.
 */
void
execlave_webhooks_init(void)
{
	RegisterXactCallback(webhook_xact_callback, NULL);
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = webhook_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = webhook_shmem_startup;

	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = 1;
		snprintf(worker.bgw_library_name, BGW_MAXLEN, "execlave");
		snprintf(worker.bgw_function_name, BGW_MAXLEN, "execlave_webhook_worker_main");
		snprintf(worker.bgw_name, BGW_MAXLEN, "execlave webhook worker");
		snprintf(worker.bgw_type, BGW_MAXLEN, "execlave webhook worker");
		RegisterBackgroundWorker(&worker);
	}
}

/* The worker publishes (or, latch NULL, withdraws) itself. */
void
execlave_webhook_publish(Latch *latch, Oid dbid)
{
	if (webhook_shared == NULL)
		return;
	SpinLockAcquire(&webhook_shared->mutex);
	webhook_shared->latch = latch;
	webhook_shared->pid = latch ? MyProcPid : 0;
	webhook_shared->dbid = dbid;
	SpinLockRelease(&webhook_shared->mutex);
}

/* Statement trigger on execlave.deliveries: wake the worker at commit. */
Datum
execlave_wake_webhook_worker(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("execlave.wake_webhook_worker() must be called as a trigger")));
	if (!execlave_am_webhook_worker)
		wake_at_commit = true;
	return PointerGetDatum(NULL);
}

/*
 * execlave.webhook_worker_status() RETURNS text: 'running (pid N)',
 * 'serving another database (oid N)', 'starting', or 'not available' (not
 * preloaded).
 */
Datum
execlave_webhook_worker_status(PG_FUNCTION_ARGS)
{
	pid_t		pid;
	Oid			dbid;

	if (webhook_shared == NULL)
		PG_RETURN_TEXT_P(cstring_to_text("not available: execlave is not in shared_preload_libraries"));
	SpinLockAcquire(&webhook_shared->mutex);
	pid = webhook_shared->pid;
	dbid = webhook_shared->dbid;
	SpinLockRelease(&webhook_shared->mutex);
	if (pid == 0)
		PG_RETURN_TEXT_P(cstring_to_text("not running"));
	if (dbid != MyDatabaseId)
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("running (pid %d) for another database (execlave.database = %s)",
												  (int) pid, execlave_database)));
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("running (pid %d)", (int) pid)));
}

/*
 * execlave.check_webhook_url(url) RETURNS text: http or https, a host, no
 * credentials, at most 2048 bytes; returns libcurl's normalized form.  The
 * checks are in webhook_check.c.
 */
Datum
execlave_check_webhook_url(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int			len = VARSIZE_ANY_EXHDR(t);
	char	   *url = text_to_cstring(t);
	char		normalized[WEBHOOK_URL_BUFSIZE];
	char		detail[WEBHOOK_URL_BUFSIZE];

	switch (webhook_url_check(url, len, normalized, detail))
	{
		case WEBHOOK_URL_OK:
			break;
		case WEBHOOK_URL_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL: it must be 1 to %d bytes long", WEBHOOK_URL_MAX_LEN)));
			break;
		case WEBHOOK_URL_CHARACTER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL: it contains a space, a control or a non-ASCII character"),
					 errhint("Percent-encode such characters.")));
			break;
		case WEBHOOK_URL_PARSE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL \"%s\": %s", url, detail),
					 errhint("Give an absolute http:// or https:// URL.")));
			break;
		case WEBHOOK_URL_SCHEME:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL \"%s\": scheme \"%s\" is not http or https", url, detail)));
			break;
		case WEBHOOK_URL_NO_HOST:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL \"%s\": it has no host", url)));
			break;
		case WEBHOOK_URL_CREDENTIALS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL: credentials in the URL are not allowed"),
					 errhint("Authenticate the receiver with the webhook signature instead.")));
			break;
		case WEBHOOK_URL_NORMALIZED_LENGTH:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL: its normalized form is longer than %d bytes", WEBHOOK_URL_MAX_LEN)));
			break;
		case WEBHOOK_URL_NORMALIZED_CHARACTER:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL \"%s\": its normalized form contains a space, a control or a non-ASCII character", url),
					 errhint("Percent-encoded bytes of the host are decoded; write an international domain name in its ASCII (xn--) form.")));
			break;
		case WEBHOOK_URL_UNSTABLE:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid webhook URL \"%s\": its normalized form \"%s\" does not normalize to itself", url, detail),
					 errhint("Write the host without percent-encoding.")));
			break;
		case WEBHOOK_URL_NO_MEMORY:
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
			break;
	}
	PG_RETURN_TEXT_P(cstring_to_text(normalized));
}

/* execlave.new_webhook_secret() RETURNS text: whsec_ + base64 of 32 random bytes. */
Datum
execlave_new_webhook_secret(PG_FUNCTION_ARGS)
{
	uint8		key[32];
	char		buf[6 + 64 + 1] = "whsec_";
	int			n;

	if (!pg_strong_random(key, sizeof(key)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random webhook secret")));
	n = pg_b64_encode((const char *) key, sizeof(key), buf + 6, sizeof(buf) - 7);
	if (n < 0)
		elog(ERROR, "could not encode webhook secret");
	buf[6 + n] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/*
 * execlave.webhook_address_refusal(address inet) RETURNS text: why the SSRF
 * guard refuses to connect to the address (netcheck.c), or NULL when it is
 * globally reachable.  A network (10.0.0.0/8) is judged by its address.
 */
Datum
execlave_webhook_address_refusal(PG_FUNCTION_ARGS)
{
	inet	   *ip = PG_GETARG_INET_PP(0);
	const char *why;

	if (ip_family(ip) == PGSQL_AF_INET)
		why = netcheck_refusal_v4(ip_addr(ip));
	else
		why = netcheck_refusal_v6(ip_addr(ip));
	if (why == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(why));
}
