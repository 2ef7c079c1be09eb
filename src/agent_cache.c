/*
 * agent_cache.c
 *		Backend-local cache of agents, invalidated through the relcache.
 *
 * The kill switch is checked on every trace insert and every status call, so
 * the check must not run a query.  Each backend keeps the agents it has been
 * asked about in two hash tables (by id and by key).  Entries are loaded on
 * demand with a direct index scan under the latest snapshot (scan.c); a
 * miss is cached too, so unknown agents cost no query either.
 *
 * Invalidation: a statement trigger on execlave.agents calls
 * CacheInvalidateRelcache() (agents.c), so every change committed to the
 * table queues a relcache invalidation for it.  Our relcache callback empties
 * the whole cache when it sees that relation (or a full reset).  Callers run
 * execlave_agent_cache_sync() (AcceptInvalidationMessages) before a check, so
 * a change committed by another session is seen at this session's next check
 * even inside a long transaction.  Own uncommitted changes are seen after the
 * next command boundary (local invalidations are processed at
 * CommandCounterIncrement and undone at abort).  Invalidations are WAL-logged
 * with the commit record, so hot standbys behave the same.
 *
 * Lifetime rule: a pointer returned by a lookup is valid until the next
 * invalidation is processed (any lock acquisition may do that); copy what you
 * need first.  A generation counter detects an invalidation that arrives while
 * an entry is being loaded, in which case the load is retried.
 */

#include "agent_cache.h"

#include "access/htup_details.h"
#include "catalog/pg_collation_d.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "cache.h"
#include "catalog.h"
#include "execlave.h"


/* Key-table entry: maps an agent key to its entry in the id table. */
typedef struct AgentKeyEntry
{
	char		key[EXECLAVE_MAX_KEY_LEN + 1];
	ExeclaveAgent *agent;
} AgentKeyEntry;

/* Where execlave.agents and its indexes live; resolved lazily. */
typedef struct AgentsRelInfo
{
	Oid			relid;
	Oid			pkey_index;
	Oid			key_index;
	AttrNumber	att_id;
	AttrNumber	att_key;
	AttrNumber	att_status;
	AttrNumber	att_paused_at;
	AttrNumber	att_pause_reason;
	AttrNumber	att_paused_by;
} AgentsRelInfo;

static MemoryContext cache_ctx = NULL;
static HTAB *agents_by_id = NULL;
static HTAB *agents_by_key = NULL;
static AgentsRelInfo relinfo;

static void agent_cache_invalidated(bool full);

/* Registered with cache.c; its generation lets a loader notice a flush during its scan. */
static ExeclaveCache cache = {"agents", &relinfo.relid, agent_cache_invalidated, 0};

/* Forget every cached agent (and the relation OIDs on a full reset). */
static void
agent_cache_flush(bool forget_oids)
{
	if (cache_ctx != NULL)
		MemoryContextReset(cache_ctx);
	agents_by_id = NULL;
	agents_by_key = NULL;
	if (forget_oids)
		memset(&relinfo, 0, sizeof(relinfo));
	cache.generation++;
}

/* Invalidation of execlave.agents (or of everything): flush, forgetting the OIDs. */
static void
agent_cache_invalidated(bool full)
{
	agent_cache_flush(true);
}

/* Maximum number of agents one backend keeps cached (execlave.agent_cache_size). */
int			execlave_agent_cache_size = 10000;

