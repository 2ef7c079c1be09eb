
-------------------------------------------------------------------------------
-- Human approval: the require_approval mode (README: "Human approval")
-------------------------------------------------------------------------------
-- A policy in mode require_approval that fires in execlave_enforce (and no
-- block policy does) answers allowed: false, requires_approval: true and the
-- id of a pending row of execlave.approvals, bound to the digest of the
-- action context.  execlave_approve / execlave_deny decide it; the agent's
-- next execlave_enforce with the same context consumes an approval (once);
-- execlave_verify_approval answers whether an approval covers a context,
-- with a certificate signed by the installation's Ed25519 key.  At ingestion
-- (a trace INSERT) the mode behaves like flag.

-- the fourth mode, for policies and their violations
ALTER TABLE execlave.policies DROP CONSTRAINT policies_mode_check,
    ADD CONSTRAINT policies_mode_check CHECK (mode IN ('log', 'flag', 'block', 'require_approval'));
COMMENT ON COLUMN execlave.policies.mode IS 'log: record; flag: record, mark the trace flagged_for_review, emit policy.violated; block: refuse (EX003); require_approval: execlave_enforce answers requires_approval with a pending execlave.approvals row (at ingestion: as flag)';
ALTER TABLE execlave.violations DROP CONSTRAINT violations_mode_check,
    ADD CONSTRAINT violations_mode_check CHECK (mode IN ('log', 'flag', 'block', 'require_approval'));

-- the two events
ALTER TABLE execlave.events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (event_type IN
        ('policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold',
         'approval.requested', 'approval.resolved', 'webhook.test'));
ALTER TABLE execlave.webhooks DROP CONSTRAINT webhooks_events_check,
    ADD CONSTRAINT webhooks_events_check CHECK (
        pg_catalog.cardinality(events) > 0
        AND events <@ ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly', 'cost.threshold',
                            'approval.requested', 'approval.resolved']);

CREATE OR REPLACE FUNCTION execlave.webhooks_before_write() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    known constant text[] := ARRAY['policy.violated', 'agent.paused', 'agent.resumed', 'trace.anomaly',
                                   'cost.threshold', 'approval.requested', 'approval.resolved'];
BEGIN
    NEW.url := execlave.check_webhook_url(NEW.url);
    PERFORM execlave.check_webhook_secret(NEW.secret);
    IF NEW.events IS NOT NULL THEN
        IF array_position(NEW.events, NULL) IS NOT NULL THEN
            RAISE EXCEPTION 'events must not contain NULL' USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF NOT NEW.events <@ known THEN
            RAISE EXCEPTION 'unknown event type(s): %', array_to_string(ARRAY(
                    SELECT e FROM unnest(NEW.events) e WHERE e <> ALL (known)), ', ')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Valid events: ' || array_to_string(known, ', ') || ' (NULL or ''{*}'': all).';
        END IF;
        IF cardinality(NEW.events) = 0 THEN
            RAISE EXCEPTION 'events must not be empty'
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Name at least one event type, or pass NULL (or ''{*}'') for all of them.';
        END IF;
        NEW.events := ARRAY(SELECT DISTINCT e FROM unnest(NEW.events) e ORDER BY 1);
    END IF;
    NEW.updated_at := now();
    IF TG_OP = 'INSERT' THEN
        NEW.created_at := now();
        NEW.created_by := execlave.actor();
    END IF;
    IF NEW.active AND (TG_OP = 'INSERT' OR NOT OLD.active) THEN
        NEW.disabled_at := NULL;
        NEW.disabled_reason := NULL;
    ELSIF NOT NEW.active AND (TG_OP = 'INSERT' OR OLD.active) THEN
        NEW.disabled_at := now();
        NEW.disabled_reason := coalesce(NEW.disabled_reason, 'disabled by ' || execlave.actor());
    END IF;
    RETURN NEW;
END
$$;

