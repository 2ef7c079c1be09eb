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

#include "webhooks.h"

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
#include "preload.h"
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
/* The webhook worker's settings (defined here: every backend needs them). */
char	   *execlave_database = NULL;
int			execlave_webhook_batch_size = 500;
int			execlave_webhook_concurrency = 32;
int			execlave_webhook_endpoint_concurrency = 8;
int			execlave_webhook_timeout_ms = 15000;
int			execlave_webhook_lease_ms = 60000;
int			execlave_webhook_poll_interval_ms = 1000;
char	   *execlave_webhook_retry_schedule = NULL;
bool		execlave_webhook_allow_private = false;


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
 * Parse execlave.webhook_retry_schedule ("5s,5min,30min,2h") into seconds.
 * Returns the number of entries, or -1 with *bad set to the first bad entry.
 */
int
execlave_parse_schedule(const char *spec, double *out, int max, const char **bad)
{
	int			n = 0;
	const char *p = spec;

	while (*p)
	{
		char	   *end;
		double		v;
		double		unit;

		while (*p == ' ' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		v = strtod(p, &end);
		if (end == p || v < 0 || v != v)
		{
			*bad = p;
			return -1;
		}
		p = end;
		if (strncmp(p, "ms", 2) == 0)
			unit = 0.001, p += 2;
		else if (strncmp(p, "min", 3) == 0)
			unit = 60, p += 3;
		else if (*p == 's')
			unit = 1, p += 1;
		else if (*p == 'h')
			unit = 3600, p += 1;
		else if (*p == 'd')
			unit = 86400, p += 1;
		else
		{
			*bad = end;
			return -1;
		}
		if (*p != '\0' && *p != ',' && *p != ' ')
		{
			*bad = p;
			return -1;
		}
		if (n == max)
		{
			*bad = "too many entries";
			return -1;
		}
		out[n++] = v * unit;
	}
	return n;
}

/* GUC check hook: the retry schedule must parse. */
static bool
check_retry_schedule(char **newval, void **extra, GucSource source)
{
	double		buf[EXECLAVE_MAX_RETRIES];
	const char *bad = NULL;

	if (execlave_parse_schedule(*newval, buf, EXECLAVE_MAX_RETRIES, &bad) < 0)
	{
		GUC_check_errdetail("Invalid entry at \"%s\": give comma-separated durations such as 5s, 5min, 2h, 1d or 500ms (at most %d).",
							bad, EXECLAVE_MAX_RETRIES);
		return false;
	}
	return true;
}

/*
 * Called from _PG_init.  When preloaded: shared memory for the wake-up and
 * the worker itself.  In every process: the commit callback.
 */
void
execlave_webhooks_init(void)
{
	/* A postmaster-level setting can only be defined while preloading. */
	if (execlave_preloaded())
		DefineCustomStringVariable("execlave.database",
								   gettext_noop("Database whose webhook deliveries the webhook worker sends."),
								   NULL,
								   &execlave_database,
								   "postgres",
								   PGC_POSTMASTER, 0,
								   NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_batch_size",
							gettext_noop("Most deliveries the webhook worker holds at once (claimed, not yet recorded)."),
							NULL,
							&execlave_webhook_batch_size,
							500, 1, 100000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_concurrency",
							gettext_noop("Most webhook requests in flight at once."),
							NULL,
							&execlave_webhook_concurrency,
							32, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_endpoint_concurrency",
							gettext_noop("Most webhook requests in flight at once to one endpoint."),
							gettext_noop("So that a slow endpoint cannot take every request slot of execlave.webhook_concurrency."),
							&execlave_webhook_endpoint_concurrency,
							8, 1, 1000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_timeout",
							gettext_noop("Timeout of one webhook request."),
							NULL,
							&execlave_webhook_timeout_ms,
							15000, 100, 300000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_lease",
							gettext_noop("How long a claimed delivery stays with the worker before it is due again."),
							gettext_noop("At least the request timeout plus 10 seconds is used."),
							&execlave_webhook_lease_ms,
							60000, 1000, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.webhook_poll_interval",
							gettext_noop("Longest sleep of the webhook worker between looks for due deliveries."),
							gettext_noop("Commits that create deliveries wake it at once; this is the fallback."),
							&execlave_webhook_poll_interval_ms,
							1000, 10, 600000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("execlave.webhook_retry_schedule",
							   gettext_noop("Delays before each retry of a failed webhook delivery."),
							   gettext_noop("Comma-separated durations; one attempt plus one per entry, then the delivery is dead. Each delay gets +-20% jitter."),
							   &execlave_webhook_retry_schedule,
							   "5s,5min,30min,2h,5h,10h,10h",
							   PGC_SIGHUP, 0,
							   check_retry_schedule, NULL, NULL);

	DefineCustomBoolVariable("execlave.webhook_allow_private",
							 gettext_noop("Allow webhook deliveries to loopback, private, link-local and other non-public addresses."),
							 gettext_noop("Off by default (SSRF guard); for tests and local development."),
							 &execlave_webhook_allow_private,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
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
