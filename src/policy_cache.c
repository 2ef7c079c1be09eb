/*
 * policy_cache.c
 *		The compiled-policy cache: each backend keeps every active policy
 *		compiled (patterns turned into matchers once) in one memory context,
 *		sorted by name.  It is loaded on first use with a heap scan under the
 *		latest snapshot and dropped when execlave.policies changes (the relcache
 *		callback of cache.c; the table has the same invalidate_cache statement
 *		trigger as agents and grants), with the generation guard against an
 *		invalidation arriving mid-load.
 *
 * Lifetime: a flush may come at any point that processes invalidations.  An
 * evaluation pins the set it works on (execlave_policies_pin); a flush then
 * only retires the set, which is freed at its last unpin, or at the end of
 * the transaction if an error skipped the unpin.
 */

#include "policy_cache.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "cache.h"
#include "catalog.h"
#include "policy.h"



static PolicySet *current_set = NULL;	/* NULL: not loaded */
static PolicySet *retired_sets = NULL;	/* flushed while pinned */
static Oid	policies_relid = InvalidOid;

static void policy_cache_flush(bool forget_oids);

/* Registered with cache.c; its generation lets a loader notice a flush during its scan. */
static ExeclaveCache cache = {"policies", &policies_relid, policy_cache_flush, 0};

/* Delete every retired set no evaluation holds (all of them when forced). */
static void
free_retired_sets(bool force)
{
	PolicySet **link = &retired_sets;

	while (*link != NULL)
	{
		PolicySet  *set = *link;

		if (set->pins > 0 && !force)
		{
			link = &set->next_retired;
			continue;
		}
		*link = set->next_retired;
		MemoryContextDelete(set->cxt);
	}
}

/* Drop the compiled policies (a pinned set is retired, not freed). */
static void
policy_cache_flush(bool forget_oids)
{
	PolicySet  *set = current_set;

	current_set = NULL;
	if (set != NULL)
	{
		if (set->pins > 0)
		{
			set->next_retired = retired_sets;
			retired_sets = set;
		}
		else
			MemoryContextDelete(set->cxt);
	}
	if (forget_oids)
		policies_relid = InvalidOid;
	cache.generation++;
}

/* End of transaction: no evaluation runs any more; drop pins errors left. */
static void
policy_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (current_set != NULL)
				current_set->pins = 0;
			free_retired_sets(true);
			break;
		default:
			break;
	}
}

/* Called once per process from _PG_init. */
void
execlave_policy_cache_init(void)
{
	execlave_cache_register(&cache);
	RegisterXactCallback(policy_xact_callback, NULL);
}

/* State of one load. */
typedef struct PolicyLoad
{
	MemoryContext cxt;
	List	   *list;			/* of CompiledPolicy * */
	AttrNumber	att_id,
				att_name,
				att_type,
				att_mode,
				att_config,
				att_agents,
				att_active;
} PolicyLoad;

/* Error context while compiling a stored policy: fail closed, but say which. */
static void
loading_policy_context(void *arg)
{
	errcontext("while loading policy \"%s\" (fix or disable it)", (const char *) arg);
}

/* Heap-scan callback: compile one active policy. */
static void
load_policy_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	PolicyLoad *load = (PolicyLoad *) arg;
	ErrorContextCallback errcb;
	bool		isnull;
	Datum		d;
	CompiledPolicy *p;
	bool		alias;
	MemoryContext old;

	d = heap_getattr(tup, load->att_active, desc, &isnull);
	if (isnull || !DatumGetBool(d))
		return;

	old = MemoryContextSwitchTo(load->cxt);
	p = palloc0(sizeof(CompiledPolicy));
	memcpy(&p->id, DatumGetUUIDP(heap_getattr(tup, load->att_id, desc, &isnull)), sizeof(pg_uuid_t));
	p->name = TextDatumGetCString(heap_getattr(tup, load->att_name, desc, &isnull));
	p->mode = execlave_policy_mode(TextDatumGetCString(heap_getattr(tup, load->att_mode, desc, &isnull)),
								   &alias);
	d = heap_getattr(tup, load->att_agents, desc, &isnull);
	if (!isnull)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(arr, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR, &elems, &nulls, &n);
		p->agents = palloc(sizeof(pg_uuid_t) * Max(n, 1));
		for (int i = 0; i < n; i++)
			if (!nulls[i])
				memcpy(&p->agents[p->nagents++], DatumGetUUIDP(elems[i]), sizeof(pg_uuid_t));
	}
	errcb.callback = loading_policy_context;
	errcb.arg = p->name;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	execlave_policy_compile(p,
							execlave_policy_type(TextDatumGetCString(heap_getattr(tup, load->att_type, desc, &isnull))),
							DatumGetJsonbP(heap_getattr(tup, load->att_config, desc, &isnull)),
							load->cxt);
	error_context_stack = errcb.previous;
	load->list = lappend(load->list, p);
	MemoryContextSwitchTo(old);
}

/* Heap-scan callback: read the PII hash key into the set being loaded. */
static void
load_hash_key(HeapTuple tup, TupleDesc desc, void *arg)
{
	PolicySet  *set = (PolicySet *) arg;
	bool		isnull;
	Datum		d = heap_getattr(tup, 1, desc, &isnull);
	bytea	   *key;

	if (isnull)
		return;
	key = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(key) == sizeof(set->hash_key))
	{
		memcpy(set->hash_key, VARDATA_ANY(key), sizeof(set->hash_key));
		set->have_hash_key = true;
	}
}

