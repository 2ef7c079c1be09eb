-------------------------------------------------------------------------------
-- Roles (cluster-wide; created when absent, never dropped by the extension)
-------------------------------------------------------------------------------
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_reader') THEN
        CREATE ROLE execlave_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_app') THEN
        CREATE ROLE execlave_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_admin') THEN
        CREATE ROLE execlave_admin NOLOGIN;
    END IF;
END
$roles$;

GRANT USAGE ON SCHEMA execlave TO execlave_reader, execlave_app, execlave_admin;

