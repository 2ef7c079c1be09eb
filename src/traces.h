/*
 * traces.h
 *		The trace ingestion trigger.
 */
#ifndef EXECLAVE_TRACES_H
#define EXECLAVE_TRACES_H

#include "postgres.h"

extern void execlave_traces_init(void);

#endif							/* EXECLAVE_TRACES_H */
