/*
 * cache.c
 *		One relcache callback for the three backend-local caches.
 *
 * Every statement that writes execlave.agents, execlave.grants or
 * execlave.policies queues a relcache invalidation of that table (the
 * invalidate_cache statement trigger); PostgreSQL applies it locally at the
 * next command and broadcasts it at commit.  The callback registered here
 * (one of PostgreSQL's few callback slots, instead of one per cache) calls
 * the flush of the cache watching that table, or of all of them on a full
 * reset (InvalidOid: the invalidation queue overflowed).  A flush bumps the
 * cache's generation, so that a load running meanwhile notices and retries.
 */

#include "cache.h"

#include "utils/inval.h"

#define MAX_CACHES	4

static ExeclaveCache *caches[MAX_CACHES];
static int	ncaches = 0;

/* The relcache callback: flush the caches of relid (every cache for a full reset). */
static void
relcache_cb(Datum arg, Oid relid)
{
	for (int i = 0; i < ncaches; i++)
	{
		ExeclaveCache *c = caches[i];

		if (relid == InvalidOid || (OidIsValid(*c->relid) && relid == *c->relid))
			c->flush(relid == InvalidOid);
	}
}

/* Register the callback; called once per process from _PG_init. */
void
execlave_cache_init(void)
{
	CacheRegisterRelcacheCallback(relcache_cb, (Datum) 0);
}

/* Make a cache's flush run on its table's invalidations; from its module's init. */
void
execlave_cache_register(ExeclaveCache *cache)
{
	if (ncaches >= MAX_CACHES)
		elog(ERROR, "too many execlave caches");
	caches[ncaches++] = cache;
}
