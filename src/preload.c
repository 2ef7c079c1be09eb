/*
 * preload.c
 *		How the library was loaded.  Features that need it in
 *		shared_preload_libraries (shared memory, background workers) call
 *		execlave_require_preload(), which fails with a hint instead of
 *		misbehaving.
 */

#include "preload.h"

#include "miscadmin.h"

/* True when _PG_init ran while shared_preload_libraries was being processed. */
static bool loaded_at_startup = false;

/* Remember how the library was loaded; first thing in _PG_init. */
void
execlave_preload_init(void)
{
	loaded_at_startup = process_shared_preload_libraries_in_progress;
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
