
-------------------------------------------------------------------------------
-- Grants: a partial revoke by execlave_admin
--
-- execlave_revoke(source, target, actions) re-issues the remaining actions of
-- a grant it revokes as a new grant that names the old one in replaces; an
-- execlave_admin that is not superuser had no INSERT privilege on that column
-- and the call failed.  The role may now set it, and the trigger checks that
-- the grant replaced is of the same pair, revoked, with the same expiry and
-- covering at least the re-issued actions, so replaces can never be made up.
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION execlave.grants_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.actions := execlave.canonical_actions(NEW.actions);
        IF NEW.expires_at <= clock_timestamp() THEN
            RAISE EXCEPTION 'expires_at must be in the future'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = format('expires_at is %s; the time is now %s.', NEW.expires_at, clock_timestamp()),
                      HINT = 'Pass a future timestamptz, or NULL for a grant that never expires.';
        END IF;
        IF NEW.replaces IS NOT NULL AND NOT EXISTS (
               SELECT 1 FROM execlave.grants o
               WHERE o.id = NEW.replaces AND o.source_id = NEW.source_id AND o.target_id = NEW.target_id
                 AND o.revoked_at IS NOT NULL AND o.expires_at IS NOT DISTINCT FROM NEW.expires_at
                 AND o.actions @> NEW.actions) THEN
            RAISE EXCEPTION 'replaces must name a revoked grant of the same pair, with the same expiry, covering the actions'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'replaces is set by execlave_revoke(source, target, actions) when it re-issues what remains of a grant.';
        END IF;
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
        NEW.revoked_at := NULL;
        NEW.revoked_by := NULL;
        RETURN NEW;
    END IF;
    IF (NEW.id, NEW.source_id, NEW.target_id, NEW.actions, NEW.expires_at, NEW.created_at,
        NEW.created_by, NEW.replaces)
       IS DISTINCT FROM
       (OLD.id, OLD.source_id, OLD.target_id, OLD.actions, OLD.expires_at, OLD.created_at,
        OLD.created_by, OLD.replaces)
       OR (OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at) THEN
        RAISE EXCEPTION 'grants cannot be changed, only revoked once'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Revoke the grant with execlave_revoke() and grant anew.';
    END IF;
    IF OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL THEN
        NEW.revoked_at := now();
        NEW.revoked_by := execlave.actor();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION execlave.grants_before_write() IS 'Trigger: validates and canonicalises actions, refuses past expiries and a replaces that does not name a revoked grant it continues, stamps creation and revocation with the acting role, refuses any other change';
GRANT INSERT (replaces) ON execlave.grants TO execlave_admin;