-------------------------------------------------------------------------------
-- The requests
-------------------------------------------------------------------------------
CREATE TABLE execlave.approvals (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    agent_id        uuid        NOT NULL,
    agent_key       text        NOT NULL,
    policies        jsonb       NOT NULL,
    context         jsonb       NOT NULL,
    digest          text        NOT NULL,
    status          text        NOT NULL DEFAULT 'pending',
    requested_at    timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    requested_by    text        NOT NULL,
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text,
    decision_reason text,
    consumed_at     timestamptz,
    CONSTRAINT approvals_pkey PRIMARY KEY (id),
    CONSTRAINT approvals_status_check CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'consumed')),
    CONSTRAINT approvals_decided_check CHECK (
        CASE status WHEN 'pending' THEN decided_at IS NULL
                    WHEN 'expired' THEN true
                    ELSE decided_at IS NOT NULL AND decided_by IS NOT NULL END),
    CONSTRAINT approvals_consumed_check CHECK ((status = 'consumed') = (consumed_at IS NOT NULL)),
    CONSTRAINT approvals_context_check CHECK (pg_catalog.jsonb_typeof(context) = 'object'),
    CONSTRAINT approvals_policies_check CHECK (pg_catalog.jsonb_typeof(policies) = 'array'),
    CONSTRAINT approvals_digest_check CHECK (digest COLLATE "C" ~ '^[0-9a-f]{64}$'),
    CONSTRAINT approvals_reason_check CHECK (octet_length(decision_reason) <= 2000)
);
-- one pending request per agent and action context (repeated calls share it)
CREATE UNIQUE INDEX approvals_pending_key ON execlave.approvals (agent_id, digest) WHERE status = 'pending';
-- the approvals an enforce may consume
CREATE INDEX approvals_approved_idx ON execlave.approvals (agent_id, digest) WHERE status = 'approved';
-- the sweep of expired requests, the retention purge
CREATE INDEX approvals_open_expiry_idx ON execlave.approvals (expires_at) WHERE status IN ('pending', 'approved');
CREATE INDEX approvals_requested_idx ON execlave.approvals (requested_at);
CREATE INDEX approvals_agent_idx ON execlave.approvals (agent_id, requested_at);
COMMENT ON TABLE execlave.approvals IS 'Approval requests of require_approval policies: the action context and its digest, pending until approved, denied, expired or cancelled (the agent paused); an approval is consumed by one execlave_enforce with the same digest. Written only by the extension''s functions';
COMMENT ON COLUMN execlave.approvals.policies IS 'The require_approval policies that fired: [{policy_id, policy_name, policy_type, message}]';
COMMENT ON COLUMN execlave.approvals.context IS 'The normalized action context (execlave.approval_context): input, environment, metadata, estimated_cost, tools; absent fields omitted';
COMMENT ON COLUMN execlave.approvals.digest IS 'SHA-256 (hex) of the UTF-8 text of context as jsonb prints it';
COMMENT ON COLUMN execlave.approvals.expires_at IS 'A pending request must be decided, and an approval used, before this';
SELECT pg_catalog.pg_extension_config_dump('execlave.approvals', '');

-- The installation's Ed25519 key for approval certificates: one row, the
-- 32-byte seed (the private key) readable by the owner only; not dumped (a
-- restored database makes its own key, and publishes it).
CREATE TABLE execlave.approval_signing_key (
    id          boolean     NOT NULL DEFAULT true,
    seed        bytea       NOT NULL,
    public_key  bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT approval_signing_key_pkey PRIMARY KEY (id),
    CONSTRAINT approval_signing_key_one CHECK (id),
    CONSTRAINT approval_signing_key_seed_check CHECK (octet_length(seed) = 32 AND octet_length(public_key) = 32)
);
COMMENT ON TABLE execlave.approval_signing_key IS 'The Ed25519 key that signs approval certificates (seed = private key, owner only); the public key is published by execlave_approval_public_key()';
SELECT pg_catalog.pg_extension_config_dump('execlave.approval_signing_key', 'WHERE false');

-------------------------------------------------------------------------------
-- Ed25519 (libsodium) in C
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.ed25519_new_seed() RETURNS bytea
LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'execlave_ed25519_new_seed';
COMMENT ON FUNCTION execlave.ed25519_new_seed() IS 'Internal: 32 random bytes (pg_strong_random) for an Ed25519 seed';
CREATE FUNCTION execlave.ed25519_public_key(seed bytea) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'execlave_ed25519_public_key';
COMMENT ON FUNCTION execlave.ed25519_public_key(bytea) IS 'Internal: the Ed25519 public key of a 32-byte seed (libsodium)';
CREATE FUNCTION execlave.ed25519_sign(seed bytea, message bytea) RETURNS bytea
LANGUAGE C IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'execlave_ed25519_sign';
COMMENT ON FUNCTION execlave.ed25519_sign(bytea, bytea) IS 'Internal: the 64-byte Ed25519 signature of message by the key of seed (libsodium, RFC 8032)';
CREATE FUNCTION execlave.ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT AS 'MODULE_PATHNAME', 'execlave_ed25519_verify';
COMMENT ON FUNCTION execlave.ed25519_verify(bytea, bytea, bytea) IS 'Is signature a valid Ed25519 signature of message by public_key? (libsodium)';

-- Who asks and who decides: in an HTTP request its key's actor (api:<name>),
-- else the session's role as SET ROLE left it (not the owner of the
-- SECURITY DEFINER function that records it).
CREATE FUNCTION execlave.outer_role() RETURNS text
LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'execlave_outer_role';
COMMENT ON FUNCTION execlave.outer_role() IS 'Internal: the session''s current role outside any SECURITY DEFINER function';
CREATE FUNCTION execlave.approval_actor() RETURNS text
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN coalesce(CASE WHEN execlave_api.caller_scope() <> '' THEN execlave.actor() ELSE execlave.outer_role() END,
                    'unknown');
END
$$;
COMMENT ON FUNCTION execlave.approval_actor() IS 'Internal: the actor stamped on approval requests and decisions (api:<key name> in an HTTP request, else the session''s role)';

INSERT INTO execlave.approval_signing_key (seed, public_key)
SELECT s, execlave.ed25519_public_key(s) FROM execlave.ed25519_new_seed() s;

