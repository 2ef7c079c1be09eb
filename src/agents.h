/*
 * agents.h
 *		The kill-switch check and agent arguments of SQL functions.
 */
#ifndef EXECLAVE_AGENTS_H
#define EXECLAVE_AGENTS_H

#include "agent_cache.h"

#include "fmgr.h"

extern const char *execlave_agent_status_name(ExeclaveAgentStatus status);
extern void execlave_check_agent_usable(const ExeclaveAgent *agent);
extern const ExeclaveAgent *execlave_agent_from_arg(FunctionCallInfo fcinfo, int argno,
													const char *argname, bool missing_ok);

#endif							/* EXECLAVE_AGENTS_H */
