/*
 * lifecycle.c
 *		How long execlave keeps what it stores and which trace times it
 *		accepts: the partition interval and the partitions kept ahead, the
 *		retention of traces, events, deliveries, violations, grants and
 *		pg_cron history, the maintenance lock timeout (all applied by the
 *		maintenance functions, which read them through
 *		execlave.maintenance_settings()), and the window of started_at around
 *		the clock that the trace trigger accepts.
 */

#include "lifecycle.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

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

/* The accepted window of trace times (GUCs). */
static int	trace_max_future_s = 300;
static int	trace_max_age_days = 0;	/* 0: execlave.trace_retention_days */

/* Behind the clock when retention keeps everything and no age is set. */
#define DEFAULT_MAX_AGE_DAYS	3650


/* Called once per process from _PG_init: every setting above. */
void
execlave_lifecycle_init(void)
{
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

	DefineCustomIntVariable("execlave.trace_max_future",
							gettext_noop("How far ahead of the clock a trace's started_at may lie."),
							gettext_noop("Later traces are refused with 22023."),
							&trace_max_future_s, 300, 0, 366 * 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("execlave.trace_max_age_days",
							gettext_noop("How far behind the clock a trace's started_at may lie, in days."),
							gettext_noop("0: execlave.trace_retention_days (3650 when that is 0 too). Older traces are refused with 22023."),
							&trace_max_age_days, 0, 0, 36500,
							PGC_SUSET, 0, NULL, NULL, NULL);
}

/* The accepted window of started_at around now: [*earliest, *latest]. */
void
execlave_trace_time_window(TimestampTz now, TimestampTz *earliest, TimestampTz *latest)
{
	int			days = trace_max_age_days > 0 ? trace_max_age_days
		: execlave_trace_retention_days > 0 ? execlave_trace_retention_days : DEFAULT_MAX_AGE_DAYS;

	*earliest = now - (TimestampTz) days * USECS_PER_DAY;
	*latest = now + (TimestampTz) trace_max_future_s * USECS_PER_SEC;
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
