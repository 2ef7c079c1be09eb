/*
 * config.c
 *		execlave's GUCs and the preload check.
 *
 * All settings are in the reserved "execlave." prefix.  Features that need
 * the library in shared_preload_libraries call execlave_require_preload(),
 * which fails with a hint instead of misbehaving.
 */
#include "execlave.h"

#include "miscadmin.h"
#include "utils/guc.h"

/* Maximum number of agents one backend keeps cached (execlave.agent_cache_size). */
int			execlave_agent_cache_size = 10000;

/* True when _PG_init ran while shared_preload_libraries was being processed. */
static bool loaded_at_startup = false;

/* Define the GUCs and remember how the library was loaded. */
void
execlave_config_init(void)
{
	loaded_at_startup = process_shared_preload_libraries_in_progress;

	DefineCustomIntVariable("execlave.agent_cache_size",
							gettext_noop("Maximum number of agents cached by each backend."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_agent_cache_size,
							10000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.grant_cache_size",
							gettext_noop("Maximum number of source/target pairs whose grants each backend caches."),
							gettext_noop("When exceeded the cache is emptied and refilled on demand."),
							&execlave_grant_cache_size,
							100000, 16, 10000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("execlave.record_timeout",
							gettext_noop("Longest wait to commit a blocked request's violations in a separate transaction."),
							gettext_noop("Also the recorder's lock and statement timeout. Past it the violations go to the server log."),
							&execlave_record_timeout_ms,
							5000, 100, 600000,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("execlave");
}

/* Was the library loaded through shared_preload_libraries? */
bool
execlave_preloaded(void)
{
	return loaded_at_startup;
}

/* Raise a clear error when a feature needing preloading is used without it. */
void
execlave_require_preload(const char *feature)
{
	if (!loaded_at_startup)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires execlave to be loaded via shared_preload_libraries", feature),
				 errhint("Add execlave to shared_preload_libraries in postgresql.conf and restart the server.")));
}
