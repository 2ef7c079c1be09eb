/*
 * execlave 0.1.0: install script.
 *
 * Layout: tables and internal helpers live in schema execlave; user-facing
 * functions (execlave_*) are created in the extension's schema (public by
 * default) so they resolve with a default search_path.  Function bodies name
 * only the fixed schemas execlave and pg_catalog.  SECURITY DEFINER functions
 * pin search_path = pg_catalog, pg_temp.
 */

\echo Use "CREATE EXTENSION execlave" to load this file. \quit

CREATE SCHEMA execlave;
COMMENT ON SCHEMA execlave IS 'execlave: tables and internal functions of the AI-agent governance layer';

