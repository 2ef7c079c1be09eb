/*
 * grants.c
 *		Agent-to-agent grants: the pair cache and execlave_authorize().
 *
 * execlave_authorize(source, target, action) is the function applications
 * call most, so once warm it runs no query: agents come from the agent cache
 * (agent_cache.c) and grants from a backend-local cache of grant pairs kept
 * here.  A pair entry holds every grant row from source to target (revoked
 * and expired ones too, for execlave_authorize_explain) as action bit masks.
 * Only pairs that were asked about are cached, at most
 * execlave.grant_cache_size of them; when full, about half of the entries
 * (every other one in hash order, i.e. a pseudo-random half) are evicted, so
 * a working set larger than the cache degrades gradually.  When the limit
 * was lowered below half the entries held, the cache is emptied instead, so
 * its memory is returned.
 *
 * Rule (documented in README): live grants of one pair are merged; the
 * answer is true when any grant that is not revoked and whose expiry is
 * later than the clock at the moment of the call covers the action.  Expiry
 * needs no invalidation: it is compared with GetCurrentTimestamp() at each
 * call.  Grants, revokes, pauses and resumes invalidate through the relcache
 * (statement triggers on execlave.grants and execlave.agents), seen at the
 * next call of any session after commit.
 *
 * Read-only: no writes and no row locks, so both functions run on hot
 * standbys, where the invalidations arrive through WAL replay.
 */

#include "grants.h"

#include "access/htup_details.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "actions.h"
#include "agent_cache.h"
#include "agents.h"
#include "cache.h"
#include "catalog.h"


PG_FUNCTION_INFO_V1(execlave_authorize);
PG_FUNCTION_INFO_V1(execlave_authorize_explain);

/* Why authorize answered as it did; names in reason_names[]. */
typedef enum AuthzReason
{
	AUTHZ_GRANTED,
	AUTHZ_NO_GRANT,
	AUTHZ_ACTION_NOT_GRANTED,
	AUTHZ_EXPIRED,
	AUTHZ_REVOKED,
	AUTHZ_SOURCE_PAUSED,
	AUTHZ_TARGET_PAUSED,
	AUTHZ_SOURCE_ARCHIVED,
	AUTHZ_TARGET_ARCHIVED,
	AUTHZ_UNKNOWN_SOURCE,
	AUTHZ_UNKNOWN_TARGET
} AuthzReason;

static const char *const reason_names[] = {
	"granted", "no_grant", "action_not_granted", "expired", "revoked",
	"source_paused", "target_paused", "source_archived", "target_archived",
	"unknown_source", "unknown_target"
};

typedef struct GrantPairKey
{
	pg_uuid_t	source;
	pg_uuid_t	target;
} GrantPairKey;

/* One grant row, as much of it as authorize needs. */
typedef struct CachedGrant
{
	pg_uuid_t	id;
	TimestampTz created_at;
	TimestampTz expires_at;		/* DT_NOEND when it never expires */
	uint8		actions;
	bool		revoked;
} CachedGrant;

/* All grants from one source to one target, newest first. */
typedef struct GrantPair
{
	GrantPairKey key;
	uint8		forever;		/* actions of unrevoked, never-expiring grants */
	int			ngrants;
	CachedGrant *grants;
} GrantPair;

typedef struct GrantsRelInfo
{
	Oid			relid;
	Oid			pair_index;
	AttrNumber	att_id;
	AttrNumber	att_source;
	AttrNumber	att_target;
	AttrNumber	att_actions;
	AttrNumber	att_expires_at;
	AttrNumber	att_created_at;
	AttrNumber	att_revoked_at;
} GrantsRelInfo;

int			execlave_grant_cache_size = 100000;

static MemoryContext cache_ctx = NULL;
static HTAB *pairs = NULL;
static GrantsRelInfo relinfo;

static void grant_cache_invalidated(bool full);

/* Registered with cache.c; its generation lets a loader notice a flush during its scan. */
static ExeclaveCache cache = {"grants", &relinfo.relid, grant_cache_invalidated, 0};

