/*
 * execlave.c
 *		Library entry point: module magic and _PG_init().
 *
 * _PG_init() only calls each module's init function.  The library works when
 * loaded on demand by CREATE EXTENSION; loading it through
 * shared_preload_libraries additionally enables the features that need
 * postmaster-time registration (see preload.c, execlave_require_preload()).
 * Each module defines its own settings in its init; the "execlave." prefix
 * is reserved last.
 */

#include "execlave.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "agent_cache.h"
#include "anomaly.h"
#include "apikeys.h"
#include "cache.h"
#include "clock.h"
#include "grants.h"
#include "lifecycle.h"
#include "otlp.h"
#include "usage_limits.h"
#include "policy_cache.h"
#include "preload.h"
#include "recorder.h"
#include "stats.h"
#include "traces.h"
#include "webhooks.h"
#include "windows.h"



PG_MODULE_MAGIC;

void		_PG_init(void);

/* Initialise every module, once per process. */
void
_PG_init(void)
{
	execlave_preload_init();	/* first: the others ask how they were loaded */
	execlave_cache_init();
	execlave_agent_cache_init();
	execlave_grants_init();
	execlave_lifecycle_init();
	execlave_traces_init();
	execlave_policy_cache_init();
	execlave_clock_init();
	execlave_stats_init();
	execlave_windows_init();
	execlave_limits_init();
	execlave_anomaly_init();
	execlave_webhooks_init();
	execlave_recorder_init();
	execlave_apikeys_init();
	execlave_otlp_init();
	/* after every module has defined its settings */
	MarkGUCPrefixReserved("execlave");
}
