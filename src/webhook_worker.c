/*
 * webhook_worker.c
 *		The webhook worker: claims due deliveries, sends them signed with the
 *		libcurl multi interface, records the outcomes.
 *
 * One worker per cluster, for the database named by execlave.database.  It
 * holds a pool of at most execlave.webhook_batch_size deliveries, claimed and
 * not yet recorded, and keeps it moving:
 *
 *   1. claim (own transaction): when the pool is at most half full (not
 *      counting the deliveries waiting for their endpoint) and deliveries
 *      may be due (a backend woke the worker, the last claim was full, or
 *      the next retry is due), the due rows of execlave.deliveries whose
 *      endpoint is active, except those the pool already holds (and those
 *      skipped as locked, see below), at most
 *      endpoint_room() of each endpoint (the pool holds at most half its
 *      size of one endpoint) and the pool's free room in all,
 *      FOR UPDATE SKIP LOCKED; set status
 *      'delivering', count the attempt, and push next_attempt_at to the end
 *      of a lease; read URL, secret and the event body; COMMIT.  A delivery
 *      whose lease passes (the worker died) is due again, so nothing claimed
 *      is ever lost;
 *   2. send (no transaction open): claimed deliveries start in claim order,
 *      execlave.webhook_concurrency at a time and at most
 *      execlave.webhook_endpoint_concurrency to one endpoint, on one curl
 *      multi handle whose connection cache keeps connections alive;
 *   3. record (own transaction): the finished deliveries, in one UPDATE
 *      guarded by the attempt number so a stale outcome cannot overwrite a
 *      newer claim, once nothing else is in flight, half the pool has
 *      finished, no request has started for QUIET_MS (the ones in flight
 *      are slow), or the oldest outcome has waited RECORD_DELAY_MS;
 *      endpoints that answered 410 are disabled.
 *
 * So a slow endpoint holds at most its share of the request slots and half
 * the pool, and the rest keeps being claimed, sent and recorded around it.  When
 * the pool is empty the worker sleeps on its latch until a committing
 * transaction that wrote deliveries wakes it (webhooks.c), the next retry is
 * due, or the poll interval passes.  While requests are in flight it looks
 * at its latch every POLL_MS, or, when only slow ones are left, waits on its
 * latch and their sockets together.  At start it makes every 'delivering'
 * row due at once: as the only worker, it knows no delivery is in flight.
 *
 * Rights: the worker connects as the bootstrap superuser (a background
 * worker can connect only as a login role), pins search_path to
 * pg_catalog, pg_temp for its session (again after every SIGHUP), and runs
 * each transaction as the NOLOGIN role execlave_worker
 * (SetUserIdAndSecContext with SECURITY_LOCAL_USERID_CHANGE |
 * SECURITY_RESTRICTED_OPERATION, from the start of the transaction to after
 * its commit; an abort restores the superuser by itself).  The role holds
 * only the column privileges these statements need (granted by the 0.1.2
 * upgrade script); every function, operator and type in them is
 * schema-qualified, so nothing resolves outside pg_catalog and execlave
 * whatever the search_path.  Until the role exists and the extension is at
 * 0.1.2 or later, the worker waits as it does for a missing extension.
 *
 * Locked rows: a due row another transaction holds locked (an uncommitted
 * execlave_redeliver(), a SELECT ... FOR UPDATE) is skipped by the claim.
 * The worker remembers the rows it skipped and leaves them out of the claims
 * and of the next-due time until it is woken (a committed change to the
 * deliveries sets its latch) or a backoff passes (SKIP_BACKOFF_MS, doubled
 * up to execlave.webhook_poll_interval while rows stay locked); then it
 * tries them again.  So one open transaction costs a claim per backoff, not
 * a claim per millisecond, and a row whose locker rolls back is sent within
 * the poll interval.
 *
 * Standard Webhooks: webhook-id = "msg_" + delivery id (the same on every
 * retry), webhook-timestamp = Unix seconds at sending, webhook-signature =
 * "v1," + base64(HMAC-SHA256(key, id.timestamp.body)) with key the
 * base64-decoded part of the whsec_ secret (computed in webhook_sign.c).
 */

#include "webhook_worker.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/uuid.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include <curl/curl.h>

#include "execlave.h"
#include "netcheck.h"
#include "webhook_sign.h"
#include "webhooks.h"


/* How long a finished delivery may wait for others before it is recorded. */
#define RECORD_DELAY_MS 20
/* How often the worker looks at its latch while requests are in flight. */
#define POLL_MS 10
/*
 * No request started for this long: the ones in flight are slow.  Then the
 * finished ones are recorded at once, and the worker waits on its latch and
 * the requests' sockets together, so a new delivery is not kept waiting.
 */
#define QUIET_MS 5
/* The role the worker's transactions run as, and its session's search_path. */
#define WORKER_ROLE "execlave_worker"
#define WORKER_SEARCH_PATH "pg_catalog, pg_temp"
/* First wait before locked rows are tried again; it doubles up to the poll interval. */
#define SKIP_BACKOFF_MS 100
/* The statuses of a delivery that is due at next_attempt_at (the partial index's predicate). */
#define DUE_STATUS "d.status OPERATOR(pg_catalog.=) ANY ('{pending,delivering,retrying}'::pg_catalog.text[])"
/*
 * The same, and status 'delivering', said so that they do not imply the
 * partial index's predicate (equivalent under deliveries_status_check).
 * For the statements that find their rows by ctid (ctid = ANY (array): a
 * TID scan of exactly those rows, whatever the statistics say).  The
 * statistics of a queue table are always stale (the last ANALYZE saw the
 * previous batch delivered, so the planner expects one row due), and with a
 * join to the claimed rows or a clause the partial index serves, the
 * planner took a scan of every due row as the outer side of a nested loop
 * over the claimed ones: rows due x rows claimed per statement, up to a
 * second per claim with 20,000 rows due.
 */