/* execlave.agent_cache_size, and the registration with the invalidation dispatcher; from _PG_init. */
void
execlave_agent_cache_init(void)
{
	DefineCustomIntVariable("execlave.agent_cache_size",
							gettext_noop("Maximum number of agents cached by each backend."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_agent_cache_size,
							10000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	execlave_cache_register(&cache);
}

/* Process pending invalidation messages so committed changes are seen now. */
void
execlave_agent_cache_sync(void)
{
	AcceptInvalidationMessages();
}

/* Resolve the OIDs and column numbers of execlave.agents if not known yet. */
static void
ensure_relinfo(void)
{
	AgentsRelInfo info;

	if (OidIsValid(relinfo.relid))
		return;
	info.relid = execlave_relid("agents");
	info.pkey_index = execlave_relid("agents_pkey");
	info.key_index = execlave_relid("agents_key_key");
	info.att_id = execlave_attnum(info.relid, "id");
	info.att_key = execlave_attnum(info.relid, "key");
	info.att_status = execlave_attnum(info.relid, "status");
	info.att_paused_at = execlave_attnum(info.relid, "paused_at");
	info.att_pause_reason = execlave_attnum(info.relid, "pause_reason");
	info.att_paused_by = execlave_attnum(info.relid, "paused_by");
	relinfo = info;
}

/* Create the hash tables if a flush removed them. */
static void
ensure_tables(void)
{
	HASHCTL		ctl;

	if (cache_ctx == NULL)
		cache_ctx = AllocSetContextCreate(CacheMemoryContext,
										  "execlave agent cache",
										  ALLOCSET_DEFAULT_SIZES);
	if (agents_by_id != NULL)
		return;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(ExeclaveAgent);
	ctl.hcxt = cache_ctx;
	agents_by_id = hash_create("execlave agents by id", 256, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = EXECLAVE_MAX_KEY_LEN + 1;
	ctl.entrysize = sizeof(AgentKeyEntry);
	ctl.hcxt = cache_ctx;
	agents_by_key = hash_create("execlave agents by key", 256, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* Map the status column's text to the enum. */
static ExeclaveAgentStatus
parse_status(const char *s)
{
	if (strcmp(s, "active") == 0)
		return AGENT_ACTIVE;
	if (strcmp(s, "paused") == 0)
		return AGENT_PAUSED;
	if (strcmp(s, "inactive") == 0)
		return AGENT_INACTIVE;
	if (strcmp(s, "archived") == 0)
		return AGENT_ARCHIVED;
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("unexpected agent status \"%s\"", s)));
	return AGENT_ACTIVE;		/* keep compiler quiet */
}

/* What a scan of execlave.agents found, in the caller's memory context. */
typedef struct AgentRow
{
	bool		found;
	pg_uuid_t	id;
	char	   *key;
	ExeclaveAgentStatus status;
	TimestampTz paused_at;
	char	   *pause_reason;
	char	   *paused_by;
} AgentRow;

/* Nullable text column as a C string, or NULL. */
static char *
text_or_null(Datum *values, bool *nulls, AttrNumber att)
{
	return nulls[att - 1] ? NULL : TextDatumGetCString(values[att - 1]);
}

/* execlave_index_scan callback: copy the agent row out of the tuple. */
static void
read_agent_row(HeapTuple tup, TupleDesc desc, void *arg)
{
	AgentRow   *row = (AgentRow *) arg;
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *nulls = palloc(desc->natts * sizeof(bool));
	char	   *status;

	heap_deform_tuple(tup, desc, values, nulls);
	row->found = true;
	memcpy(&row->id, DatumGetUUIDP(values[relinfo.att_id - 1]), sizeof(pg_uuid_t));
	row->key = TextDatumGetCString(values[relinfo.att_key - 1]);
	status = TextDatumGetCString(values[relinfo.att_status - 1]);
	row->status = parse_status(status);
	row->paused_at = nulls[relinfo.att_paused_at - 1] ? 0 :
		DatumGetTimestampTz(values[relinfo.att_paused_at - 1]);
	row->pause_reason = text_or_null(values, nulls, relinfo.att_pause_reason);
	row->paused_by = text_or_null(values, nulls, relinfo.att_paused_by);
}

/* Copy a C string into the cache context (NULL stays NULL). */
static char *
cache_strdup(const char *s)
{
	return s ? MemoryContextStrdup(cache_ctx, s) : NULL;
}

/*
 * Enter a scan result into the cache: the agent under its id and key, or a
 * negative entry under whichever of id/key was asked for.  Inserts of agents
 * invalidate the cache, so negative entries never hide a new agent.
 */
static const ExeclaveAgent *
cache_agent_row(const AgentRow *row, const pg_uuid_t *asked_id, const char *asked_key)
{
	ExeclaveAgent *agent = NULL;
	AgentKeyEntry *kent;
	bool		found;

	ensure_tables();
	if (hash_get_num_entries(agents_by_id) + hash_get_num_entries(agents_by_key) >=
		2L * execlave_agent_cache_size)
	{
		agent_cache_flush(false);
		ensure_tables();
	}

	if (row->found)
	{
		agent = hash_search(agents_by_id, &row->id, HASH_ENTER, &found);
		agent->exists = true;
		strlcpy(agent->key, row->key, sizeof(agent->key));
		agent->status = row->status;
		agent->paused_at = row->paused_at;
		agent->pause_reason = cache_strdup(row->pause_reason);
		agent->paused_by = cache_strdup(row->paused_by);
		kent = hash_search(agents_by_key, agent->key, HASH_ENTER, &found);
		kent->agent = agent;
		return agent;
	}
	if (asked_id != NULL)
	{
		agent = hash_search(agents_by_id, asked_id, HASH_ENTER, &found);
		memset((char *) agent + sizeof(pg_uuid_t), 0, sizeof(ExeclaveAgent) - sizeof(pg_uuid_t));
		agent->exists = false;
	}
	else
	{
		kent = hash_search(agents_by_key, asked_key, HASH_ENTER, &found);
		kent->agent = NULL;
	}
	return NULL;
}

/*
 * Load one agent (by id or by key) and cache the answer, positive or
 * negative.  Retries when an invalidation arrives during the scan.
 */
static const ExeclaveAgent *
load_agent(const pg_uuid_t *id, const char *key)
{
	for (;;)
	{
		uint64		gen;
		ScanKeyData skey;
		AgentRow	row = {0};

		ensure_relinfo();
		gen = cache.generation;

		if (id != NULL)
			ScanKeyInit(&skey, relinfo.att_id, BTEqualStrategyNumber, F_UUID_EQ,
						UUIDPGetDatum(id));
		else
		{
			ScanKeyInit(&skey, relinfo.att_key, BTEqualStrategyNumber, F_TEXTEQ,
						CStringGetTextDatum(key));
			skey.sk_collation = C_COLLATION_OID;
		}
		execlave_index_scan(relinfo.relid, id != NULL ? relinfo.pkey_index : relinfo.key_index,
							1, &skey, read_agent_row, &row);

		/* an invalidation arrived while loading: the row may be stale */
		if (gen != cache.generation)
			continue;
		return cache_agent_row(&row, id, key);
	}
}

/* Find an agent by id: cache first, then the table.  NULL if there is none. */
const ExeclaveAgent *
execlave_agent_lookup_id(const pg_uuid_t *id)
{
	if (agents_by_id != NULL)
	{
		ExeclaveAgent *agent = hash_search(agents_by_id, id, HASH_FIND, NULL);

		if (agent != NULL)
			return agent->exists ? agent : NULL;
	}
	return load_agent(id, NULL);
}

/* Find an agent by key: cache first, then the table.  NULL if there is none. */
const ExeclaveAgent *
execlave_agent_lookup_key(const char *key)
{
	if (agents_by_key != NULL)
	{
		AgentKeyEntry *kent = hash_search(agents_by_key, key, HASH_FIND, NULL);

		if (kent != NULL)
			return kent->agent;
	}
	return load_agent(NULL, key);
}

/* Value of one hex digit, or -1. */
static inline int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Parse the canonical 8-4-4-4-12 UUID form without raising errors.
 * Returns false for anything else; such text is treated as an agent key.
 */
bool
execlave_parse_uuid(const char *str, pg_uuid_t *out)
{
	int			n = 0;

	for (int pos = 0; pos < 36; pos += 2)
	{
		int			hi,
					lo;

		if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
		{
			if (str[pos] != '-')
				return false;
			pos++;
		}
		hi = hexval(str[pos]);
		lo = hi < 0 ? -1 : hexval(str[pos + 1]);
		if (lo < 0)
			return false;
		out->data[n++] = (unsigned char) ((hi << 4) | lo);
	}
	return str[36] == '\0';
}

/*
 * Does this text have the 8-4-4-4-12 layout of a UUID (whatever the digits)?
 * Keys may not, so such a reference is an id, well-formed or not.
 */
bool
execlave_uuid_layout(const char *s, size_t len)
{
	return len == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

/* Is this a well-formed agent key?  Letters, digits, then . _ : @ - */
static bool
valid_key(const char *s, size_t len)
{
	if (len == 0 || len > EXECLAVE_MAX_KEY_LEN)
		return false;
	if (!isalnum((unsigned char) s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (!(isalnum(c) || c == '.' || c == '_' || c == ':' || c == '@' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Resolve an agent reference (its UUID in canonical form, or its key).
 * Raises 22023 for malformed references, EX002 for unknown agents unless
 * missing_ok, in which case NULL is returned.
 */
const ExeclaveAgent *
execlave_agent_resolve(const char *ref, bool missing_ok)
{
	size_t		len = strlen(ref);
	pg_uuid_t	id;
	const ExeclaveAgent *agent;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("agent reference must not be empty"),
				 errhint("Pass the agent's key or its UUID.")));
	if (len > EXECLAVE_MAX_KEY_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("agent reference is too long (%zu bytes, at most %d)",
						len, EXECLAVE_MAX_KEY_LEN)));

	if (execlave_parse_uuid(ref, &id))
		agent = execlave_agent_lookup_id(&id);
	else if (execlave_uuid_layout(ref, len))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid agent UUID \"%s\"", ref),
				 errdetail("A UUID has 32 hexadecimal digits in groups of 8-4-4-4-12.")));
	else if (valid_key(ref, len))
		agent = execlave_agent_lookup_key(ref);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid agent reference \"%s\"", ref),
				 errdetail("An agent is named by its UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) or by its key: letters and digits, then letters, digits, '.', '_', ':', '@' or '-', at most %d bytes.",
						   EXECLAVE_MAX_KEY_LEN)));

	if (agent == NULL && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_EXECLAVE_UNKNOWN_AGENT),
				 errmsg("agent \"%s\" does not exist", ref),
				 errhint("Register it with execlave_register_agent().")));
	return agent;
}
