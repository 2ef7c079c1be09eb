/*
 * preload.h
 *		Whether the library was loaded through shared_preload_libraries, and
 *		the clear error of a feature that needs it.
 */
#ifndef EXECLAVE_PRELOAD_H
#define EXECLAVE_PRELOAD_H

#include "postgres.h"

extern void execlave_preload_init(void);
extern bool execlave_preloaded(void);
extern void execlave_require_preload(const char *feature);

#endif							/* EXECLAVE_PRELOAD_H */
