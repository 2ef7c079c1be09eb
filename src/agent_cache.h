/*
 * agent_cache.h
 *		The backend-local cache of agents: lookups by id, key or reference.
 */
#ifndef EXECLAVE_AGENT_CACHE_H
#define EXECLAVE_AGENT_CACHE_H

#include "execlave.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

/* Agent statuses, in the order of the SQL CHECK constraint. */
typedef enum ExeclaveAgentStatus
{
	AGENT_ACTIVE = 0,
	AGENT_PAUSED,
	AGENT_INACTIVE,
	AGENT_ARCHIVED
} ExeclaveAgentStatus;

/*
 * One agent as the backend-local cache holds it.  Strings live in the
 * cache's memory context: valid until the next invalidation is processed,
 * so callers copy what they need before running anything that can accept
 * invalidation messages.
 */
typedef struct ExeclaveAgent
{
	pg_uuid_t	id;				/* hash key of the id table */
	bool		exists;			/* false: cached "no such agent" */
	char		key[EXECLAVE_MAX_KEY_LEN + 1];
	ExeclaveAgentStatus status;
	TimestampTz paused_at;		/* 0 when not paused */
	char	   *pause_reason;	/* NULL when not paused */
	char	   *paused_by;		/* NULL when not paused */
} ExeclaveAgent;

extern int	execlave_agent_cache_size;

extern void execlave_agent_cache_init(void);
extern const ExeclaveAgent *execlave_agent_lookup_id(const pg_uuid_t *id);
extern const ExeclaveAgent *execlave_agent_lookup_key(const char *key);
extern const ExeclaveAgent *execlave_agent_resolve(const char *ref, bool missing_ok);
extern bool execlave_parse_uuid(const char *str, pg_uuid_t *out);
extern bool execlave_uuid_layout(const char *s, size_t len);
extern void execlave_agent_cache_sync(void);

#endif							/* EXECLAVE_AGENT_CACHE_H */
