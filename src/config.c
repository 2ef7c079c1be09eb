/*
 * config.c
 *		execlave's GUCs and the preload check.
 *
 * All settings are in the reserved "execlave." prefix.  Features that need
 * the library in shared_preload_libraries call execlave_require_preload(),
 * which fails with a hint instead of misbehaving.
 */
#include "execlave.h"

#include "miscadmin.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

/* Maximum number of agents one backend keeps cached (execlave.agent_cache_size). */
int			execlave_agent_cache_size = 10000;

/* Webhook worker settings (webhook_worker.c). */
char	   *execlave_database = NULL;
int			execlave_webhook_batch_size = 500;
int			execlave_webhook_concurrency = 32;
int			execlave_webhook_endpoint_concurrency = 8;
int			execlave_webhook_timeout_ms = 15000;
int			execlave_webhook_lease_ms = 60000;
int			execlave_webhook_poll_interval_ms = 1000;
char	   *execlave_webhook_retry_schedule = NULL;
bool		execlave_webhook_allow_private = false;

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

/* Maintenance settings (execlave_maintenance(), read through execlave.maintenance_settings()). */
static int	trace_partition_interval = 0;	/* 0 day, 1 month */
static int	trace_partitions_ahead = 7;
int			execlave_trace_retention_days = 30;
static int	event_retention_days = 30;
static int	delivery_retention_days = 7;
static int	violation_retention_days = 90;
static int	grant_retention_days = 30;
static int	cron_history_retention_days = 7;
static bool maintenance_in_progress = false;
static int	maintenance_lock_timeout_ms = 200;

static const struct config_enum_entry partition_interval_options[] = {
	{"day", 0, false},
	{"month", 1, false},
	{NULL, 0, false}
};

/* A days setting: 0 keeps forever. */
static void
define_days(const char *name, const char *what, int *var, int def)
{
	DefineCustomIntVariable(name, what,
							gettext_noop("In days; 0 keeps them forever. Applied by execlave_maintenance()."),
							var, def, 0, 36500, PGC_SUSET, 0, NULL, NULL, NULL);
}

/* True when _PG_init ran while shared_preload_libraries was being processed. */
static bool loaded_at_startup = false;

/* Define the GUCs and remember how the library was loaded. */
void
execlave_config_init(void)
{
	loaded_at_startup = process_shared_preload_libraries_in_progress;

	DefineCustomIntVariable("execlave.agent_cache_size",
							gettext_noop("Maximum number of agents cached by each backend."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_agent_cache_size,
							10000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.grant_cache_size",
							gettext_noop("Maximum number of source/target pairs whose grants each backend caches."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_grant_cache_size,
							100000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.record_timeout",
							gettext_noop("Longest wait to commit a blocked request's violations in a separate transaction."),
							gettext_noop("Also the recorder's lock and statement timeout. Past it the violations go to the server log."),
							&execlave_record_timeout_ms,
							5000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/* A postmaster-level setting can only be defined while preloading. */
	if (loaded_at_startup)
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

	DefineCustomEnumVariable("execlave.trace_partition_interval",
							 gettext_noop("Range of one partition of execlave.traces that maintenance creates: day or month (UTC)."),
							 NULL,
							 &trace_partition_interval, 0, partition_interval_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("execlave.trace_partitions_ahead",
							gettext_noop("Partitions of execlave.traces maintenance keeps ready beyond the current one."),
							NULL,
							&trace_partitions_ahead, 7, 1, 1000, PGC_SUSET, 0, NULL, NULL, NULL);
	define_days("execlave.trace_retention_days",
				gettext_noop("Age past which whole partitions of execlave.traces are dropped."),
				&execlave_trace_retention_days, 30);
	define_days("execlave.event_retention_days",
				gettext_noop("Age past which events (without waiting deliveries) and dead deliveries are purged."),
				&event_retention_days, 30);
	define_days("execlave.delivery_retention_days",
				gettext_noop("Age past which succeeded webhook deliveries are purged."),
				&delivery_retention_days, 7);
	define_days("execlave.violation_retention_days",
				gettext_noop("Age past which policy violations are purged."),
				&violation_retention_days, 90);
	define_days("execlave.grant_retention_days",
				gettext_noop("Time after expiry or revocation past which grants (their history stays) and API keys are removed."),
				&grant_retention_days, 30);
	define_days("execlave.cron_history_retention_days",
				gettext_noop("Age past which pg_cron's run history of the maintenance job is purged."),
				&cron_history_retention_days, 7);
	DefineCustomIntVariable("execlave.maintenance_lock_timeout",
							gettext_noop("How long a maintenance step waits for its locks before it is skipped (and retried by the next run)."),
							gettext_noop("Bounds how long maintenance can hold up the kill switch or trace inserts."),
							&maintenance_lock_timeout_ms, 200, 1, 60000, PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("execlave.maintenance_in_progress",
							 gettext_noop("Set by execlave_maintenance() for its own transaction: lets it purge append-only tables."),
							 NULL,
							 &maintenance_in_progress, false,
							 PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("execlave.webhook_allow_private",
							 gettext_noop("Allow webhook deliveries to loopback, private, link-local and other non-public addresses."),
							 gettext_noop("Off by default (SSRF guard); for tests and local development."),
							 &execlave_webhook_allow_private,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
}

/* Was the library loaded through shared_preload_libraries? */
bool
execlave_preloaded(void)
{
	return loaded_at_startup;
}

/* Raise a clear error when a feature needing preloading is used without it. */
void
execlave_require_preload(const char *feature)
{
	if (!loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires execlave to be loaded via shared_preload_libraries", feature),
				 errhint("Add execlave to shared_preload_libraries in postgresql.conf and restart the server.")));
}

PG_FUNCTION_INFO_V1(execlave_maintenance_settings);

/* execlave.maintenance_settings() RETURNS jsonb: what execlave_maintenance() applies. */
Datum
execlave_maintenance_settings(PG_FUNCTION_ARGS)
{
	TimestampTz earliest,
				latest;
	char	   *json;

	execlave_trace_time_window(0, &earliest, &latest);
	json = psprintf("{\"trace_partition_interval\": \"%s\", \"trace_partitions_ahead\": %d, "
					"\"trace_retention_days\": %d, \"event_retention_days\": %d, "
					"\"delivery_retention_days\": %d, \"violation_retention_days\": %d, "
					"\"grant_retention_days\": %d, \"cron_history_retention_days\": %d, "
					"\"trace_max_age_days_effective\": " INT64_FORMAT ", \"trace_max_future_s\": " INT64_FORMAT ", "
					"\"maintenance_lock_timeout_ms\": %d}",
					trace_partition_interval == 1 ? "month" : "day", trace_partitions_ahead,
					execlave_trace_retention_days, event_retention_days, delivery_retention_days,
					violation_retention_days, grant_retention_days, cron_history_retention_days,
					(int64) (-earliest / USECS_PER_DAY), (int64) (latest / USECS_PER_SEC),
					maintenance_lock_timeout_ms);

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}
