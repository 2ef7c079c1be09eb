/*
 * clock.c
 *		The clock of the windowed policies and of ingested_at: now() (the
 *		transaction's start), or the fixed UTC time of execlave.test_clock;
 *		and the UTC minute, hour, day and calendar month of a moment,
 *		numbered so that windows roll over exactly at their boundaries.
 */

#include "clock.h"

#include <math.h>

#include "access/xact.h"
#include "utils/datetime.h"
#include "utils/guc.h"

char	   *execlave_test_clock = NULL;

/* Parsed execlave.test_clock; 0 when not set */
static bool test_clock_set = false;
static TimestampTz test_clock_value = 0;

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

/* Called once per process from _PG_init: execlave.test_clock. */
void
execlave_clock_init(void)
{
	DefineCustomStringVariable("execlave.test_clock",
							   gettext_noop("For tests only: a fixed UTC time used instead of the transaction start by windowed policies."),
							   gettext_noop("Empty (the default) means the real clock."),
							   &execlave_test_clock,
							   "",
							   PGC_SUSET, 0,
							   check_test_clock, assign_test_clock, NULL);
}

/* The clock of windowed policies: execlave.test_clock, or now(). */
TimestampTz
execlave_clock(void)
{
	return test_clock_set ? test_clock_value : GetCurrentTransactionStartTimestamp();
}

/* Is execlave.test_clock set? */
bool
execlave_test_clock_set(void)
{
	return test_clock_set;
}

static int64
floor_div(int64 a, int64 b)
{
	int64		q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void
execlave_windows_of(TimestampTz t, Windows *w)
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

char *
execlave_ts_text(TimestampTz t)
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
