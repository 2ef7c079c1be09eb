/*
 * execlave.h
 *		What every module of execlave shares: the schema name, the version,
 *		the length of an agent key, and execlave's own SQLSTATEs.  Each module
 *		declares what it exports in its own header.
 */
#ifndef EXECLAVE_H
#define EXECLAVE_H

#include "compat.h"

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

#endif							/* EXECLAVE_H */
