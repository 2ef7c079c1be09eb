/*
 * grants.h
 *		The grant pair cache and execlave_authorize.
 */
#ifndef EXECLAVE_GRANTS_H
#define EXECLAVE_GRANTS_H

#include "postgres.h"

extern int	execlave_grant_cache_size;
extern void execlave_grants_init(void);

#endif							/* EXECLAVE_GRANTS_H */
