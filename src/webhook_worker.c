/*
 * webhook_worker.c
 *		The webhook worker: claims due deliveries, sends them signed with the
 *		libcurl multi interface, records the outcomes.
 *
 * One worker per cluster, for the database named by execlave.database.  Each
 * round:
 *
 *   1. claim (own transaction): up to execlave.webhook_batch_size due rows
 *      of execlave.deliveries whose endpoint is active, FOR UPDATE SKIP
 *      LOCKED; set status 'delivering', count the attempt, and push
 *      next_attempt_at to the end of a lease; read URL, secret and the event
 *      body; COMMIT.  A delivery whose lease passes (the worker died) is due
 *      again, so nothing claimed is ever lost;
 *   2. send (no transaction open): every claimed delivery concurrently,
 *      execlave.webhook_concurrency at a time, on one curl multi handle
 *      whose connection cache keeps connections alive between rounds;
 *   3. record (own transaction): one UPDATE for the whole batch, guarded by
 *      the attempt number so a stale outcome cannot overwrite a newer claim;
 *      endpoints that answered 410 are disabled.
 *
 * Between rounds it sleeps on its latch until a committing transaction that
 * wrote deliveries wakes it (webhooks.c), the next retry is due, or the poll
 * interval passes.  At start it makes every 'delivering' row due at once: as
 * the only worker, it knows no delivery is in flight.
 *
 * Standard Webhooks: webhook-id = "msg_" + delivery id (the same on every
 * retry), webhook-timestamp = Unix seconds at sending, webhook-signature =
 * "v1," + base64(HMAC-SHA256(key, id.timestamp.body)) with key the
 * base64-decoded part of the whsec_ secret (computed in webhook_sign.c).
 */
#include "execlave.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "netcheck.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "webhook_sign.h"

#include <curl/curl.h>

/* One delivery in flight. */
typedef struct Delivery
{
	int64		id;
	int32		attempt;		/* attempt number this claim made */
	char	   *webhook_id;
	char	   *url;
	char	   *secret;
	char	   *body;			/* NULL: the event no longer exists */
	/* outcome */
	long		code;			/* HTTP status, 0 when none */
	char	   *error;			/* NULL on success */
	double		latency_ms;
	double		retry_after_s;	/* from Retry-After, -1 when absent */
	const char *refused;		/* SSRF refusal reason, from the open-socket callback */
	char		snippet[128];	/* start of the response body */
	int			snippet_len;
	struct curl_slist *headers;
	CURL	   *easy;
} Delivery;

static CURLM *multi = NULL;
static ResourceOwner send_owner = NULL;	/* for HMAC contexts while no transaction is open */
static double *schedule = NULL;	/* retry delays in seconds */
static int	schedule_len = 0;

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

/* (Re)read the retry schedule into the worker's array. */
static void
load_schedule(void)
{
	static double buf[EXECLAVE_MAX_RETRIES];
	const char *bad = NULL;
	int			n = execlave_parse_schedule(execlave_webhook_retry_schedule, buf,
											EXECLAVE_MAX_RETRIES, &bad);

	if (n < 0)
		n = 0;					/* the GUC check hook refuses bad values */
	schedule = buf;
	schedule_len = n;
}

/* Run SQL with parameters in the current transaction; error on failure. */
static void
run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("execlave webhook worker: query failed (SPI code %d): %s", rc, sql)));
}

