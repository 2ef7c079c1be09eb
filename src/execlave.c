/*
 * execlave.c
 *		Library entry point: module magic and _PG_init().
 *
 * _PG_init() only calls each module's init function.  The library works when
 * loaded on demand by CREATE EXTENSION; loading it through
 * shared_preload_libraries additionally enables the features that need
 * postmaster-time registration (see config.c, execlave_require_preload()).
 */
#include "execlave.h"
#include "policy.h"

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* Initialise every module, once per process. */
void
_PG_init(void)
{
	execlave_config_init();
	execlave_agent_cache_init();
	execlave_grants_init();
	execlave_traces_init();
	execlave_policy_init();
	execlave_windows_init();
	execlave_webhooks_init();
	execlave_recorder_init();
	execlave_apikeys_init();
	/* after every module has defined its settings */
	MarkGUCPrefixReserved("execlave");
}
