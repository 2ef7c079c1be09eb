/*
 * recorder.h
 *		Durable recording of blocked requests' violations.
 */
#ifndef EXECLAVE_RECORDER_H
#define EXECLAVE_RECORDER_H

#include "postgres.h"

extern int	execlave_record_timeout_ms;
extern int	execlave_recorder_idle_ms;
extern int	execlave_max_recorders;

extern void execlave_recorder_init(void);
extern void execlave_record_durably(const char *json);
PGDLLEXPORT extern void execlave_db_recorder_main(Datum arg);
PGDLLEXPORT extern void execlave_recorder_main(Datum arg);

#endif							/* EXECLAVE_RECORDER_H */
