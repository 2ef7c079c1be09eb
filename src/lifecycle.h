/*
 * lifecycle.h
 *		The settings of stored data's life: partitions of execlave.traces,
 *		retention and purges (applied by maintenance), and the accepted
 *		window of trace times (enforced by the trace trigger).
 */
#ifndef EXECLAVE_LIFECYCLE_H
#define EXECLAVE_LIFECYCLE_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern int	execlave_trace_retention_days;

extern void execlave_lifecycle_init(void);
extern void execlave_trace_time_window(TimestampTz now, TimestampTz *earliest, TimestampTz *latest);

#endif							/* EXECLAVE_LIFECYCLE_H */
