/*
 * sqlcall.h
 *		Every piece of SQL the C code runs in a caller's session, in one place:
 *		the internal SECURITY DEFINER functions it calls through fmgr and the
 *		statements it runs through SPI, and the pinned search_path around them.
 */
#ifndef EXECLAVE_SQLCALL_H
#define EXECLAVE_SQLCALL_H

#include "postgres.h"

#include "utils/uuid.h"

/* Traces replayed into an agent's statistics when its entry is rebuilt */
#define REPLAY_TRACES	200

/* The windowed counters' rebuild from execlave.traces (windows.c) */
extern const char *const execlave_sql_agent_usage;
extern const char *const execlave_sql_agent_replay;
extern const char *const execlave_sql_budget_usage;

extern void execlave_call_internal(const char *name, int nargs, Oid *argtypes, Datum *args);
extern void execlave_sql_record_violations(const char *json);
extern void execlave_sql_emit_signals(const char *type, const pg_uuid_t *agent, const char *json);
extern void execlave_sql_pause_for_policy(const pg_uuid_t *agent, const char *reason);
extern Datum execlave_sql_approval_gate(const pg_uuid_t *agent, const char *agent_key,
										Datum input, Datum estimated_cost, Datum tools,
										Datum metadata, const char *policies, int timeout_s);
extern int	execlave_pin_search_path(void);
extern void execlave_unpin_search_path(int nest);

#endif							/* EXECLAVE_SQLCALL_H */