-------------------------------------------------------------------------------
-- The action context and its digest
-------------------------------------------------------------------------------
-- The normalized context of a pre-execution request: a jsonb object of
-- input (text), environment (metadata's "environment"), metadata (without
-- it; absent when empty), estimated_cost (numeric without trailing zeros)
-- and tools (sorted, without duplicates; absent when empty); null and
-- absent fields are omitted.  execlave_enforce and execlave_verify_approval
-- both come here, so the SQL call, the HTTP call and the SDK's action context
-- give the same object for the same action.
CREATE FUNCTION execlave.approval_context(input text, estimated_cost numeric, tools text[], metadata jsonb)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    meta jsonb := CASE WHEN jsonb_typeof(metadata) = 'object' THEN metadata END;
BEGIN
    RETURN (SELECT jsonb_object_agg(e.key, e.value)
            FROM jsonb_each(jsonb_build_object(
                'input', input,
                'environment', meta -> 'environment',
                'metadata', nullif(meta - 'environment', '{}'),
                'estimated_cost', trim_scale(estimated_cost),
                'tools', (SELECT jsonb_agg(DISTINCT t ORDER BY t) FROM unnest(tools) t))) e
            WHERE e.value <> 'null');
END
$$;
COMMENT ON FUNCTION execlave.approval_context(text, numeric, text[], jsonb) IS 'The normalized action context of a request (README: "Human approval"): {input, environment, metadata, estimated_cost, tools}, absent and null fields omitted';

