/*
 * clock.h
 *		The clock of the windowed policies (the transaction's start, or
 *		execlave.test_clock) and the UTC windows of a moment.
 */
#ifndef EXECLAVE_CLOCK_H
#define EXECLAVE_CLOCK_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* Window numbers and starts of a moment */
typedef struct Windows
{
	int64		minute,
				hour,
				day,
				month;
	TimestampTz minute_start,
				hour_start,
				day_start,
				month_start;
} Windows;

extern char *execlave_test_clock;

extern void execlave_clock_init(void);
extern TimestampTz execlave_clock(void);
extern bool execlave_test_clock_set(void);
extern void execlave_windows_of(TimestampTz t, Windows *w);
extern char *execlave_ts_text(TimestampTz t);

#endif							/* EXECLAVE_CLOCK_H */
