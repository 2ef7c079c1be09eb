/*
 * windows.h
 *		The shared store of windowed usage: one entry per agent and per
 *		shared budget (scope "policy"), with the counts of the current UTC
 *		windows and the agent's running statistics; what a backend added,
 *		taken back when its (sub)transaction aborts.
 */
#ifndef EXECLAVE_WINDOWS_H
#define EXECLAVE_WINDOWS_H

#include "policy.h"
#include "clock.h"
#include "stats.h"

#include "storage/spin.h"

#define USAGE_AGENT		1
#define USAGE_POLICY	2

typedef struct UsageKey
{
	Oid			dbid;
	uint32		kind;			/* USAGE_AGENT or USAGE_POLICY */
	uint32		version;		/* USAGE_POLICY: hash of the policy's agents */
	pg_uuid_t	id;				/* agent or policy */
} UsageKey;

typedef struct Counts
{
	int64		minute_no,
				minute_count;
	int64		hour_no,
				hour_count;
	int64		day_no,
				day_cost;
	int64		month_no,
				month_cost;
} Counts;

typedef struct UsageEntry
{
	UsageKey	key;			/* hash key: first */
	slock_t		mutex;
	Counts		c;
	Stats		s;
} UsageEntry;

/* What this backend added to an entry, to subtract again on abort */
typedef struct Reservation
{
	UsageKey	key;
	SubTransactionId subid;
	int64		minute_no,
				hour_no,
				day_no,
				month_no;
	int64		count;
	int64		cost;
} Reservation;

extern int	execlave_max_tracked;

extern void execlave_windows_init(void);
extern bool execlave_usage_ready(void);
extern void execlave_usage_require_shmem(void);
extern void execlave_usage_agent_key(UsageKey *key, const pg_uuid_t *agent);
extern void execlave_usage_policy_key(UsageKey *key, const CompiledPolicy *p);
extern UsageEntry *execlave_usage_lock(const UsageKey *key, const CompiledPolicy *scope, const Windows *w,
									   bool missing_ok);
extern void execlave_usage_unlock(UsageEntry *e);
extern void execlave_usage_reserve_room(int n);
extern void execlave_usage_note_addition(Reservation *a, const UsageKey *key, const Counts *c,
										 int64 count, int64 cost);
extern void execlave_usage_remember(const Reservation *a);
extern void execlave_usage_unreserve(const Reservation *r);
extern void execlave_usage_snapshot(FunctionCallInfo fcinfo, UsageEntry *copy, Windows *w);

/* a + b, saturating at 2^62 (sums of nano-USD never overflow) */
static inline int64
execlave_add_sat(int64 a, int64 b)
{
	const int64 limit = INT64CONST(1) << 62;

	if (b > 0 && a > limit - b)
		return limit;
	return a + b;
}

#endif							/* EXECLAVE_WINDOWS_H */