#define NOT_DONE_STATUS "d.status OPERATOR(pg_catalog.<>) ALL ('{succeeded,dead}'::pg_catalog.text[])"
#define DELIVERING_STATUS "d.status OPERATOR(pg_catalog.<>) ALL ('{pending,retrying,succeeded,dead}'::pg_catalog.text[])"

typedef enum DeliveryState
{
	DELIVERY_CLAIMED,			/* claimed, not started */
	DELIVERY_SENDING,			/* request in flight */
	DELIVERY_DONE				/* outcome known, not recorded */
} DeliveryState;

/* An endpoint some held delivery goes to: how many the pool holds, and sends. */
#define WEBHOOK_ID_LEN 37		/* a uuid as text, with its NUL */
typedef struct Endpoint
{
	char		id[WEBHOOK_ID_LEN]; /* hash key */
	int			held;
	int			sending;
} Endpoint;

/* One delivery the worker holds; everything it points to is in its cxt. */
typedef struct Delivery
{
	MemoryContext cxt;
	DeliveryState state;
	Endpoint   *ep;
	int64		id;
	ItemPointerData tid;		/* where the claim left its row (the record finds it there) */
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
static MemoryContext pool_cxt = NULL;	/* parent of every Delivery's cxt */
static Delivery **pool = NULL;	/* the deliveries held, in claim order */
static int	pool_len = 0;
static int	pool_room = 0;
static HTAB *endpoints = NULL;	/* Endpoint by webhook id */
static int	claimed = 0;		/* how many held are DELIVERY_CLAIMED */
static int	blocked = 0;		/* of those, how many wait for their endpoint */
static int	sending = 0;		/* how many of them are DELIVERY_SENDING */
static int	done = 0;			/* how many are DELIVERY_DONE */
static TimestampTz first_done_at;	/* when the oldest unrecorded outcome came */
static TimestampTz last_start_at;	/* when the newest request started */
static ResourceOwner send_owner = NULL;	/* for HMAC contexts while no transaction is open */
static double *schedule = NULL;	/* retry delays in seconds */
static int	schedule_len = 0;
static Oid	saved_userid;		/* the session's user, while a transaction runs as WORKER_ROLE */
static int	saved_sec_context;

/*
 * Due rows the last claims skipped because another transaction holds them
 * locked: left out of claims and of the next-due time until skip_retry_at or
 * a wake-up.  At most execlave_webhook_batch_size are remembered; past that
 * (skip_full), the next-due time is taken as skip_retry_at.
 */
static int64 *skipped = NULL;
static int	nskipped = 0;
static int	skipped_room = 0;
static bool skip_full = false;
static TimestampTz skip_retry_at = 0;
static long skip_backoff_ms = SKIP_BACKOFF_MS;


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

/*
 * A statement the worker runs every round, parsed and planned once and kept
 * for the session (SPI_keepplan), as a generic plan: every statement finds
 * its rows through an index or by ctid whatever its parameters, so planning
 * it again for each call's values (a custom plan) buys nothing and cost 7% of
 * the worker's CPU.  The plan cache revalidates it by itself
 * after a change to what it depends on (an ALTER, DROP and CREATE EXTENSION,
 * a new index), and replans it if the search_path changed.
 */
typedef struct KeptPlan
{
	const char *sql;
	int			nargs;
	Oid			types[8];
	SPIPlanPtr	plan;
} KeptPlan;

/* Run a kept statement (preparing it at its first use); error on failure. */
static void
run_kept(KeptPlan *kp, Datum *values, const char *nulls, int expect)
{
	int			rc;

	if (kp->plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(kp->sql, kp->nargs, kp->types, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("execlave webhook worker: could not prepare a statement (SPI code %d): %s",
							SPI_result, kp->sql)));
		if (SPI_keepplan(plan) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("execlave webhook worker: could not keep a statement: %s", kp->sql)));
		kp->plan = plan;
	}
	rc = SPI_execute_plan(kp->plan, values, nulls, false, 0);
	if (rc != expect)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("execlave webhook worker: query failed (SPI code %d): %s", rc, kp->sql)));
}

/*
 * Log fmt (with why for its %s, and detail if not NULL) once per reason:
 * state holds the reason last logged.  why NULL forgets it; returns whether
 * a reason was held then (so the caller can say it is resolved).
 */
typedef struct LogOnce
{
	char		last[256];
} LogOnce;

static bool
log_once(LogOnce *state, const char *why, const char *fmt, const char *detail)
{
	if (why == NULL)
	{
		bool		held = state->last[0] != '\0';

		state->last[0] = '\0';
		return held;
	}
	if (strcmp(state->last, why) == 0)
		return true;
	strlcpy(state->last, why, sizeof(state->last));
	ereport(LOG,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg_internal(fmt, why),
			 detail ? errdetail_internal("%s", detail) : 0));
	return true;
}

/* Log, once per reason, why the statements run as the superuser (NULL: they no longer do). */
static void
note_superuser(const char *why)
{
	static LogOnce state;

	(void) log_once(&state, why, "execlave webhook worker: running its statements as the bootstrap superuser: %s",
					"The search_path is pinned and every name qualified all the same.");
}

/*
 * Run the worker's statements as WORKER_ROLE?  Only once the database's
 * execlave grants it its privileges (0.1.2 on) and the role exists: before
 * that, a database not yet updated still gets its deliveries, its
 * statements then running as the bootstrap superuser (still with the pinned
 * search_path and every name qualified).  Set by extension_ready().
 */
static bool use_worker_role = false;

/*
 * Start a worker transaction, with SPI and a snapshot, running as
 * WORKER_ROLE when use_worker_role is set.  If the role has gone meanwhile:
 * an error (the next extension_ready() notices).
 */
