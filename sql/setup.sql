-- Install, layout and catalogue checks that every later test relies on.
CREATE EXTENSION execlave;

-- Test helper: run a statement, report its SQLSTATE and message instead of failing.
CREATE FUNCTION public.expect_error(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- Tables live in schema execlave
SELECT c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'execlave' AND c.relkind IN ('r', 'p', 'v')
ORDER BY 1;

-- User-facing functions resolve with the default search_path
SHOW search_path;
SELECT p.proname, n.nspname
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname LIKE 'execlave\_%'
ORDER BY 1;

-- Every function and table of the extension has a COMMENT
SELECT pg_describe_object(d.classid, d.objid, 0) AS missing_comment
FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'execlave'
WHERE d.deptype = 'e'
  AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_namespace'::regclass)
  AND obj_description(d.objid, d.classid::regclass::name) IS NULL
  AND NOT (d.classid = 'pg_class'::regclass
           AND (SELECT relkind FROM pg_class WHERE oid = d.objid) IN ('S', 'i', 'c'))
ORDER BY 1;

-- Every SQL and PL/pgSQL function of the extension pins search_path to
-- exactly pg_catalog, pg_temp, SECURITY DEFINER or not (the one exception:
-- the procedure pg_cron runs, which commits and so cannot; its body names
-- only schema-qualified functions)
SELECT p.oid::regprocedure AS unpinned
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'execlave'
WHERE l.lanname IN ('sql', 'plpgsql')
  AND coalesce(p.proconfig, '{}') <> ARRAY['search_path=pg_catalog, pg_temp']
  AND p.oid <> 'execlave.run_maintenance()'::regprocedure
ORDER BY 1;
-- SECURITY DEFINER only with that path
SELECT count(*) AS security_definer_pinned FROM pg_proc p
JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'execlave'
WHERE p.prosecdef AND p.proconfig = ARRAY['search_path=pg_catalog, pg_temp'];
SELECT count(*) AS security_definer_unpinned FROM pg_proc p
JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'execlave'
WHERE p.prosecdef AND p.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, pg_temp'];

-- User data survives pg_dump
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension WHERE extname = 'execlave' ORDER BY 1;

-- The three roles exist
SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'execlave\_%' ORDER BY 1;

-- Loaded through shared_preload_libraries in this cluster
SELECT 'execlave' = ANY (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')) AS preloaded;