-- SHA-256 (hex) of the context's text as jsonb prints it (keys sorted by
-- length then bytes, one space after ':' and ',').
CREATE FUNCTION execlave.approval_digest(context jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN encode(sha256(convert_to(context::text, 'UTF8')), 'hex');
END
$$;
COMMENT ON FUNCTION execlave.approval_digest(jsonb) IS 'The digest an approval is bound to: SHA-256 (hex) of the UTF-8 text of the normalized action context';

-- A caller's action context (verify; the SDK's actionContext): an object of
-- input, environment, metadata, estimated_cost (or estimatedCost) and tools,
-- normalized as execlave_enforce's request is (environment joins metadata as
-- the HTTP enforce call does).  22023 for anything else.
CREATE FUNCTION execlave.approval_context_of(context jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bad text;
    meta jsonb;
    cost jsonb;
BEGIN
    PERFORM execlave.check_not_null(context, 'context');
    IF jsonb_typeof(context) <> 'object' THEN
        RAISE EXCEPTION 'context must be a JSON object, not %', jsonb_typeof(context)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass {"input": ..., "environment": ..., "metadata": {...}, "estimated_cost": ..., "tools": [...]}.';
    END IF;
    bad := (SELECT k FROM jsonb_object_keys(context) k
            WHERE k <> ALL (ARRAY['input', 'environment', 'metadata', 'estimated_cost', 'estimatedCost', 'tools'])
            ORDER BY k LIMIT 1);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'unknown context field "%"', left(bad, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Fields: input, environment, metadata, estimated_cost (or estimatedCost), tools.';
    END IF;
    IF context ? 'estimated_cost' AND context ? 'estimatedCost' THEN
        RAISE EXCEPTION 'give estimated_cost or estimatedCost, not both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    cost := nullif(coalesce(context -> 'estimated_cost', context -> 'estimatedCost'), 'null');
    IF jsonb_typeof(context -> 'input') NOT IN ('string', 'null') THEN
        RAISE EXCEPTION 'context field "input" must be a string' USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(context -> 'environment') NOT IN ('string', 'null') THEN
        RAISE EXCEPTION 'context field "environment" must be a string' USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(context -> 'metadata') NOT IN ('object', 'null') THEN
        RAISE EXCEPTION 'context field "metadata" must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(cost) <> 'number' THEN
        RAISE EXCEPTION 'context field "estimated_cost" must be a number' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    meta := nullif(context -> 'metadata', 'null');
    IF context ->> 'environment' IS NOT NULL THEN
        meta := coalesce(meta, '{}') || jsonb_build_object('environment', context ->> 'environment');
    END IF;
    RETURN execlave.approval_context(context ->> 'input', (cost #>> '{}')::numeric,
                                     execlave_api.text_array(context -> 'tools', 'tools'), meta);
END
$$;
COMMENT ON FUNCTION execlave.approval_context_of(jsonb) IS 'Internal: a caller''s action context object, checked and normalized (execlave.approval_context)';

-- An approval request as the SQL functions answer it.
CREATE FUNCTION execlave.approval_json(a execlave.approvals) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN jsonb_build_object('id', a.id, 'agent_id', a.agent_id, 'agent_key', a.agent_key,
        'status', CASE WHEN a.status IN ('pending', 'approved') AND a.expires_at <= clock_timestamp()
                       THEN 'expired' ELSE a.status END,
        'policies', a.policies, 'context', a.context, 'digest', a.digest,
        'requested_at', a.requested_at, 'requested_by', a.requested_by, 'expires_at', a.expires_at,
        'decided_at', a.decided_at, 'decided_by', a.decided_by, 'decision_reason', a.decision_reason,
        'consumed_at', a.consumed_at);
END
$$;
COMMENT ON FUNCTION execlave.approval_json(execlave.approvals) IS 'Internal: an approval request as JSON (a pending or approved request past its expiry shows as expired)';

-- The pre-execution gate (C, execlave_enforce, through fmgr; granted to no
-- role): consume an approval of this agent and context, or else return its
-- pending request, creating it (and its approval.requested event) if there
-- is none.  Answers {"status": "consumed" | "pending", "id", "expires_at",
-- "created"}.  Race-safe: the consuming UPDATE locks the row and re-checks
-- status = 'approved', so of concurrent calls one consumes and the others
-- go on to (share) a new pending request; the unique index on pending
-- requests makes concurrent creators share one row.
CREATE FUNCTION execlave.approval_gate(agent uuid, agent_key text, input text, estimated_cost numeric,
                                       tools text[], metadata jsonb, policies jsonb, timeout_s integer)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx jsonb := execlave.approval_context(input, estimated_cost, tools, metadata);
    dg text := execlave.approval_digest(ctx);
    t timestamptz := clock_timestamp();
    r execlave.approvals;
BEGIN
    UPDATE execlave.approvals a SET status = 'consumed', consumed_at = t
    WHERE a.id = (SELECT x.id FROM execlave.approvals x
                  WHERE x.agent_id = agent AND x.digest = dg AND x.status = 'approved' AND x.expires_at > t
                  ORDER BY x.decided_at LIMIT 1 FOR UPDATE)
      AND a.status = 'approved'
    RETURNING * INTO r;
    IF FOUND THEN
        RETURN jsonb_build_object('status', 'consumed', 'id', r.id, 'expires_at', r.expires_at, 'created', false);
    END IF;
    -- a pending request of this context that the clock has ended
    UPDATE execlave.approvals a SET status = 'expired'
    WHERE a.agent_id = agent AND a.digest = dg AND a.status = 'pending' AND a.expires_at <= t;
    INSERT INTO execlave.approvals (agent_id, agent_key, policies, context, digest, requested_at, requested_by, expires_at)
    VALUES (agent, agent_key, policies, ctx, dg, t, execlave.approval_actor(),
            t + make_interval(secs => greatest(timeout_s, 1)))
    ON CONFLICT (agent_id, digest) WHERE status = 'pending' DO NOTHING
    RETURNING * INTO r;
    IF FOUND THEN
        PERFORM execlave.emit_event('approval.requested', agent, jsonb_build_object(
            'approval_id', r.id, 'agent_id', r.agent_id, 'agent_key', r.agent_key, 'policies', r.policies,
            'context', r.context, 'digest', r.digest, 'requested_at', r.requested_at,
            'requested_by', r.requested_by, 'expires_at', r.expires_at));
        RETURN jsonb_build_object('status', 'pending', 'id', r.id, 'expires_at', r.expires_at, 'created', true);
    END IF;
    SELECT * INTO r FROM execlave.approvals a WHERE a.agent_id = agent AND a.digest = dg AND a.status = 'pending';
    RETURN jsonb_build_object('status', 'pending', 'id', r.id, 'expires_at', r.expires_at, 'created', false);
END
$$;
COMMENT ON FUNCTION execlave.approval_gate(uuid, text, text, numeric, text[], jsonb, jsonb, integer) IS 'Internal (execlave_enforce): consume an approval of the agent for this action context, else return (or create, with its approval.requested event) the pending request';

-------------------------------------------------------------------------------
-- Decisions
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.decide_approval(approval uuid, decision text, reason text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.approvals;
    t timestamptz;
BEGIN
    PERFORM execlave.check_not_null(approval, 'id');
    IF decision IS DISTINCT FROM 'approved' AND decision IS DISTINCT FROM 'denied' THEN
        RAISE EXCEPTION 'a decision is approved or denied, not %', coalesce(decision, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM execlave.check_not_null(reason, 'reason');
    IF btrim(reason) = '' THEN
        RAISE EXCEPTION 'reason must not be empty' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Say why; the agent''s operator and the audit trail see it.';
    END IF;
    IF octet_length(reason) > 2000 THEN
        RAISE EXCEPTION 'reason is too long (% bytes, at most 2000)', octet_length(reason)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- two deciders of one request serialize on its row
    SELECT * INTO r FROM execlave.approvals a WHERE a.id = approval FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'approval request % does not exist', approval USING ERRCODE = 'EX012';
    END IF;
    t := clock_timestamp();
    IF r.status = 'expired' OR (r.status = 'pending' AND r.expires_at <= t) THEN
        RAISE EXCEPTION 'approval request % expired at %', approval, r.expires_at USING ERRCODE = 'EX014',
            HINT = 'The agent asks again with its next call.';
    ELSIF r.status <> 'pending' THEN
        RAISE EXCEPTION 'approval request % is already %', approval, r.status USING ERRCODE = 'EX013',
            DETAIL = format('decided at %s by %s', r.decided_at, r.decided_by);
    END IF;
    UPDATE execlave.approvals a SET status = decision, decided_at = t, decided_by = execlave.approval_actor(),
        decision_reason = reason
    WHERE a.id = approval
    RETURNING * INTO r;
    PERFORM execlave.emit_event('approval.resolved', r.agent_id, jsonb_build_object(
        'approval_id', r.id, 'agent_id', r.agent_id, 'agent_key', r.agent_key, 'decision', r.status,
        'digest', r.digest, 'decided_at', r.decided_at, 'decided_by', r.decided_by, 'reason', r.decision_reason,
        'policies', r.policies, 'expires_at', r.expires_at));
    RETURN execlave.approval_json(r);
END
$$;
COMMENT ON FUNCTION execlave.decide_approval(uuid, text, text) IS 'Internal: approve or deny a pending request (row lock; EX012 unknown, EX013 decided, EX014 expired), emit approval.resolved';

CREATE FUNCTION execlave.approve(approval uuid, reason text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN execlave.decide_approval(approval, 'approved', reason);
END
$$;
COMMENT ON FUNCTION execlave.approve(uuid, text) IS 'Implementation of execlave_approve(): approve a pending request; the agent''s next execlave_enforce with the same action context is allowed, once';
CREATE FUNCTION execlave.deny(approval uuid, reason text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN execlave.decide_approval(approval, 'denied', reason);
END
$$;
COMMENT ON FUNCTION execlave.deny(uuid, text) IS 'Implementation of execlave_deny(): deny a pending request';

CREATE FUNCTION execlave_approve(id uuid, reason text) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.approve($1, $2);
COMMENT ON FUNCTION execlave_approve(uuid, text) IS 'Approve a pending approval request (execlave_admin): records who, when and why, emits approval.resolved. EX012 unknown, EX013 already decided, EX014 expired';
CREATE FUNCTION execlave_deny(id uuid, reason text) RETURNS jsonb
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
RETURN execlave.deny($1, $2);
COMMENT ON FUNCTION execlave_deny(uuid, text) IS 'Deny a pending approval request (execlave_admin): records who, when and why, emits approval.resolved. EX012 unknown, EX013 already decided, EX014 expired';

-------------------------------------------------------------------------------
-- Certificates
-------------------------------------------------------------------------------
-- The signed message: "execlave-approval-v1\n" <id> "\n" <digest> "\n"
-- <decision> "\n" <decided_at as YYYY-MM-DDTHH:MI:SS.ffffffZ>, UTF-8.
CREATE FUNCTION execlave.approval_certificate_message(id uuid, digest text, decision text, decided_at timestamptz)
RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN 'execlave-approval-v1' || E'\n' || id::text || E'\n' || digest || E'\n' || decision || E'\n'
        || to_char(decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;
COMMENT ON FUNCTION execlave.approval_certificate_message(uuid, text, text, timestamptz) IS 'The text an approval certificate signs (README: "Certificates")';

-- The certificate of a decided request, signed with the installation's key.
CREATE FUNCTION execlave.approval_certificate(a execlave.approvals) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    k execlave.approval_signing_key;
    decision text := CASE WHEN a.status = 'consumed' THEN 'approved' ELSE a.status END;
    at text := to_char(a.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
BEGIN
    IF a.decided_at IS NULL OR decision NOT IN ('approved', 'denied') THEN
        RETURN NULL;
    END IF;
    SELECT * INTO STRICT k FROM execlave.approval_signing_key;
    RETURN jsonb_build_object('version', 1, 'algorithm', 'Ed25519',
        'key_id', left(encode(sha256(k.public_key), 'hex'), 16),
        'approval_id', a.id, 'action_context_hash', a.digest, 'decision', decision, 'decided_at', at,
        'approved_by', CASE WHEN decision = 'approved' THEN a.decided_by END,
        'signature', translate(encode(execlave.ed25519_sign(k.seed, convert_to(
            execlave.approval_certificate_message(a.id, a.digest, decision, a.decided_at), 'UTF8')), 'base64'), E'\n', ''));
END
$$;
COMMENT ON FUNCTION execlave.approval_certificate(execlave.approvals) IS 'Internal: the Ed25519 certificate of a decided request over (id, digest, decision, decided_at); NULL while undecided';

-- Does approval cover context?  {valid, reason, status, approval_id,
-- action_context_hash, certificate}; reason: pending, denied, expired,
-- cancelled, action_context_mismatch (NULL when valid).
CREATE FUNCTION execlave.verify_approval(approval uuid, context jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ctx jsonb;
    r execlave.approvals;
    st text;
    reason text;
BEGIN
    PERFORM execlave.check_not_null(approval, 'id');
    ctx := execlave.approval_context_of(context);
    SELECT * INTO r FROM execlave.approvals a WHERE a.id = approval;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'approval request % does not exist', approval USING ERRCODE = 'EX012';
    END IF;
    st := execlave.approval_json(r) ->> 'status';
    reason := CASE
        WHEN st NOT IN ('approved', 'consumed') THEN st
        WHEN ctx IS NULL OR execlave.approval_digest(ctx) <> r.digest THEN 'action_context_mismatch' END;
    RETURN jsonb_build_object('valid', reason IS NULL, 'reason', reason, 'status', st, 'approval_id', r.id,
        'action_context_hash', r.digest, 'consumed_at', r.consumed_at,
        'certificate', execlave.approval_certificate(r));
END
$$;
COMMENT ON FUNCTION execlave.verify_approval(uuid, jsonb) IS 'Implementation of execlave_verify_approval(): does the approval cover this action context? With the signed certificate of the decision';
CREATE FUNCTION execlave_verify_approval(id uuid, context jsonb) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
RETURN execlave.verify_approval($1, $2);
COMMENT ON FUNCTION execlave_verify_approval(uuid, jsonb) IS 'Does approval request id cover this action context ({input, environment, metadata, estimated_cost, tools})? {valid, reason, status, approval_id, action_context_hash, certificate}; the certificate is an Ed25519 signature checkable with execlave_approval_public_key()';

CREATE FUNCTION execlave.approval_public_key()
RETURNS TABLE (key_id text, algorithm text, public_key text, public_key_pem text, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN QUERY SELECT left(encode(sha256(k.public_key), 'hex'), 16), 'Ed25519'::text,
        encode(k.public_key, 'base64'),
        '-----BEGIN PUBLIC KEY-----' || E'\n' || encode('\x302a300506032b6570032100'::bytea || k.public_key, 'base64')
            || E'\n' || '-----END PUBLIC KEY-----' || E'\n',
        k.created_at
    FROM execlave.approval_signing_key k;
END
$$;
COMMENT ON FUNCTION execlave.approval_public_key() IS 'Implementation of execlave_approval_public_key(): the public half of the certificate key';
CREATE FUNCTION execlave_approval_public_key()
RETURNS TABLE (key_id text, algorithm text, public_key text, public_key_pem text, created_at timestamptz)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT * FROM execlave.approval_public_key();
END;
COMMENT ON FUNCTION execlave_approval_public_key() IS 'The installation''s Ed25519 public key for approval certificates: key id (16 hex of its SHA-256), raw key (base64) and SubjectPublicKeyInfo PEM';

-------------------------------------------------------------------------------
-- Pausing cancels; the DBA's view
-------------------------------------------------------------------------------
CREATE FUNCTION execlave.agents_cancel_approvals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.approvals;
BEGIN
    IF NEW.status IN ('paused', 'archived') AND OLD.status IS DISTINCT FROM NEW.status THEN
        FOR r IN
            UPDATE execlave.approvals a SET status = 'cancelled', decided_at = clock_timestamp(),
                decided_by = execlave.approval_actor(),
                decision_reason = left('agent ' || NEW.status || coalesce(': ' || NEW.pause_reason, ''), 2000)
            WHERE a.agent_id = NEW.id AND a.status IN ('pending', 'approved')
            RETURNING *
        LOOP
            PERFORM execlave.emit_event('approval.resolved', r.agent_id, jsonb_build_object(
                'approval_id', r.id, 'agent_id', r.agent_id, 'agent_key', r.agent_key, 'decision', r.status,
                'digest', r.digest, 'decided_at', r.decided_at, 'decided_by', r.decided_by,
                'reason', r.decision_reason, 'policies', r.policies, 'expires_at', r.expires_at));
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave.agents_cancel_approvals() IS 'Trigger: pausing or archiving an agent cancels its pending (and unused approved) requests, each with an approval.resolved event';
CREATE TRIGGER agents_cancel_approvals AFTER UPDATE OF status ON execlave.agents
    FOR EACH ROW EXECUTE FUNCTION execlave.agents_cancel_approvals();

CREATE VIEW execlave.pending_approvals WITH (security_barrier) AS
SELECT a.id, a.agent_id, a.agent_key, a.policies, a.context, a.digest, a.requested_at, a.requested_by,
       a.expires_at, a.expires_at - pg_catalog.clock_timestamp() AS expires_in
FROM execlave.approvals a
WHERE a.status = 'pending' AND a.expires_at > pg_catalog.clock_timestamp()
ORDER BY a.requested_at;
COMMENT ON VIEW execlave.pending_approvals IS 'Approval requests waiting for a decision (not yet expired), oldest first';

-- Maintenance: the purge step (execlave.maintenance_step, 20-maintenance.sql)
-- sweeps expired requests and, past execlave.violation_retention_days,
-- removes closed ones.

-------------------------------------------------------------------------------
-- HTTP: the approval routes (README: "HTTP API"); the route table, the
-- dispatcher (the segment after "approvals" is the request's id),
-- http_enforce and /rest/rpc/enforce (202 with requiresApproval and
-- approvalRequestId) and the error table are in 50-http-api.sql
-------------------------------------------------------------------------------

-- An approval request in the hosted shape.  status is the SDKs' vocabulary
-- (pending, approved, denied, expired: a consumed approval is approved, a
-- cancelled request denied); approvalStatus is execlave's own.
CREATE FUNCTION execlave_api.hosted_approval(a execlave.approvals) RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text := execlave.approval_json(a) ->> 'status';
BEGIN
    RETURN jsonb_build_object('id', a.id,
        'status', CASE st WHEN 'consumed' THEN 'approved' WHEN 'cancelled' THEN 'denied' ELSE st END,
        'approvalStatus', st, 'agentId', a.agent_id, 'agentKey', a.agent_key,
        'policies', (SELECT coalesce(jsonb_agg(jsonb_build_object('policyId', p -> 'policy_id', 'policyName', p -> 'policy_name',
                         'policyType', p -> 'policy_type', 'message', p -> 'message') ORDER BY o), '[]')
                     FROM jsonb_array_elements(a.policies) WITH ORDINALITY AS t(p, o)),
        'actionContext', a.context, 'actionContextHash', a.digest,
        'requestedAt', a.requested_at, 'requestedBy', a.requested_by, 'expiresAt', a.expires_at,
        'decidedAt', a.decided_at, 'decidedBy', a.decided_by, 'decisionReason', a.decision_reason,
        'consumedAt', a.consumed_at);
END
$$;
COMMENT ON FUNCTION execlave_api.hosted_approval(execlave.approvals) IS 'Internal: an approval request as the hosted API shows it';

-- The request of path id that the caller may see (admin: any; an agent key:
-- its own agent's, else 404 as if it did not exist).
CREATE FUNCTION execlave_api.visible_approval(path_id text) RETURNS execlave.approvals
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.approvals;
BEGIN
    SELECT * INTO r FROM execlave.approvals a WHERE a.id = path_id::uuid;
    IF NOT FOUND OR (execlave_api.caller_scope() <> 'admin' AND r.agent_id IS DISTINCT FROM execlave.api_caller_agent()) THEN
        RAISE EXCEPTION 'approval request % does not exist', left(path_id, 64) USING ERRCODE = 'EX012';
    END IF;
    RETURN r;
END
$$;
COMMENT ON FUNCTION execlave_api.visible_approval(text) IS 'Internal: the approval request of a path the caller may see; EX012 (404) otherwise, 22P02 (400) for a malformed id';

-- GET /api/approvals/{id}: {"success": true, "data": {id, status, ...}}
CREATE FUNCTION execlave_api.http_get_approval(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    status := 200;
    answer := jsonb_build_object('success', true, 'data', execlave_api.hosted_approval(execlave_api.visible_approval(path_id)));
END
$$;
COMMENT ON FUNCTION execlave_api.http_get_approval(text, jsonb, jsonb) IS 'HTTP GET /api/approvals/{id}: the request (data.status pending / approved / denied / expired, data.decisionReason); admin keys, or the agent''s own key';

-- GET /api/approvals?status=&agentId=&limit=: admin keys
CREATE FUNCTION execlave_api.http_list_approvals(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    st text := coalesce(query ->> 'status', 'pending');
    lim integer;
    agent uuid;
BEGIN
    IF st NOT IN ('pending', 'approved', 'denied', 'expired', 'cancelled', 'consumed', 'all') THEN
        RAISE EXCEPTION 'unknown status "%"', left(st, 64) USING ERRCODE = 'invalid_parameter_value',
            HINT = 'status: pending, approved, denied, expired, cancelled, consumed or all.';
    END IF;
    lim := coalesce(query ->> 'limit', '100')::integer;
    IF lim NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be from 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF query ->> 'agentId' IS NOT NULL THEN
        agent := execlave.resolve_agent(query ->> 'agentId');
    END IF;
    status := 200;
    answer := jsonb_build_object('success', true, 'data', (
        SELECT coalesce(jsonb_agg(execlave_api.hosted_approval(x) ORDER BY x.requested_at DESC), '[]')
        FROM (SELECT a.* FROM execlave.approvals a
              WHERE (agent IS NULL OR a.agent_id = agent)
                AND (st = 'all' OR (execlave.approval_json(a) ->> 'status') = st)
              ORDER BY a.requested_at DESC LIMIT lim) x));
END
$$;
COMMENT ON FUNCTION execlave_api.http_list_approvals(text, jsonb, jsonb) IS 'HTTP GET /api/approvals: requests by status (default pending), newest first; admin keys';

-- POST /api/approvals/{id}/verify {"actionContext": {...}}: {valid, reason,
-- certificate, verifiedAt}.  With the agent's own key a valid verify of an
-- approved request is its use: the SDKs run the action right after it and
-- never call enforce again, so it consumes the approval (race-safe, as the
-- gate does) and a second one answers valid: false, reason "consumed".
CREATE FUNCTION execlave_api.http_verify_approval(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.approvals;
    v jsonb;
    valid boolean;
    reason text;
    consumed boolean := false;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"actionContext": "object"}');
    PERFORM execlave_api.required(body, 'actionContext');
    r := execlave_api.visible_approval(path_id);
    v := execlave.verify_approval(r.id, body -> 'actionContext');
    valid := (v ->> 'valid')::boolean;
    reason := v ->> 'reason';
    IF execlave_api.caller_scope() = 'agent' AND valid THEN
        UPDATE execlave.approvals a SET status = 'consumed', consumed_at = clock_timestamp()
        WHERE a.id = (v ->> 'approval_id')::uuid AND a.status = 'approved' AND a.expires_at > clock_timestamp();
        consumed := FOUND;
        IF NOT consumed THEN
            valid := false;
            reason := 'consumed';
        END IF;
        SELECT * INTO r FROM execlave.approvals a WHERE a.id = (v ->> 'approval_id')::uuid;
    END IF;
    status := 200;
    answer := jsonb_build_object('success', true, 'data', jsonb_build_object('valid', valid, 'reason', reason,
        'approvalId', r.id, 'status', execlave_api.hosted_approval(r) -> 'status',
        'approvalStatus', execlave_api.hosted_approval(r) -> 'approvalStatus', 'consumed', consumed,
        'actionContextHash', r.digest, 'certificate', v -> 'certificate', 'verifiedAt', clock_timestamp()));
END
$$;
COMMENT ON FUNCTION execlave_api.http_verify_approval(text, jsonb, jsonb) IS 'HTTP POST /api/approvals/{id}/verify: does the approval cover actionContext? data {valid, reason, consumed, certificate, verifiedAt}; with the agent''s own key a valid verify consumes the approval (once); admin keys, or the agent''s own key';

-- POST /api/approvals/{id}/approve | deny {"reason": "..."}: admin keys
CREATE FUNCTION execlave_api.http_decide_approval(path_id text, decision text, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r execlave.approvals;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"reason": "string"}');
    PERFORM execlave_api.required(body, 'reason');
    PERFORM execlave.decide_approval(path_id::uuid, decision, body ->> 'reason');
    SELECT * INTO r FROM execlave.approvals a WHERE a.id = path_id::uuid;
    status := 200;
    answer := jsonb_build_object('success', true, 'data', execlave_api.hosted_approval(r));
END
$$;
COMMENT ON FUNCTION execlave_api.http_decide_approval(text, text, jsonb) IS 'Internal: POST /api/approvals/{id}/approve and /deny: decide a pending request with a reason; 409 (EX013) when already decided, 410 (EX014) when expired';
CREATE FUNCTION execlave_api.http_approve_approval(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_decide_approval(path_id, 'approved', body) h;
END
$$;
COMMENT ON FUNCTION execlave_api.http_approve_approval(text, jsonb, jsonb) IS 'HTTP POST /api/approvals/{id}/approve {"reason"}: approve a pending request; admin keys';
CREATE FUNCTION execlave_api.http_deny_approval(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_decide_approval(path_id, 'denied', body) h;
END
$$;
COMMENT ON FUNCTION execlave_api.http_deny_approval(text, jsonb, jsonb) IS 'HTTP POST /api/approvals/{id}/deny {"reason"}: deny a pending request; admin keys';


REVOKE ALL ON FUNCTION execlave_api.hosted_approval(execlave.approvals), execlave_api.visible_approval(text),
    execlave_api.http_get_approval(text, jsonb, jsonb), execlave_api.http_list_approvals(text, jsonb, jsonb),
    execlave_api.http_verify_approval(text, jsonb, jsonb), execlave_api.http_decide_approval(text, text, jsonb),
    execlave_api.http_approve_approval(text, jsonb, jsonb), execlave_api.http_deny_approval(text, jsonb, jsonb) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------
REVOKE ALL ON execlave.approvals, execlave.approval_signing_key, execlave.pending_approvals FROM PUBLIC;
GRANT SELECT ON execlave.approvals, execlave.pending_approvals TO execlave_admin, execlave_reader;
REVOKE ALL ON FUNCTION execlave.ed25519_new_seed(), execlave.ed25519_public_key(bytea),
    execlave.ed25519_sign(bytea, bytea), execlave.ed25519_verify(bytea, bytea, bytea),
    execlave.approval_context(text, numeric, text[], jsonb), execlave.approval_digest(jsonb),
    execlave.approval_context_of(jsonb), execlave.approval_json(execlave.approvals),
    execlave.approval_gate(uuid, text, text, numeric, text[], jsonb, jsonb, integer),
    execlave.decide_approval(uuid, text, text), execlave.approve(uuid, text), execlave.deny(uuid, text),
    execlave_approve(uuid, text), execlave_deny(uuid, text),
    execlave.approval_certificate_message(uuid, text, text, timestamptz),
    execlave.approval_certificate(execlave.approvals),
    execlave.verify_approval(uuid, jsonb), execlave_verify_approval(uuid, jsonb),
    execlave.approval_public_key(), execlave_approval_public_key(),
    execlave.agents_cancel_approvals(), execlave.outer_role(), execlave.approval_actor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION execlave.decide_approval(uuid, text, text), execlave.approve(uuid, text),
    execlave.deny(uuid, text), execlave_approve(uuid, text), execlave_deny(uuid, text) TO execlave_admin;
GRANT EXECUTE ON FUNCTION execlave.ed25519_verify(bytea, bytea, bytea),
    execlave.approval_context(text, numeric, text[], jsonb), execlave.approval_digest(jsonb),
    execlave.approval_certificate_message(uuid, text, text, timestamptz),
    execlave.verify_approval(uuid, jsonb), execlave_verify_approval(uuid, jsonb),
    execlave.approval_public_key(), execlave_approval_public_key()
    TO execlave_admin, execlave_app, execlave_reader;
