
-------------------------------------------------------------------------------
-- Roles
-------------------------------------------------------------------------------
-- The role execlave's background processes (the webhook worker, the violation
-- recorder) run their statements as: they connect as the bootstrap superuser
-- (PostgreSQL 15 lets a background worker connect only as a login role) and
-- switch to this role for their transactions, so that none of their SQL runs
-- with superuser rights.  NOLOGIN: no client can connect as it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'execlave_worker') THEN
        CREATE ROLE execlave_worker NOLOGIN;
    END IF;
END
$$;
