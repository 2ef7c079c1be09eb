/*
 * execlave 0.1.0 -> 0.1.1: upgrade script.
 *
 * 0.1.1 is the hardening release.  Its library changes (a wider SSRF guard,
 * fixes found by fuzzing and the sanitizer run) need no SQL change; this
 * script adds what the SQL side gained.  Released scripts are never edited:
 * see "Versions and upgrades" in docs/ARCHITECTURE.md.
 */

\echo Use "ALTER EXTENSION execlave UPDATE TO '0.1.1'" to load this file. \quit

CREATE FUNCTION execlave.webhook_address_refusal(address inet) RETURNS text
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'execlave_webhook_address_refusal';
COMMENT ON FUNCTION execlave.webhook_address_refusal(inet) IS 'Why the webhook SSRF guard refuses to connect to this address (e.g. ''private (10.0.0.0/8)''), or NULL for a globally reachable address; deliveries apply it to every resolved address unless execlave.webhook_allow_private is on';
REVOKE ALL ON FUNCTION execlave.webhook_address_refusal(inet) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.webhook_address_refusal(inet)
    TO execlave_reader, execlave_app, execlave_admin;

-- The webhook worker claims each endpoint's due deliveries separately (so
-- that one endpoint's backlog cannot fill its pool): by endpoint, then time.
CREATE INDEX deliveries_webhook_due_idx ON execlave.deliveries (webhook_id, next_attempt_at)
    WHERE status IN ('pending', 'delivering', 'retrying');

-- The URL check also refuses a normalized form over 2048 bytes, with
-- decoded control or non-ASCII bytes, or that changes when normalized again.
COMMENT ON FUNCTION execlave.check_webhook_url(text) IS 'Validate a webhook URL (http or https, with a host, no credentials, at most 2048 bytes, and a normalized form that is printable ASCII, at most 2048 bytes and normalizes to itself); returns it normalized, or raises 22023';
