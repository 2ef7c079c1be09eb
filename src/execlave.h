/*
 * execlave.h
 *		Declarations shared between execlave's modules.
 *
 * Each module (config, agent_cache, agents, traces) exposes an init function
 * called once from _PG_init() and a small C API used by the other modules.
 * Exported symbols are prefixed execlave_; static helpers are not.
 */
#ifndef EXECLAVE_H
#define EXECLAVE_H

#include "compat.h"

#include "datatype/timestamp.h"
#include "access/htup.h"
#include "access/skey.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/uuid.h"

struct Latch;

/* Name of the schema that holds execlave's tables and internal functions. */
#define EXECLAVE_SCHEMA			"execlave"

/* Version of the extension, for the webhook User-Agent. */
#define EXECLAVE_VERSION		"0.1.2"

/* Longest agent key accepted, in bytes. */
#define EXECLAVE_MAX_KEY_LEN	128

/*
 * execlave's own SQLSTATEs (class EX).  Keep README.md's table in step.
 */
#define ERRCODE_EXECLAVE_AGENT_PAUSED		MAKE_SQLSTATE('E','X','0','0','1')
#define ERRCODE_EXECLAVE_UNKNOWN_AGENT		MAKE_SQLSTATE('E','X','0','0','2')
#define ERRCODE_EXECLAVE_POLICY_BLOCKED		MAKE_SQLSTATE('E','X','0','0','3')
#define ERRCODE_EXECLAVE_AGENT_ARCHIVED		MAKE_SQLSTATE('E','X','0','0','4')
#define ERRCODE_EXECLAVE_UNKNOWN_GRANT		MAKE_SQLSTATE('E','X','0','0','5')
#define ERRCODE_EXECLAVE_UNKNOWN_POLICY		MAKE_SQLSTATE('E','X','0','0','6')
#define ERRCODE_EXECLAVE_UNKNOWN_WEBHOOK	MAKE_SQLSTATE('E','X','0','0','7')
#define ERRCODE_EXECLAVE_UNKNOWN_DELIVERY	MAKE_SQLSTATE('E','X','0','0','8')

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

/* config.c */
extern int	execlave_agent_cache_size;
extern int	execlave_trace_retention_days;
extern void execlave_config_init(void);
extern bool execlave_preloaded(void);
extern void execlave_require_preload(const char *feature);

/* scan.c */
typedef void (*execlave_tuple_fn) (HeapTuple tup, TupleDesc desc, void *arg);
extern void execlave_index_scan(Oid relid, Oid indexid, int nkeys, ScanKeyData *keys,
								execlave_tuple_fn fn, void *arg);
extern void execlave_heap_scan(Oid relid, execlave_tuple_fn fn, void *arg);
extern AttrNumber execlave_tupdesc_attnum(TupleDesc desc, const char *name);
extern Oid	execlave_relid(const char *name);
extern AttrNumber execlave_attnum(Oid relid, const char *name);

/* agent_cache.c */
extern void execlave_agent_cache_init(void);
extern const ExeclaveAgent *execlave_agent_lookup_id(const pg_uuid_t *id);
extern const ExeclaveAgent *execlave_agent_lookup_key(const char *key);
extern const ExeclaveAgent *execlave_agent_resolve(const char *ref, bool missing_ok);
extern bool execlave_parse_uuid(const char *str, pg_uuid_t *out);
extern bool execlave_uuid_layout(const char *s, size_t len);
extern void execlave_agent_cache_sync(void);

/* agents.c */
extern const char *execlave_agent_status_name(ExeclaveAgentStatus status);
extern void execlave_check_agent_usable(const ExeclaveAgent *agent);
extern const ExeclaveAgent *execlave_agent_from_arg(FunctionCallInfo fcinfo, int argno,
													const char *argname, bool missing_ok);

/* actions.c */
#define EXECLAVE_NUM_ACTIONS	8
extern const char *const execlave_action_names[EXECLAVE_NUM_ACTIONS];
extern int	execlave_action_bit(const char *name, int len);
extern uint8 execlave_actions_mask(ArrayType *arr, bool raise);
extern ArrayType *execlave_actions_array(uint8 mask);
extern void execlave_unknown_action(const char *name) pg_attribute_noreturn();

/* grants.c */
extern int	execlave_grant_cache_size;
extern void execlave_grants_init(void);

/* traces.c */
extern void execlave_traces_init(void);
extern void execlave_trace_time_window(TimestampTz now, TimestampTz *earliest, TimestampTz *latest);

/* policy.c */
extern void execlave_policy_init(void);

/* apikeys.c */
extern void execlave_apikeys_init(void);
extern char *execlave_actor_name(void);

/* webhooks.c, webhook_worker.c */
#define EXECLAVE_MAX_RETRIES	50
extern char *execlave_database;
extern int	execlave_webhook_batch_size;
extern int	execlave_webhook_concurrency;
extern int	execlave_webhook_endpoint_concurrency;
extern int	execlave_webhook_timeout_ms;
extern int	execlave_webhook_lease_ms;
extern int	execlave_webhook_poll_interval_ms;
extern char *execlave_webhook_retry_schedule;
extern bool execlave_webhook_allow_private;
extern bool execlave_am_webhook_worker;
extern void execlave_webhooks_init(void);
extern void execlave_webhook_publish(struct Latch *latch, Oid dbid);
extern int	execlave_parse_schedule(const char *spec, double *out, int max, const char **bad);
PGDLLEXPORT extern void execlave_webhook_worker_main(Datum arg);

/* recorder.c */
extern int	execlave_record_timeout_ms;
PGDLLEXPORT extern void execlave_recorder_main(Datum arg);

#endif							/* EXECLAVE_H */