/* Start and end a worker transaction with SPI and a snapshot. */
static void
begin_tx(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_tx(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Is execlave installed in this database? */
static bool
extension_ready(void)
{
	bool		ready;

	begin_tx("execlave webhook worker: looking for the extension");
	run("SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'execlave'", 0, NULL, NULL, NULL,
		SPI_OK_SELECT);
	ready = SPI_processed > 0;
	end_tx();
	return ready;
}

/* At start: nothing is in flight, so every leased row is due now. */
static void
release_leases(void)
{
	begin_tx("execlave webhook worker: releasing leases of a previous run");
	run("UPDATE execlave.deliveries SET status = 'retrying', next_attempt_at = pg_catalog.clock_timestamp() "
		"WHERE status = 'delivering'", 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("execlave webhook worker: %llu deliveries in flight when the previous worker stopped are due again",
						(unsigned long long) SPI_processed)));
	end_tx();
}

static const char *claim_sql =
"WITH due AS ("
"  SELECT d.id FROM execlave.deliveries d"
"  JOIN execlave.webhooks w ON w.id = d.webhook_id AND w.active"
"  WHERE d.status IN ('pending', 'delivering', 'retrying')"
"    AND d.next_attempt_at <= pg_catalog.clock_timestamp()"
"  ORDER BY d.next_attempt_at"
"  LIMIT $1"
"  FOR UPDATE OF d SKIP LOCKED) "
"UPDATE execlave.deliveries d"
"  SET status = 'delivering', attempts = d.attempts + 1,"
"      last_attempt_at = pg_catalog.clock_timestamp(),"
"      next_attempt_at = pg_catalog.clock_timestamp() + $2 * interval '1 millisecond'"
"  FROM due, execlave.webhooks w"
"  WHERE d.id = due.id AND w.id = d.webhook_id "
"RETURNING d.id, d.attempts, w.id::text, w.url, w.secret,"
"  (SELECT pg_catalog.jsonb_build_object('type', e.event_type,"
"      'timestamp', pg_catalog.to_char(e.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
"      'data', e.data)::text"
"   FROM execlave.events e WHERE e.id = d.event_id)";

static const char *next_due_sql =
"SELECT EXTRACT(epoch FROM pg_catalog.min(d.next_attempt_at) - pg_catalog.clock_timestamp()) * 1000"
"  FROM execlave.deliveries d JOIN execlave.webhooks w ON w.id = d.webhook_id AND w.active"
"  WHERE d.status IN ('pending', 'delivering', 'retrying')";

/*
 * Claim due deliveries into *out (allocated in cxt); returns how many.  When
 * none, *sleep_ms says how long until the next one is due (capped by the
 * poll interval).
 */
static int
claim(MemoryContext cxt, Delivery **out, long *sleep_ms)
{
	Oid			types[2] = {INT4OID, INT8OID};
	Datum		values[2];
	int			n;
	int64		lease_ms = Max((int64) execlave_webhook_lease_ms,
							   (int64) execlave_webhook_timeout_ms + 10000);

	values[0] = Int32GetDatum(execlave_webhook_batch_size);
	values[1] = Int64GetDatum(lease_ms);
	begin_tx("execlave webhook worker: claiming deliveries");
	run(claim_sql, 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	n = (int) SPI_processed;
	*out = MemoryContextAllocZero(cxt, sizeof(Delivery) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Delivery   *d = &(*out)[i];
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		d->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		d->attempt = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		d->webhook_id = SPI_getvalue(tup, desc, 3);
		d->url = SPI_getvalue(tup, desc, 4);
		d->secret = SPI_getvalue(tup, desc, 5);
		d->body = SPI_getvalue(tup, desc, 6);	/* NULL if the event is gone */
		d->retry_after_s = -1;
		MemoryContextSwitchTo(old);
	}
	*sleep_ms = execlave_webhook_poll_interval_ms;
	if (n == 0)
	{
		run(next_due_sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				double		ms = DatumGetFloat8(DirectFunctionCall1(numeric_float8, v));

				if (ms < *sleep_ms)
					*sleep_ms = ms < 1 ? 1 : (long) ms;
			}
		}
	}
	end_tx();
	return n;
}

/* Discard the response body but keep its first bytes for error messages. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	Delivery   *d = (Delivery *) arg;
	size_t		n = size * nmemb;
	size_t		room = sizeof(d->snippet) - 1 - d->snippet_len;
	size_t		take = n < room ? n : room;

	for (size_t i = 0; i < take; i++)
	{
		unsigned char c = (unsigned char) ptr[i];

		d->snippet[d->snippet_len++] = (c >= ' ' && c < 0x7F) ? (char) c : ' ';
	}
	d->snippet[d->snippet_len] = '\0';
	return n;
}

/* SSRF guard on the address actually connected to. */
static curl_socket_t
opensocket_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *address)
{
	Delivery   *d = (Delivery *) arg;

	if (!execlave_webhook_allow_private)
	{
		const char *why = netcheck_refusal(&address->addr, address->addrlen);

		if (why != NULL)
		{
			d->refused = why;
			return CURL_SOCKET_BAD;
		}
	}
	return socket(address->family, address->socktype, address->protocol);
}