static void
begin_tx(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	GetUserIdAndSecContext(&saved_userid, &saved_sec_context);
	if (use_worker_role)
	{
		Oid			role = get_role_oid(WORKER_ROLE, true);

		if (!OidIsValid(role))
		{
			use_worker_role = false;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("execlave webhook worker: role \"%s\" does not exist", WORKER_ROLE)));
		}
		SetUserIdAndSecContext(role, saved_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
	}
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* Commit a worker transaction and become the session's user again. */
static void
end_tx(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	SetUserIdAndSecContext(saved_userid, saved_sec_context);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Log why the worker waits, once per reason (NULL: it no longer waits). */
static void
note_waiting(const char *why)
{
	static LogOnce state;

	if (log_once(&state, why, "execlave webhook worker: waiting: %s", NULL) && why == NULL)
		ereport(LOG,
				(errcode(ERRCODE_SUCCESSFUL_COMPLETION),
				 errmsg("execlave webhook worker: delivering for database \"%s\"", execlave_database)));
}

/*
 * Can the worker deliver in this database (is execlave installed)?  Also
 * decides whether its statements run as WORKER_ROLE: when the role exists
 * and the extension is at a version that grants it its privileges (0.1.2
 * on); a database still at 0.1.0 or 0.1.1 is served as the bootstrap
 * superuser until ALTER EXTENSION execlave UPDATE, and the log says so.
 */
static bool
extension_ready(void)
{
	const char *version = NULL;
	bool		role_exists;

	use_worker_role = false;
	begin_tx("execlave webhook worker: looking for the extension");
	role_exists = OidIsValid(get_role_oid(WORKER_ROLE, true));
	run("SELECT e.extversion FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'execlave'",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		version = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (version == NULL)
		note_waiting(psprintf("execlave is not installed in database \"%s\"", execlave_database));
	else
	{
		bool		granted = strcmp(version, "0.1.0") != 0 && strcmp(version, "0.1.1") != 0;

		note_waiting(NULL);
		use_worker_role = granted && role_exists;
		if (!granted)
			note_superuser(psprintf("execlave %s in database \"%s\" predates the role \"" WORKER_ROLE "\"'s privileges; run ALTER EXTENSION execlave UPDATE",
									version, execlave_database));
		else if (!role_exists)
			note_superuser("the role \"" WORKER_ROLE "\" does not exist");
		else
			note_superuser(NULL);
	}
	end_tx();
	return version != NULL;
}

/* At start: nothing is in flight, so every leased row is due now. */
static void
release_leases(void)
{
	begin_tx("execlave webhook worker: releasing leases of a previous run");
	run("UPDATE execlave.deliveries SET status = 'retrying', next_attempt_at = pg_catalog.clock_timestamp() "
		"WHERE status OPERATOR(pg_catalog.=) 'delivering'", 0, NULL, NULL, NULL, SPI_OK_UPDATE);
	if (SPI_processed > 0)
		ereport(LOG,
				(errmsg("execlave webhook worker: %llu deliveries in flight when the previous worker stopped are due again",
						(unsigned long long) SPI_processed)));
	end_tx();
}

/*
 * Each active endpoint's due deliveries in time order, except those of $3
 * (held, or skipped as locked), at most its room ($4 and $5, $6 for an
 * endpoint the pool holds nothing of), then the earliest $1 of those (cand),
 * locked (due); due is claimed with a lease of $2.  The index
 * deliveries_webhook_due_idx serves the per-endpoint scans; "due" is
 * next_attempt_at <= $7 (now, a parameter so that it bounds the index scan:
 * clock_timestamp() is volatile and would only filter, leaving the scan to
 * walk every leased row).  Returns the claimed rows, then the id of each
 * candidate another transaction holds locked (SKIP LOCKED left it out) with
 * NULL in the other columns.
 *
 * Every name is schema-qualified (OPERATOR(pg_catalog.x) for operators, which
 * all take the same precedence: hence the parentheses), so the statement
 * means the same whatever the search_path.
 */
static KeptPlan claim_plan = {
	.nargs = 7,
	.types = {INT4OID, INTERVALOID, INT8ARRAYOID, UUIDARRAYOID, INT4ARRAYOID, INT4OID, TIMESTAMPTZOID},
	.sql =
"WITH room AS ("
"  SELECT w.id AS webhook_id, COALESCE(r.n, $6) AS n"
"  FROM execlave.webhooks w LEFT JOIN ROWS FROM (pg_catalog.unnest($4::pg_catalog.uuid[]),"
"      pg_catalog.unnest($5::pg_catalog.int4[])) AS r(id, n) ON r.id OPERATOR(pg_catalog.=) w.id"
"  WHERE w.active AND COALESCE(r.n, $6) OPERATOR(pg_catalog.>) 0), "
"cand AS ("
"  SELECT c.id FROM room CROSS JOIN LATERAL ("
"      SELECT x.id, x.next_attempt_at, pg_catalog.row_number() OVER (ORDER BY x.next_attempt_at) AS rn"
"      FROM (SELECT d.id, d.next_attempt_at FROM execlave.deliveries d"
"            WHERE d.webhook_id OPERATOR(pg_catalog.=) room.webhook_id AND " DUE_STATUS
"              AND d.next_attempt_at OPERATOR(pg_catalog.<=) $7 AND d.id OPERATOR(pg_catalog.<>) ALL ($3)"
"            ORDER BY d.next_attempt_at LIMIT $1) x) c"
"  WHERE c.rn OPERATOR(pg_catalog.<=) room.n"
"  ORDER BY c.next_attempt_at LIMIT $1), "
"due AS ("
"  SELECT d.id, d.ctid FROM execlave.deliveries d WHERE d.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT cand.id FROM cand))"
"  FOR UPDATE OF d SKIP LOCKED), "
"claimed AS ("
"  UPDATE execlave.deliveries d"
"  SET status = 'delivering', attempts = d.attempts OPERATOR(pg_catalog.+) 1,"
"      last_attempt_at = pg_catalog.clock_timestamp(),"
"      next_attempt_at = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) $2"
"  FROM execlave.webhooks w"
"  WHERE d.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT due.ctid FROM due))"
"    AND w.id OPERATOR(pg_catalog.=) d.webhook_id AND " NOT_DONE_STATUS
"  RETURNING d.id, d.attempts, w.id::pg_catalog.text AS webhook_id, w.url, w.secret,"
"    (SELECT pg_catalog.jsonb_build_object('type', e.event_type,"
"        'timestamp', pg_catalog.to_char(pg_catalog.timezone('UTC', e.created_at), 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
"        'data', e.data)::pg_catalog.text"
"     FROM execlave.events e WHERE e.id OPERATOR(pg_catalog.=) d.event_id) AS body, d.ctid) "
"SELECT c.id, c.attempts, c.webhook_id, c.url, c.secret, c.body, c.ctid FROM claimed c "
"UNION ALL "
"SELECT cand.id, NULL, NULL, NULL, NULL, NULL, NULL FROM cand"
"  WHERE NOT EXISTS (SELECT FROM due WHERE due.id OPERATOR(pg_catalog.=) cand.id)"
};

/*
 * Seconds until the next delivery is due, of those not in $1 (held, or
 * skipped as locked), of an active endpoint not in $2 (those without room):
 * the earliest of each endpoint's first row in deliveries_webhook_due_idx
 * that is not excluded.  The rows the pool holds are leased, so they sort
 * last in that index: each endpoint's scan stops at its first row, and the
 * cost does not grow with the rows due (a scan of every due row, each
 * compared with every held id, cost 20 ms with 20,000 rows due).
 */
static KeptPlan next_due_plan = {
	.nargs = 2,
	.types = {INT8ARRAYOID, UUIDARRAYOID},
	.sql =
"SELECT pg_catalog.date_part('epoch', pg_catalog.min(n.t) OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp())"
"  FROM execlave.webhooks w CROSS JOIN LATERAL ("
"      SELECT d.next_attempt_at AS t FROM execlave.deliveries d"
"      WHERE d.webhook_id OPERATOR(pg_catalog.=) w.id AND " DUE_STATUS
"        AND d.id OPERATOR(pg_catalog.<>) ALL ($1)"
"      ORDER BY d.next_attempt_at LIMIT 1) n"
"  WHERE w.active AND w.id OPERATOR(pg_catalog.<>) ALL ($2::pg_catalog.uuid[])"
};

/*
 * How many deliveries of one endpoint the pool may hold: half the pool (at
 * least its share of the request slots), so that the deliveries of a slow
 * endpoint, waiting for its slots, leave the other half to the others.
 */
static int
endpoint_limit(void)
{
	return Max(execlave_webhook_endpoint_concurrency, execlave_webhook_batch_size / 2);
}

static int
endpoint_room(const Endpoint *ep)
{
	return Max(0, endpoint_limit() - ep->held);
}

/*
 * The endpoints the pool holds deliveries of, as uuid[] *ids with their room
 * int4[] *rooms, and (unless full is NULL) those without room as uuid[] *full.
 */
static void
endpoint_rooms(Datum *ids, Datum *rooms, Datum *full)
{
	long		n = hash_get_num_entries(endpoints);
	Datum	   *id = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *room = palloc(sizeof(Datum) * Max(n, 1));
	Datum	   *none = palloc(sizeof(Datum) * Max(n, 1));
	int			k = 0;
	int			nnone = 0;
	HASH_SEQ_STATUS seq;
	Endpoint   *ep;

	hash_seq_init(&seq, endpoints);
	while ((ep = hash_seq_search(&seq)) != NULL)
	{
		Datum		u = DirectFunctionCall1(uuid_in, CStringGetDatum(ep->id));
		int			r = endpoint_room(ep);

		id[k] = u;
		room[k++] = Int32GetDatum(r);
		if (r == 0)
			none[nnone++] = u;
	}
	*ids = PointerGetDatum(construct_array(id, k, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	*rooms = PointerGetDatum(construct_array(room, k, INT4OID, 4, true, TYPALIGN_INT));
	if (full != NULL)
		*full = PointerGetDatum(construct_array(none, nnone, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/* The endpoint of webhook id, counted in the pool. */
static Endpoint *
endpoint_hold(const char *id)
{
	char		key[WEBHOOK_ID_LEN];
	bool		found;
	Endpoint   *ep;

	strlcpy(key, id, sizeof(key));
	ep = hash_search(endpoints, key, HASH_ENTER, &found);
	if (!found)
	{
		ep->held = 0;
		ep->sending = 0;
	}
	ep->held++;
	return ep;
}

/*
 * The ids of the deliveries held and of the rows skipped as locked, as an
 * int8[] (allocated in the current context): the claims leave them out.
 */
static Datum
excluded_ids(void)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(pool_len + nskipped, 1));
	int			k = 0;

	for (int i = 0; i < pool_len; i++)
		ids[k++] = Int64GetDatum(pool[i]->id);
	for (int i = 0; i < nskipped; i++)
		ids[k++] = Int64GetDatum(skipped[i]);
	return PointerGetDatum(construct_array(ids, k, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Remember a row the claim skipped because it is locked (up to the batch size). */
static void
remember_skipped(int64 id)
{
	if (nskipped >= execlave_webhook_batch_size)
	{
		skip_full = true;
		return;
	}
	if (nskipped == skipped_room)
	{
		skipped_room = Max(16, skipped_room * 2);
		skipped = skipped == NULL ? MemoryContextAlloc(pool_cxt, sizeof(int64) * skipped_room)
			: repalloc(skipped, sizeof(int64) * skipped_room);
	}
	skipped[nskipped++] = id;
}

/* Try the rows skipped as locked again at the next claim. */
static void
forget_skipped(void)
{
	nskipped = 0;
	skip_full = false;
}

/*
 * Claim up to `room` due deliveries into the pool; returns how many.  When
 * fewer than `room`, *sleep_ms says how long until the next one not held
 * and not skipped as locked is due, or until the skipped ones are tried
 * again (capped by the poll interval).
 *
 * The held ones are excluded: a delivery waiting for a request slot behind a
 * slow endpoint may outlive its lease, and must not be claimed twice.  So
 * are the ones skipped as locked since the last wake-up or backoff.
 */
static int
claim(int room, long *sleep_ms)
{
	Datum		values[7];
	int			n = 0;
	int			nlocked = 0;
	bool		tried_all = nskipped == 0 && !skip_full;
	int64		lease_ms = Max((int64) execlave_webhook_lease_ms,
							   (int64) execlave_webhook_timeout_ms + 10000);
	Interval   *lease;
	TimestampTz now;

	begin_tx("execlave webhook worker: claiming deliveries");
	lease = palloc0(sizeof(Interval));
	lease->time = lease_ms * 1000;
	values[0] = Int32GetDatum(room);
	values[1] = IntervalPGetDatum(lease);
	values[2] = excluded_ids();
	endpoint_rooms(&values[3], &values[4], NULL);
	values[5] = Int32GetDatum(endpoint_limit());
	values[6] = TimestampTzGetDatum(GetCurrentTimestamp());
	run_kept(&claim_plan, values, NULL, SPI_OK_SELECT);
	if (pool_len + SPI_processed > pool_room)
	{
		pool_room = Max(pool_len + (int) SPI_processed, pool_room * 2);
		pool = pool == NULL ? MemoryContextAlloc(pool_cxt, sizeof(Delivery *) * pool_room)
			: repalloc(pool, sizeof(Delivery *) * pool_room);
	}
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext cxt;
		MemoryContext old;
		Delivery   *d;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int32		attempt = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));

		if (isnull)				/* a candidate another transaction holds locked */
		{
			remember_skipped(id);
			nlocked++;
			continue;
		}
		cxt = AllocSetContextCreate(pool_cxt, "execlave webhook delivery", ALLOCSET_SMALL_SIZES);
		old = MemoryContextSwitchTo(cxt);
		d = palloc0(sizeof(Delivery));
		d->cxt = cxt;
		d->state = DELIVERY_CLAIMED;
		d->id = id;
		d->attempt = attempt;
		d->webhook_id = SPI_getvalue(tup, desc, 3);
		d->url = SPI_getvalue(tup, desc, 4);
		d->secret = SPI_getvalue(tup, desc, 5);
		d->body = SPI_getvalue(tup, desc, 6);	/* NULL if the event is gone */
		d->retry_after_s = -1;
		d->tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tup, desc, 7, &isnull));
		MemoryContextSwitchTo(old);
		d->ep = endpoint_hold(d->webhook_id);
		pool[pool_len++] = d;
		claimed++;
		n++;
	}

	/*
	 * Locked rows found by a claim that tried every row: they are tried again
	 * after the backoff, which doubles while rows stay locked; a claim that
	 * tried every row and found none locked starts the backoff afresh.
	 */
	now = GetCurrentTimestamp();
	if (tried_all && nlocked > 0)
	{
		skip_retry_at = TimestampTzPlusMilliseconds(now, Min(skip_backoff_ms, execlave_webhook_poll_interval_ms));
		skip_backoff_ms = Min(skip_backoff_ms * 2, execlave_webhook_poll_interval_ms);
	}
	else if (tried_all)
		skip_backoff_ms = Min(SKIP_BACKOFF_MS, execlave_webhook_poll_interval_ms);

	*sleep_ms = execlave_webhook_poll_interval_ms;
	if (nskipped > 0 || skip_full)
	{
		long		left = skip_retry_at > now ? (long) ((skip_retry_at - now + 999) / 1000) : 1;

		*sleep_ms = Min(*sleep_ms, Max(left, 1));
	}
	/* past the remembered ones, locked rows are not told apart: wait for the retry */
	if (n < room && !skip_full)
	{
		values[0] = excluded_ids();
		endpoint_rooms(&values[3], &values[4], &values[1]);
		run_kept(&next_due_plan, values, NULL, SPI_OK_SELECT);
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		v = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				double		ms = DatumGetFloat8(v) * 1000.0;

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

/*
 * Easy handles of finished requests, reset (curl_easy_reset: no option
 * left), for the next requests: a handle costs a dozen allocations to make
 * and to free.  Connections are not in them but in the multi handle's
 * cache; the spares are dropped with it all the same (after a SIGHUP).
 */
#define MAX_SPARE_EASY 64
static CURL *spare_easy[MAX_SPARE_EASY];
static int	nspare_easy = 0;

static CURL *
get_easy(void)
{
	CURL	   *e = nspare_easy > 0 ? spare_easy[--nspare_easy] : curl_easy_init();

	if (e == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("execlave webhook worker: could not create a libcurl easy handle")));
	return e;
}

static void
put_easy(CURL *e)
{
	if (nspare_easy < MAX_SPARE_EASY)
	{
		curl_easy_reset(e);
		spare_easy[nspare_easy++] = e;
	}
	else
		curl_easy_cleanup(e);
}

static void
drop_spare_easy(void)
{
	while (nspare_easy > 0)
		curl_easy_cleanup(spare_easy[--nspare_easy]);
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

	d->easy = get_easy();
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
	put_easy(d->easy);
	d->easy = NULL;
	curl_slist_free_all(d->headers);
	d->headers = NULL;
}

/* Mark a delivery finished: its outcome waits in the pool to be recorded. */
static void
mark_done(Delivery *d)
{
	d->state = DELIVERY_DONE;
	if (done++ == 0)
		first_done_at = GetCurrentTimestamp();
}

/*
 * Start claimed deliveries, in claim order, while request slots are free
 * (execlave.webhook_concurrency), each endpoint taking at most
 * execlave.webhook_endpoint_concurrency of them; count the ones that wait
 * for their endpoint in `blocked`.  One that cannot be sent (its event is
 * gone, its secret is bad) is done at once.
 */
static void
start_claimed(void)
{
	int			seen = 0;
	int			waiting = claimed;

	blocked = 0;
	if (claimed == 0)
		return;
	CurrentResourceOwner = send_owner;	/* for the HMAC contexts */
	for (int i = 0; i < pool_len && seen < waiting; i++)
	{
		Delivery   *d = pool[i];
		MemoryContext old;

		if (d->state != DELIVERY_CLAIMED)
			continue;
		seen++;
		if (d->ep->sending >= execlave_webhook_endpoint_concurrency)
		{
			blocked++;
			continue;
		}
		if (sending >= execlave_webhook_concurrency)
			continue;
		claimed--;
		old = MemoryContextSwitchTo(d->cxt);
		if (d->body == NULL)
			d->error = pstrdup("the event no longer exists");
		else
			prepare(d);
		MemoryContextSwitchTo(old);
		if (d->easy == NULL)
		{
			mark_done(d);		/* prepare() or the check above set an error */
			continue;
		}
		curl_multi_add_handle(multi, d->easy);
		d->state = DELIVERY_SENDING;
		d->ep->sending++;
		sending++;
		last_start_at = GetCurrentTimestamp();
	}
	CurrentResourceOwner = NULL;
}

/* Let libcurl move the requests in flight on, and collect the finished ones. */
static void
progress(void)
{
	CURLMsg    *msg;
	int			left;
	int			still;

	pgstat_report_activity(STATE_RUNNING, "execlave webhook worker: sending");
	curl_multi_perform(multi, &still);
	while ((msg = curl_multi_info_read(multi, &left)) != NULL)
	{
		Delivery   *d;
		MemoryContext old;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &d);
		old = MemoryContextSwitchTo(d->cxt);
		finish(d, msg->data.result);
		MemoryContextSwitchTo(old);
		sending--;
		d->ep->sending--;
		mark_done(d);
	}
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

/*
 * The record: each outcome's row is found where the claim left it (ctid =
 * $8, a TID scan whatever the statistics say, so recording n outcomes costs
 * n row fetches and never a scan of the deliveries due), and updated only if
 * it is still the same delivery in the same attempt (id, status and attempt
 * number), so a stale outcome cannot overwrite a newer claim.  A row changed
 * since the claim (execlave_redeliver, a lease taken over) has moved and is
 * no longer at that ctid: its outcome is dropped, as the guard would.
 */
static KeptPlan record_plan = {
	.nargs = 8,
	.types = {INT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, TEXTARRAYOID,
	FLOAT8ARRAYOID, TIDARRAYOID},
	.sql =
"UPDATE execlave.deliveries d"
"  SET status = o.status,"
"      next_attempt_at = CASE WHEN o.status OPERATOR(pg_catalog.=) 'retrying'"
"          THEN pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)"
"               (o.delay_ms OPERATOR(pg_catalog.*) '1 millisecond'::pg_catalog.interval)"
"          ELSE d.next_attempt_at END,"
"      last_status_code = o.code, last_error = o.err, last_latency_ms = o.latency,"
"      delivered_at = CASE WHEN o.status OPERATOR(pg_catalog.=) 'succeeded'"
"          THEN pg_catalog.clock_timestamp() ELSE d.delivered_at END"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3), pg_catalog.unnest($4),"
"      pg_catalog.unnest($5), pg_catalog.unnest($6), pg_catalog.unnest($7), pg_catalog.unnest($8))"
"      AS o(id, attempt, status, delay_ms, code, err, latency, tid)"
"  WHERE d.ctid OPERATOR(pg_catalog.=) ANY ($8) AND d.ctid OPERATOR(pg_catalog.=) o.tid AND d.id OPERATOR(pg_catalog.=) o.id"
"    AND " DELIVERING_STATUS " AND d.attempts OPERATOR(pg_catalog.=) o.attempt"
};

/* Endpoints that answered 410 Gone are disabled. */
static KeptPlan gone_plan = {
	.nargs = 2,
	.types = {TEXTARRAYOID, TEXTARRAYOID},
	.sql =
"UPDATE execlave.webhooks w SET active = false, disabled_reason = o.reason"
"  FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) AS o(id, reason)"
"  WHERE w.id OPERATOR(pg_catalog.=) o.id::pg_catalog.uuid AND w.active"
};

/* The outcome texts of record(), made once. */
static Datum status_text[3];	/* succeeded, retrying, dead */

/* Record the given outcomes, and disable endpoints that answered 410. */
static void
record(Delivery **ds, int n)
{
	Datum	   *ids = palloc(sizeof(Datum) * n),
			   *attempts = palloc(sizeof(Datum) * n),
			   *statuses = palloc(sizeof(Datum) * n),
			   *delays = palloc(sizeof(Datum) * n),
			   *codes = palloc(sizeof(Datum) * n),
			   *errors = palloc(sizeof(Datum) * n),
			   *latencies = palloc(sizeof(Datum) * n),
			   *tids = palloc(sizeof(Datum) * n);
	bool	   *code_nulls = palloc(sizeof(bool) * n),
			   *error_nulls = palloc(sizeof(bool) * n);
	Datum	   *gone_ids = palloc(sizeof(Datum) * n),
			   *gone_reasons = palloc(sizeof(Datum) * n);
	int			ngone = 0;
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[8];

	if (status_text[0] == (Datum) 0)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		status_text[0] = CStringGetTextDatum("succeeded");
		status_text[1] = CStringGetTextDatum("retrying");
		status_text[2] = CStringGetTextDatum("dead");
		MemoryContextSwitchTo(old);
	}
	for (int i = 0; i < n; i++)
	{
		Delivery   *d = ds[i];
		Datum		status;
		double		delay = 0;

		if (d->error == NULL)
			status = status_text[0];
		else if (d->code == 410)
		{
			status = status_text[2];
			gone_ids[ngone] = CStringGetTextDatum(d->webhook_id);
			gone_reasons[ngone++] = CStringGetTextDatum(psprintf("the receiver answered 410 Gone (delivery %lld)",
																 (long long) d->id));
		}
		else if (d->body == NULL || d->attempt > schedule_len)
			status = status_text[2];
		else
		{
			status = status_text[1];
			delay = retry_delay(d) * 1000.0;
		}
		ids[i] = Int64GetDatum(d->id);
		attempts[i] = Int32GetDatum(d->attempt);
		statuses[i] = status;
		delays[i] = Float8GetDatum(delay);
		codes[i] = Int32GetDatum((int32) d->code);
		code_nulls[i] = d->code == 0;
		errors[i] = d->error ? CStringGetTextDatum(d->error) : (Datum) 0;
		error_nulls[i] = d->error == NULL;
		latencies[i] = Float8GetDatum(d->latency_ms);
		tids[i] = PointerGetDatum(&d->tid);
	}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(attempts, n, INT4OID, 4, true, TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(statuses, n, TEXTOID, -1, false, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(delays, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[4] = PointerGetDatum(construct_md_array(codes, code_nulls, 1, dims, lbs, INT4OID, 4, true, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_md_array(errors, error_nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(latencies, n, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_array(tids, n, TIDOID, sizeof(ItemPointerData), false, TYPALIGN_SHORT));

	begin_tx("execlave webhook worker: recording outcomes");
	run_kept(&record_plan, values, NULL, SPI_OK_UPDATE);
	if (ngone > 0)
	{
		Datum		gvalues[2];

		gvalues[0] = PointerGetDatum(construct_array(gone_ids, ngone, TEXTOID, -1, false, TYPALIGN_INT));
		gvalues[1] = PointerGetDatum(construct_array(gone_reasons, ngone, TEXTOID, -1, false, TYPALIGN_INT));
		run_kept(&gone_plan, gvalues, NULL, SPI_OK_UPDATE);
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("execlave webhook worker: disabled %llu endpoint(s) that answered 410 Gone",
							(unsigned long long) SPI_processed)));
	}
	end_tx();
}

/*
 * Record the finished deliveries in one transaction and let them go from the
 * pool, which keeps its claim order.
 */
static void
record_done(MemoryContext scratch)
{
	MemoryContext old = MemoryContextSwitchTo(scratch);
	Delivery  **ds = palloc(sizeof(Delivery *) * done);
	int			n = 0;
	int			kept = 0;

	for (int i = 0; i < pool_len; i++)
	{
		if (pool[i]->state == DELIVERY_DONE)
			ds[n++] = pool[i];
		else
			pool[kept++] = pool[i];
	}
	Assert(n == done);
	record(ds, n);
	for (int i = 0; i < n; i++)
	{
		Endpoint   *ep = ds[i]->ep;

		if (--ep->held == 0)
			hash_search(endpoints, ep->id, HASH_REMOVE, NULL);
		MemoryContextDelete(ds[i]->cxt);
	}
	pool_len = kept;
	done = 0;
	MemoryContextSwitchTo(old);
	MemoryContextReset(scratch);
}

/* Are the requests in flight all slow ones (none started for QUIET_MS)? */
static bool
quiet(TimestampTz now)
{
	return sending > 0 && claimed == blocked && TimestampDifferenceExceeds(last_start_at, now, QUIET_MS);
}

/* Is it time to record the finished deliveries? */
static bool
record_due(void)
{
	TimestampTz now;

	if (done == 0)
		return false;
	if (done == pool_len || done * 2 >= execlave_webhook_batch_size)
		return true;
	now = GetCurrentTimestamp();
	return quiet(now) || TimestampDifferenceExceeds(first_done_at, now, RECORD_DELAY_MS);
}

/*
 * Wait up to timeout_ms for the latch or for a socket of a request in flight.
 * Only while the requests in flight are slow ones (building the wait set
 * costs a few system calls per socket); when libcurl gives no sockets to
 * wait on, a short curl_multi_poll() does.
 */
static void
wait_quietly(long timeout_ms)
{
	fd_set		rd,
				wr,
				ex;
	int			maxfd = -1;
	long		curl_ms = -1;
	int			nfds = 0;
	WaitEventSet *set;
	WaitEvent	event;

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_ZERO(&ex);
	if (curl_multi_fdset(multi, &rd, &wr, &ex, &maxfd) != CURLM_OK || maxfd < 0 || maxfd >= FD_SETSIZE)
	{
		curl_multi_poll(multi, NULL, 0, POLL_MS, NULL);
		return;
	}
	if (curl_multi_timeout(multi, &curl_ms) == CURLM_OK && curl_ms >= 0 && curl_ms < timeout_ms)
		timeout_ms = curl_ms;
	for (int fd = 0; fd <= maxfd; fd++)
		if (FD_ISSET(fd, &rd) || FD_ISSET(fd, &wr))
			nfds++;
	set = CreateWaitEventSet(CurrentMemoryContext, nfds + 2);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int fd = 0; fd <= maxfd; fd++)
	{
		uint32		events = (FD_ISSET(fd, &rd) ? WL_SOCKET_READABLE : 0) |
			(FD_ISSET(fd, &wr) ? WL_SOCKET_WRITEABLE : 0);

		if (events != 0)
			AddWaitEventToSet(set, events, fd, NULL, NULL);
	}
	(void) WaitEventSetWait(set, timeout_ms, &event, 1, PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);
}

/* A multi handle; its connection cache keeps connections alive. */
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

/*
 * Resolve names in pg_catalog only for the rest of the session (pg_temp
 * last, so no temporary object can shadow anything), and plan without
 * sequential scans; a reload of the configuration files cannot undo an
 * override, but the worker pins them again after each all the same.
 */
static void
pin_search_path(void)
{
	SetConfigOption("search_path", WORKER_SEARCH_PATH, PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * No sequential scans in the worker's plans: each of its statements
	 * reaches its rows by index or ctid, and a kept generic plan made while
	 * execlave.deliveries was nearly empty (a seq scan is the cheapest
	 * there) would otherwise scan the whole queue at every claim once it
	 * has filled (a seq scan filtering every row by = ANY of the claimed
	 * ids: 100 ms a claim with 20,000 rows due).
	 */
	SetConfigOption("enable_seqscan", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* ... which makes every plan's cost look huge: no JIT compiling for that */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

/* Entry point of the webhook worker. */
void
execlave_webhook_worker_main(Datum arg)
{
	MemoryContext scratch;
	bool		first = true;
	bool		renew_multi = false;
	bool		may_be_due = true;	/* claim without waiting for next_claim */
	TimestampTz next_claim = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	execlave_am_webhook_worker = true;

	BackgroundWorkerInitializeConnection(execlave_database, NULL, 0);
	pin_search_path();
	pgstat_report_appname("execlave webhook worker");
	execlave_webhook_publish(MyLatch, MyDatabaseId);
	before_shmem_exit(withdraw, (Datum) 0);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("execlave webhook worker: could not initialise libcurl")));
	multi = new_multi();
	load_schedule();
	send_owner = ResourceOwnerCreate(NULL, "execlave webhook worker");
	pool_cxt = AllocSetContextCreate(TopMemoryContext, "execlave webhook pool", ALLOCSET_DEFAULT_SIZES);
	scratch = AllocSetContextCreate(TopMemoryContext, "execlave webhook scratch", ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL		ctl;

		ctl.keysize = WEBHOOK_ID_LEN;
		ctl.entrysize = sizeof(Endpoint);
		ctl.hcxt = pool_cxt;
		endpoints = hash_create("execlave webhook endpoints", 64, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	ereport(LOG,
			(errmsg("execlave webhook worker started for database \"%s\"", execlave_database)));

	for (;;)
	{
		long		sleep_ms = execlave_webhook_poll_interval_ms;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			pin_search_path();
			load_schedule();
			/*
			 * Drop kept-alive connections: they were vetted under the old
			 * settings (the SSRF guard runs only when a connection opens).
			 * Requests in flight finish on the old handle first.
			 */
			renew_multi = true;
			may_be_due = true;
			forget_skipped();
		}
		if (renew_multi && sending == 0)
		{
			curl_multi_cleanup(multi);
			drop_spare_easy();
			multi = new_multi();
			renew_multi = false;
		}

		if (pool_len == 0 && !extension_ready())
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10000, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			may_be_due = true;
			continue;
		}
		if (first)
		{
			release_leases();
			first = false;
		}

		/*
		 * Claim while the pool is at most half full and something may be due;
		 * deliveries waiting for their endpoint's slots do not count (an
		 * endpoint holds at most endpoint_limit() of them).
		 */
		now = GetCurrentTimestamp();
		if ((nskipped > 0 || skip_full) && now >= skip_retry_at)
			forget_skipped();	/* the backoff passed: try the locked rows again */
		if ((pool_len - blocked) * 2 <= execlave_webhook_batch_size
			&& pool_len - blocked < execlave_webhook_batch_size
			&& (may_be_due || now >= next_claim))
		{
			int			room = execlave_webhook_batch_size - (pool_len - blocked);
			int			n = claim(room, &sleep_ms);

			may_be_due = n == room;
			next_claim = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), may_be_due ? 0 : sleep_ms);
		}

		/* start, collect, and refill the slots the finished ones freed */
		if (!renew_multi)
			start_claimed();
		if (sending > 0)
		{
			progress();
			if (!renew_multi)
				start_claimed();
		}
		if (record_due())
		{
			record_done(scratch);
			may_be_due = true;	/* the pool has room again */
			continue;
		}

		if (pool_len == 0)
		{
			now = GetCurrentTimestamp();
			sleep_ms = next_claim > now ? (long) ((next_claim - now + 999) / 1000) : 0;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(sleep_ms, 1), PG_WAIT_EXTENSION);
		}
		else
		{
			now = GetCurrentTimestamp();
			if (sending > 0 && quiet(now))
			{
				/* until a claim is due, if the pool has room for one */
				if ((pool_len - blocked) * 2 > execlave_webhook_batch_size)
					sleep_ms = execlave_webhook_poll_interval_ms;
				else
					sleep_ms = may_be_due ? 0 : next_claim > now ? (long) ((next_claim - now + 999) / 1000) : 0;
				wait_quietly(Max(sleep_ms, 1));
			}
			else if (sending > 0)
			{
				long		poll_ms = POLL_MS;

				/* outcomes waiting: look again when the worker may turn quiet */
				if (done > 0)
				{
					long		since = (long) ((now - last_start_at) / 1000);

					poll_ms = Max(1, Min(POLL_MS, QUIET_MS - since));
				}
				curl_multi_poll(multi, NULL, 0, (int) poll_ms, NULL);
				if (!PostmasterIsAlive())
					proc_exit(1);
			}
			else				/* outcomes waiting for RECORD_DELAY_MS */
				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 POLL_MS, PG_WAIT_EXTENSION);
		}
		if (MyLatch->is_set)
		{
			/* a committed change to the deliveries: locked rows may be free */
			ResetLatch(MyLatch);
			may_be_due = true;
			forget_skipped();
		}
	}
}