static int
policy_name_cmp(const void *a, const void *b)
{
	return strcmp(((const CompiledPolicy *) a)->name, ((const CompiledPolicy *) b)->name);
}

/* The current set of active policies, loaded when needed (not pinned). */
static PolicySet *
current_policies(void)
{
	while (current_set == NULL)
	{
		uint64		gen;
		PolicyLoad	load;
		Oid			relid;
		Relation	rel;
		TupleDesc	desc;
		PolicySet  *set;
		ListCell   *lc;
		int			i = 0;

		relid = execlave_relid("policies");
		policies_relid = relid;
		rel = table_open(relid, AccessShareLock);	/* may flush; harmless here */
		desc = RelationGetDescr(rel);
		load.att_id = execlave_tupdesc_attnum(desc, "id");
		load.att_name = execlave_tupdesc_attnum(desc, "name");
		load.att_type = execlave_tupdesc_attnum(desc, "type");
		load.att_mode = execlave_tupdesc_attnum(desc, "mode");
		load.att_config = execlave_tupdesc_attnum(desc, "config");
		load.att_agents = execlave_tupdesc_attnum(desc, "agent_ids");
		load.att_active = execlave_tupdesc_attnum(desc, "active");
		table_close(rel, NoLock);

		gen = cache.generation;
		load.cxt = AllocSetContextCreate(CurrentMemoryContext, "execlave policies",
										 ALLOCSET_SMALL_SIZES);
		load.list = NIL;
		set = MemoryContextAllocZero(load.cxt, sizeof(PolicySet));
		set->cxt = load.cxt;
		execlave_heap_scan(relid, load_policy_row, &load);
		execlave_heap_scan(execlave_relid("pii_hash_key"), load_hash_key, set);
		UnlockRelationOid(relid, AccessShareLock);

		if (gen != cache.generation)
		{
			/* an invalidation arrived during the load: start over */
			MemoryContextDelete(load.cxt);
			continue;
		}
		MemoryContextSetParent(load.cxt, CacheMemoryContext);
		set->n = list_length(load.list);
		set->policies = MemoryContextAlloc(load.cxt, sizeof(CompiledPolicy) * Max(set->n, 1));
		foreach(lc, load.list)
			set->policies[i++] = *(CompiledPolicy *) lfirst(lc);
		qsort(set->policies, set->n, sizeof(CompiledPolicy), policy_name_cmp);
		current_set = set;
	}
	return current_set;
}

/* Order of UUIDs by their bytes (the sort and search order of agent lists). */
int
execlave_uuid_order(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(pg_uuid_t));
}

/* Does policy p apply to the agent? */
bool
execlave_policy_applies(const CompiledPolicy *p, const pg_uuid_t *agent)
{
	return p->nagents == 0 ||
		bsearch(agent, p->agents, p->nagents, sizeof(pg_uuid_t), execlave_uuid_order) != NULL;
}

/* Agents whose applicable policies a set remembers (beyond: computed per call). */
#define MAX_MEMO_AGENTS 10000

typedef struct AgentPolicies
{
	pg_uuid_t	agent;			/* hash key */
	int			n;
	int		   *idx;
} AgentPolicies;

/*
 * The indexes in set->policies of the policies that apply to agent, in
 * set order (by name), and their count in *n.  Computed once per agent and
 * set (a set never changes; a policy change makes a new one), so an agent's
 * trace costs the policies that apply to it, not every policy there is.
 */
const int *
execlave_policies_for(PolicySet *set, const pg_uuid_t *agent, int *n)
{
	AgentPolicies *ap;
	bool		memo;
	int		   *idx;
	int			k = 0;

	if (set->by_agent == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(AgentPolicies);
		ctl.hcxt = set->cxt;
		set->by_agent = hash_create("execlave policies by agent", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ap = hash_search(set->by_agent, agent, HASH_FIND, NULL);
	if (ap != NULL)
	{
		*n = ap->n;
		return ap->idx;
	}

	/* computed in full before the entry is made, so an error leaves none */
	memo = hash_get_num_entries(set->by_agent) < MAX_MEMO_AGENTS;
	idx = MemoryContextAlloc(memo ? set->cxt : CurrentMemoryContext, sizeof(int) * Max(set->n, 1));
	for (int i = 0; i < set->n; i++)
		if (execlave_policy_applies(&set->policies[i], agent))
			idx[k++] = i;
	if (memo)
	{
		ap = hash_search(set->by_agent, agent, HASH_ENTER, NULL);
		ap->idx = idx;
		ap->n = k;
	}
	*n = k;
	return idx;
}

/* Is any active policy in force for this agent?  (The ingestion fast path.) */
bool
execlave_policies_apply_to(const pg_uuid_t *agent)
{
	int			n;

	(void) execlave_policies_for(current_policies(), agent, &n);
	return n > 0;
}

/* The current set, pinned until execlave_policies_unpin. */
PolicySet *
execlave_policies_pin(void)
{
	PolicySet  *set = current_policies();

	set->pins++;
	return set;
}

/* Unpin a set; a set retired meanwhile is freed once nothing pins it. */
void
execlave_policies_unpin(PolicySet *set)
{
	set->pins--;
	if (retired_sets != NULL)
		free_retired_sets(false);
}