/* Sign and set up one request. */
static void
prepare(Delivery *d)
{
	char		ts[32];
	char		msgid[32];
	char		sig[WEBHOOK_SIGNATURE_LEN + 1];
	const char *why;

	snprintf(ts, sizeof(ts), "%ld", (long) time(NULL));
	snprintf(msgid, sizeof(msgid), "msg_" INT64_FORMAT, d->id);

	switch (webhook_sign(d->secret, msgid, ts, d->body, strlen(d->body), sig, sizeof(sig), &why))
	{
		case 0:
			break;
		case -1:
			d->error = psprintf("the endpoint's secret is not valid base64");
			return;
		default:
			elog(ERROR, "could not compute the webhook signature: %s", why);
	}

	d->headers = curl_slist_append(NULL, "Content-Type: application/json");
	d->headers = curl_slist_append(d->headers, "User-Agent: execlave-webhooks/" EXECLAVE_VERSION);
	d->headers = curl_slist_append(d->headers, "Expect:");
	d->headers = curl_slist_append(d->headers, psprintf("webhook-id: %s", msgid));
	d->headers = curl_slist_append(d->headers, psprintf("webhook-timestamp: %s", ts));
	d->headers = curl_slist_append(d->headers, psprintf("webhook-signature: %s", sig));

	d->easy = curl_easy_init();
	if (d->easy == NULL)
		elog(ERROR, "curl_easy_init failed");
	curl_easy_setopt(d->easy, CURLOPT_URL, d->url);
	curl_easy_setopt(d->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(d->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(d->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(d->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->easy, CURLOPT_TIMEOUT_MS, (long) execlave_webhook_timeout_ms);
	curl_easy_setopt(d->easy, CURLOPT_CONNECTTIMEOUT_MS, (long) Min(execlave_webhook_timeout_ms, 10000));
	curl_easy_setopt(d->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDS, d->body);
	curl_easy_setopt(d->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(d->body));
	curl_easy_setopt(d->easy, CURLOPT_HTTPHEADER, d->headers);
	curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d);
	curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(d->easy, CURLOPT_OPENSOCKETDATA, d);
	curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
}

/* Read the outcome of a finished transfer. */
static void
finish(Delivery *d, CURLcode result)
{
	curl_off_t	total_us = 0;
	curl_off_t	retry_after = -1;

	curl_easy_getinfo(d->easy, CURLINFO_TOTAL_TIME_T, &total_us);
	d->latency_ms = total_us / 1000.0;
	if (result != CURLE_OK)
	{
		if (d->refused != NULL)
			d->error = psprintf("refused: the address of %s is %s (execlave.webhook_allow_private is off)",
								d->url, d->refused);
		else
			d->error = psprintf("%s", curl_easy_strerror(result));
		d->code = 0;
	}
	else
	{
		curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &d->code);
		if (curl_easy_getinfo(d->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after >= 0
			&& (d->code == 429 || d->code == 502 || d->code == 503 || d->code == 504))
			d->retry_after_s = (double) retry_after;
		if (d->code < 200 || d->code > 299)
			d->error = d->snippet_len > 0 ? psprintf("HTTP %ld: %s", d->code, d->snippet)
				: psprintf("HTTP %ld", d->code);
	}
	curl_multi_remove_handle(multi, d->easy);
	curl_easy_cleanup(d->easy);
	d->easy = NULL;
	curl_slist_free_all(d->headers);
	d->headers = NULL;
}

/* Send every claimed delivery, execlave.webhook_concurrency at a time. */
static void
send_all(Delivery *ds, int n)
{
	int			next = 0;
	int			running = 0;

	pgstat_report_activity(STATE_RUNNING, "execlave webhook worker: sending");
	if (send_owner == NULL)
		send_owner = ResourceOwnerCreate(NULL, "execlave webhook worker");
	CurrentResourceOwner = send_owner;
	while (next < n || running > 0)
	{
		CURLMsg    *msg;
		int			left;
		int			still;

		while (next < n && running < execlave_webhook_concurrency)
		{
			Delivery   *d = &ds[next++];

			if (d->body == NULL)
			{
				d->error = pstrdup("the event no longer exists");
				continue;
			}
			prepare(d);
			if (d->easy == NULL)
				continue;		/* prepare() set an error */
			curl_multi_add_handle(multi, d->easy);
			running++;
		}
		curl_multi_perform(multi, &still);
		while ((msg = curl_multi_info_read(multi, &left)) != NULL)
		{
			Delivery   *d;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
			finish(d, msg->data.result);
			running--;
		}
		if (running > 0)
			curl_multi_poll(multi, NULL, 0, 100, NULL);
		if (!PostmasterIsAlive())
			proc_exit(1);
		CHECK_FOR_INTERRUPTS();
	}
	CurrentResourceOwner = NULL;
}

/* Seconds until the next attempt after a failed attempt number `attempt`. */
static double
retry_delay(const Delivery *d)
{
	double		base = schedule[Min(d->attempt, schedule_len) - 1];

	if (d->retry_after_s >= 0)
		return Min(d->retry_after_s, 86400.0);
	return base * (0.8 + 0.4 * pg_prng_double(&pg_global_prng_state));	/* +-20% jitter */
}

/* Record the outcomes of one batch, and disable endpoints that answered 410. */
static void
record(Delivery *ds, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n),
			   *attempts = palloc(sizeof(Datum) * n),
			   *statuses = palloc(sizeof(Datum) * n),
			   *delays = palloc(sizeof(Datum) * n),
			   *codes = palloc(sizeof(Datum) * n),
			   *errors = palloc(sizeof(Datum) * n),
			   *latencies = palloc(sizeof(Datum) * n);
	bool	   *code_nulls = palloc(sizeof(bool) * n),
			   *error_nulls = palloc(sizeof(bool) * n);
	Datum	   *gone_ids = palloc(sizeof(Datum) * n),
			   *gone_reasons = palloc(sizeof(Datum) * n);
	int			ngone = 0;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Oid			types[7] = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID,
	INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID};
	Datum		values[7];

	for (int i = 0; i < n; i++)
	{
		Delivery   *d = &ds[i];
		const char *status;
		double		delay = 0;

		if (d->error == NULL)
			status = "succeeded";
		else if (d->code == 410)
		{
			status = "dead";
			gone_ids[ngone] = CStringGetDatum(d->webhook_id);
			gone_reasons[ngone++] = CStringGetTextDatum(psprintf("the receiver answered 410 Gone (delivery %lld)",
																 (long long) d->id));
		}
		else if (d->body == NULL || d->attempt > schedule_len)
			status = "dead";
		else
		{
			status = "retrying";
			delay = retry_delay(d) * 1000.0;
		}
		ids[i] = Int64GetDatum(d->id);
		attempts[i] = Int32GetDatum(d->attempt);
		statuses[i] = CStringGetTextDatum(status);
		delays[i] = Float8GetDatum(delay);
		codes[i] = Int32GetDatum((int32) d->code);
		code_nulls[i] = d->code == 0;
		errors[i] = d->error ? CStringGetTextDatum(d->error) : (Datum) 0;
		error_nulls[i] = d->error == NULL;
		latencies[i] = Float8GetDatum(d->latency_ms);
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(attempts, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(statuses, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(delays, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_md_array(codes, code_nulls, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(errors, error_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(latencies, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	begin_tx("execlave webhook worker: recording outcomes");
	run("UPDATE execlave.deliveries d"
		"  SET status = o.status,"
		"      next_attempt_at = CASE WHEN o.status = 'retrying'"
		"          THEN pg_catalog.clock_timestamp() + o.delay_ms * interval '1 millisecond'"
		"          ELSE d.next_attempt_at END,"
		"      last_status_code = o.code, last_error = o.err, last_latency_ms = o.latency,"
		"      delivered_at = CASE WHEN o.status = 'succeeded' THEN pg_catalog.clock_timestamp() ELSE d.delivered_at END"
		"  FROM unnest($1, $2, $3, $4, $5, $6, $7) AS o(id, attempt, status, delay_ms, code, err, latency)"
		"  WHERE d.id = o.id AND d.status = 'delivering' AND d.attempts = o.attempt",
		7, types, values, NULL, SPI_OK_UPDATE);
	if (ngone > 0)
	{
		Oid			gtypes[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		gvalues[2];

		for (int i = 0; i < ngone; i++)
			gone_ids[i] = CStringGetTextDatum(DatumGetCString(gone_ids[i]));
		gvalues[0] = PointerGetDatum(construct_array(gone_ids, ngone, TEXTOID, -1, false, TYPALIGN_INT));
		gvalues[1] = PointerGetDatum(construct_array(gone_reasons, ngone, TEXTOID, -1, false, TYPALIGN_INT));
		run("UPDATE execlave.webhooks w SET active = false, disabled_reason = o.reason"
			"  FROM unnest($1, $2) AS o(id, reason) WHERE w.id = o.id::uuid AND w.active",
			2, gtypes, gvalues, NULL, SPI_OK_UPDATE);
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("execlave webhook worker: disabled %llu endpoint(s) that answered 410 Gone",
							(unsigned long long) SPI_processed)));
	}
	end_tx();
}

/* A multi handle; its connection cache keeps connections alive between rounds. */
static CURLM *
new_multi(void)
{
	CURLM	   *m = curl_multi_init();

	if (m == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("execlave webhook worker: could not create a libcurl multi handle")));
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long) execlave_webhook_concurrency * 2);
	return m;
}

/* Withdraw from shared memory on exit so backends stop waking a dead latch. */
static void
withdraw(int code, Datum arg)
{
	execlave_webhook_publish(NULL, InvalidOid);
}

/* Entry point of the webhook worker. */
void
execlave_webhook_worker_main(Datum arg)
{
	MemoryContext batch_cxt;
	bool		first = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	execlave_am_webhook_worker = true;

	BackgroundWorkerInitializeConnection(execlave_database, NULL, 0);
	pgstat_report_appname("execlave webhook worker");
	execlave_webhook_publish(MyLatch, MyDatabaseId);
	before_shmem_exit(withdraw, (Datum) 0);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("execlave webhook worker: could not initialise libcurl")));
	multi = new_multi();
	load_schedule();
	batch_cxt = AllocSetContextCreate(TopMemoryContext, "execlave webhook batch", ALLOCSET_DEFAULT_SIZES);
	ereport(LOG,
			(errmsg("execlave webhook worker started for database \"%s\"", execlave_database)));

	for (;;)
	{
		long		sleep_ms = execlave_webhook_poll_interval_ms;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			load_schedule();
			/*
			 * Drop kept-alive connections: they were vetted under the old
			 * settings (the SSRF guard runs only when a connection opens).
			 */
			curl_multi_cleanup(multi);
			multi = new_multi();
		}

		if (!extension_ready())
			sleep_ms = 10000;
		else
		{
			Delivery   *ds;
			int			n;

			if (first)
			{
				release_leases();
				first = false;
			}
			MemoryContextReset(batch_cxt);
			n = claim(batch_cxt, &ds, &sleep_ms);
			if (n > 0)
			{
				MemoryContext old = MemoryContextSwitchTo(batch_cxt);

				send_all(ds, n);
				record(ds, n);
				MemoryContextSwitchTo(old);
				continue;		/* more may be due already */
			}
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