/* Forget every cached pair and the OIDs (the table may have been dropped). */
static void
grant_cache_flush(void)
{
	if (cache_ctx != NULL)
		MemoryContextReset(cache_ctx);
	pairs = NULL;
	memset(&relinfo, 0, sizeof(relinfo));
	cache.generation++;
}

/* Invalidation of execlave.grants (or of everything): flush. */
static void
grant_cache_invalidated(bool full)
{
	grant_cache_flush();
}

/* Register the invalidation callback; once per process from _PG_init. */
void
execlave_grants_init(void)
{
	DefineCustomIntVariable("execlave.grant_cache_size",
							gettext_noop("Maximum number of source/target pairs whose grants each backend caches."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_grant_cache_size,
							100000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	execlave_cache_register(&cache);
}

/* Resolve OIDs and column numbers of execlave.grants if not known yet. */
static void
ensure_relinfo(void)
{
	GrantsRelInfo info;

	if (OidIsValid(relinfo.relid))
		return;
	info.relid = execlave_relid("grants");
	info.pair_index = execlave_relid("grants_pair_idx");
	info.att_id = execlave_attnum(info.relid, "id");
	info.att_source = execlave_attnum(info.relid, "source_id");
	info.att_target = execlave_attnum(info.relid, "target_id");
	info.att_actions = execlave_attnum(info.relid, "actions");
	info.att_expires_at = execlave_attnum(info.relid, "expires_at");
	info.att_created_at = execlave_attnum(info.relid, "created_at");
	info.att_revoked_at = execlave_attnum(info.relid, "revoked_at");
	relinfo = info;
}

/* Rows collected by a pair scan, in the caller's memory context. */
typedef struct PairScan
{
	int			n;
	int			cap;
	CachedGrant *grants;
} PairScan;

/* execlave_index_scan callback: append one grant row. */
static void
read_grant_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	PairScan   *ps = (PairScan *) arg;
	CachedGrant *g;
	Datum		d;
	bool		isnull;

	if (ps->n == ps->cap)
	{
		ps->cap = ps->cap ? ps->cap * 2 : 4;
		ps->grants = ps->grants ? repalloc(ps->grants, ps->cap * sizeof(CachedGrant))
			: palloc(ps->cap * sizeof(CachedGrant));
	}
	g = &ps->grants[ps->n++];

	d = heap_getattr(tup, relinfo.att_id, desc, &isnull);
	memcpy(&g->id, DatumGetUUIDP(d), sizeof(pg_uuid_t));
	d = heap_getattr(tup, relinfo.att_actions, desc, &isnull);
	g->actions = isnull ? 0 : execlave_actions_mask(DatumGetArrayTypeP(d), false);
	d = heap_getattr(tup, relinfo.att_expires_at, desc, &isnull);
	g->expires_at = isnull ? DT_NOEND : DatumGetTimestampTz(d);
	d = heap_getattr(tup, relinfo.att_created_at, desc, &isnull);
	g->created_at = isnull ? 0 : DatumGetTimestampTz(d);
	(void) heap_getattr(tup, relinfo.att_revoked_at, desc, &isnull);
	g->revoked = !isnull;
}

/* qsort comparator: newest grant first. */
static int
grant_newest_first(const void *a, const void *b)
{
	const CachedGrant *ga = a;
	const CachedGrant *gb = b;

	if (ga->created_at != gb->created_at)
		return ga->created_at > gb->created_at ? -1 : 1;
	return memcmp(&gb->id, &ga->id, sizeof(pg_uuid_t));
}

/*
 * Make room in a full pair cache: drop every other entry in hash order.
 * Amortised O(1) per insert; dropping entries during a sequential scan is
 * allowed for the entry just returned.
 */
static void
evict_half(void)
{
	HASH_SEQ_STATUS seq;
	GrantPair  *pair;
	bool		drop = false;

	hash_seq_init(&seq, pairs);
	while ((pair = hash_seq_search(&seq)) != NULL)
	{
		drop = !drop;
		if (!drop)
			continue;
		if (pair->grants != NULL)
			pfree(pair->grants);
		(void) hash_search(pairs, &pair->key, HASH_REMOVE, NULL);
	}
}

/* Find the pair in the cache, loading it (possibly with no grants) on a miss. */
static const GrantPair *
lookup_pair(const pg_uuid_t *source, const pg_uuid_t *target)
{
	GrantPairKey key;
	GrantPair  *pair;
	bool		found;

	memcpy(&key.source, source, sizeof(pg_uuid_t));
	memcpy(&key.target, target, sizeof(pg_uuid_t));
	if (pairs != NULL)
	{
		pair = hash_search(pairs, &key, HASH_FIND, NULL);
		if (pair != NULL)
			return pair;
	}

	for (;;)
	{
		uint64		gen;
		ScanKeyData skeys[2];
		PairScan	ps = {0};

		ensure_relinfo();
		gen = cache.generation;
		ScanKeyInit(&skeys[0], relinfo.att_source, BTEqualStrategyNumber, F_UUID_EQ,
					UUIDPGetDatum(&key.source));
		ScanKeyInit(&skeys[1], relinfo.att_target, BTEqualStrategyNumber, F_UUID_EQ,
					UUIDPGetDatum(&key.target));
		execlave_index_scan(relinfo.relid, relinfo.pair_index, 2, skeys, read_grant_row, &ps);
		if (gen != cache.generation)
			continue;			/* invalidated while loading: read again */

		if (cache_ctx == NULL)
			cache_ctx = AllocSetContextCreate(CacheMemoryContext, "execlave grant cache",
											  ALLOCSET_DEFAULT_SIZES);
		if (pairs != NULL && hash_get_num_entries(pairs) >= execlave_grant_cache_size)
		{
			/* far over a lowered limit: give the memory back at once */
			if (hash_get_num_entries(pairs) >= 2L * execlave_grant_cache_size)
				grant_cache_flush();
			else
				evict_half();
		}
		if (pairs == NULL)
		{
			HASHCTL		ctl;

			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = sizeof(GrantPairKey);
			ctl.entrysize = sizeof(GrantPair);
			ctl.hcxt = cache_ctx;
			pairs = hash_create("execlave grant pairs", 1024, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}

		pair = hash_search(pairs, &key, HASH_ENTER, &found);
		pair->ngrants = ps.n;
		pair->grants = NULL;
		pair->forever = 0;
		for (int i = 0; i < ps.n; i++)
			if (!ps.grants[i].revoked && ps.grants[i].expires_at == DT_NOEND)
				pair->forever |= ps.grants[i].actions;
		if (ps.n > 0)
		{
			qsort(ps.grants, ps.n, sizeof(CachedGrant), grant_newest_first);
			pair->grants = MemoryContextAlloc(cache_ctx, ps.n * sizeof(CachedGrant));
			memcpy(pair->grants, ps.grants, ps.n * sizeof(CachedGrant));
		}
		return pair;
	}
}

/* Is g live at now?  now is read from the clock on first need. */
static inline bool
grant_live(const CachedGrant *g, TimestampTz *now)
{
	if (g->revoked)
		return false;
	if (g->expires_at == DT_NOEND)
		return true;
	if (*now == 0)
		*now = GetCurrentTimestamp();
	return g->expires_at > *now;
}

/* Is b a better answer than a (never expiring, else later expiry)? */
static inline bool
grant_outlasts(const CachedGrant *b, const CachedGrant *a)
{
	return b->expires_at > a->expires_at;
}

/*
 * The whole decision.  args: source, target, action text.  On AUTHZ_GRANTED,
 * *grant is the live grant that allows it (the longest-lasting one); on
 * AUTHZ_EXPIRED / AUTHZ_REVOKED, the newest dead grant that covered it.
 * Stops at the first allowing grant when need_grant is false.
 */
static AuthzReason
authorize_decide(FunctionCallInfo fcinfo, bool need_grant, CachedGrant *grant)
{
	text	   *action_text;
	int			bit;
	const ExeclaveAgent *agent;
	pg_uuid_t	source_id;
	ExeclaveAgentStatus source_status;
	pg_uuid_t	target_id;
	const GrantPair *pair;
	const CachedGrant *best = NULL;
	const CachedGrant *dead = NULL;
	bool		any_live = false;
	TimestampTz now = 0;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("action must not be NULL")));
	action_text = PG_GETARG_TEXT_PP(2);
	bit = VARSIZE_ANY_EXHDR(action_text) > 0 ?
		execlave_action_bit(VARDATA_ANY(action_text), VARSIZE_ANY_EXHDR(action_text)) : -1;
	if (bit < 0)
		execlave_unknown_action(text_to_cstring(action_text));

	execlave_agent_cache_sync();

	/* copy what we need: resolving the target may flush the agent cache */
	agent = execlave_agent_from_arg(fcinfo, 0, "source", true);
	if (agent == NULL)
	{
		(void) execlave_agent_from_arg(fcinfo, 1, "target", true);	/* validate it */
		return AUTHZ_UNKNOWN_SOURCE;
	}
	source_id = agent->id;
	source_status = agent->status;

	agent = execlave_agent_from_arg(fcinfo, 1, "target", true);
	if (agent == NULL)
		return AUTHZ_UNKNOWN_TARGET;
	target_id = agent->id;

	if (source_status == AGENT_PAUSED)
		return AUTHZ_SOURCE_PAUSED;
	if (source_status == AGENT_ARCHIVED)
		return AUTHZ_SOURCE_ARCHIVED;
	if (agent->status == AGENT_PAUSED)
		return AUTHZ_TARGET_PAUSED;
	if (agent->status == AGENT_ARCHIVED)
		return AUTHZ_TARGET_ARCHIVED;

	pair = lookup_pair(&source_id, &target_id);
	if (!need_grant && (pair->forever & (1 << bit)))
		return AUTHZ_GRANTED;	/* the common case: no walk, no clock */
	for (int i = 0; i < pair->ngrants; i++)
	{
		const CachedGrant *g = &pair->grants[i];
		bool		live = grant_live(g, &now);

		any_live |= live;
		if (!(g->actions & (1 << bit)))
			continue;
		if (live)
		{
			if (!need_grant)
				return AUTHZ_GRANTED;
			if (best == NULL || grant_outlasts(g, best))
				best = g;
		}
		else if (dead == NULL)
			dead = g;
	}
	if (best != NULL)
	{
		*grant = *best;
		return AUTHZ_GRANTED;
	}
	if (dead != NULL)
	{
		*grant = *dead;
		return dead->revoked ? AUTHZ_REVOKED : AUTHZ_EXPIRED;
	}
	return any_live ? AUTHZ_ACTION_NOT_GRANTED : AUTHZ_NO_GRANT;
}

