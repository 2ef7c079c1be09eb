/*
 * compat.h
 *		Every PostgreSQL version difference execlave cares about, in one place.
 *
 * execlave targets PostgreSQL 15; newer majors are expected to need only
 * additions here, never #if blocks scattered through the modules.
 */
#ifndef EXECLAVE_COMPAT_H
#define EXECLAVE_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "execlave requires PostgreSQL 15 or later"
#endif

#endif							/* EXECLAVE_COMPAT_H */
