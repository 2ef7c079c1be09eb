/*
 * cache.h
 *		The one relcache callback of execlave, dispatching to its three
 *		backend-local caches (agents, grant pairs, compiled policies).
 *
 * Lifetime rule of every cache: anything that can process invalidations (a
 * lock, SPI, a cache miss's load) may flush it, so a pointer into a cache is
 * valid only until then.  The agent and grant caches' callers copy what they
 * need first; an evaluation pins the policy set it works on (policy_cache.h).
 */
#ifndef EXECLAVE_CACHE_H
#define EXECLAVE_CACHE_H

#include "postgres.h"

typedef struct ExeclaveCache
{
	const char *name;			/* the table it caches */
	Oid		   *relid;			/* that table's OID as the module resolved it (InvalidOid: not yet) */
	void		(*flush) (bool full);	/* drop what is cached; full: a reset of every relation */
	uint64		generation;		/* bumped by every flush: a load that sees it change retries */
} ExeclaveCache;

extern void execlave_cache_init(void);
extern void execlave_cache_register(ExeclaveCache *cache);

#endif							/* EXECLAVE_CACHE_H */