/* execlave_authorize(source text, target text, action text) RETURNS boolean */
Datum
execlave_authorize(PG_FUNCTION_ARGS)
{
	CachedGrant grant;

	PG_RETURN_BOOL(authorize_decide(fcinfo, false, &grant) == AUTHZ_GRANTED);
}

/*
 * execlave_authorize_explain(source, target, action)
 *   RETURNS TABLE (authorized boolean, reason text, grant_id uuid, expires_at timestamptz)
 */
Datum
execlave_authorize_explain(PG_FUNCTION_ARGS)
{
	CachedGrant grant;
	AuthzReason reason;
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, true, true};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("execlave_authorize_explain must be called in a context that accepts a row")));
	desc = BlessTupleDesc(desc);

	reason = authorize_decide(fcinfo, true, &grant);
	values[0] = BoolGetDatum(reason == AUTHZ_GRANTED);
	values[1] = CStringGetTextDatum(reason_names[reason]);
	if (reason == AUTHZ_GRANTED || reason == AUTHZ_EXPIRED || reason == AUTHZ_REVOKED)
	{
		pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

		memcpy(id, &grant.id, sizeof(pg_uuid_t));
		values[2] = UUIDPGetDatum(id);
		nulls[2] = false;
		if (grant.expires_at != DT_NOEND)
		{
			values[3] = TimestampTzGetDatum(grant.expires_at);
			nulls[3] = false;
		}
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
