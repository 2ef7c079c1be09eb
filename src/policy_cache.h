/*
 * policy_cache.h
 *		The backend-local cache of compiled policies, and its pins.
 */
#ifndef EXECLAVE_POLICY_CACHE_H
#define EXECLAVE_POLICY_CACHE_H

#include "policy.h"

/*
 * One loaded set of compiled policies.  An evaluation pins the set it works
 * on: a flush drops a pinned set from the cache but only retires it, and the
 * set is deleted when its last pin goes, so an evaluation never reads freed
 * memory even when something it calls (the windowed counters' rebuild,
 * through SPI) processes invalidations.  A pin that an error left behind is
 * dropped at the end of the transaction.
 */
typedef struct PolicySet
{
	MemoryContext cxt;			/* holds the set and every policy in it */
	CompiledPolicy *policies;	/* sorted by name */
	int			n;
	bool		have_hash_key;
	uint8		hash_key[32];
	int			pins;
	struct PolicySet *next_retired;
	struct HTAB *by_agent;		/* agent -> the policies that apply, see execlave_policies_for */
} PolicySet;

extern void execlave_policy_cache_init(void);
extern PolicySet *execlave_policies_pin(void);
extern void execlave_policies_unpin(PolicySet *set);
extern bool execlave_policy_applies(const CompiledPolicy *p, const pg_uuid_t *agent);
extern bool execlave_policies_apply_to(const pg_uuid_t *agent);
extern const int *execlave_policies_for(PolicySet *set, const pg_uuid_t *agent, int *n);
extern int	execlave_uuid_order(const void *a, const void *b);

#endif							/* EXECLAVE_POLICY_CACHE_H */
