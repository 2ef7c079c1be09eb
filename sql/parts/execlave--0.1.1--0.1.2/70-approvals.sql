
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

-------------------------------------------------------------------------------
-- Maintenance: the purge step sweeps expired requests and, past
-- execlave.violation_retention_days, removes closed ones (the function of
-- 20-maintenance.sql with those lines added)
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION execlave.maintenance_step(run bigint, step jsonb) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cfg jsonb := execlave.maintenance_settings();
    result jsonb := '{}';
    what text := step->>'step';
    n bigint;
    cutoff timestamptz;
    purged jsonb := '{}';
    msg text;
    state text;
BEGIN
    PERFORM set_config('execlave.maintenance_in_progress', 'on', true);
    PERFORM set_config('lock_timeout', cfg->>'maintenance_lock_timeout_ms', true);
    BEGIN
        IF what = 'partition' THEN
            n := execlave.add_trace_partition((step->>'from')::timestamptz, (step->>'to')::timestamptz, step->>'label');
            IF n IS NOT NULL THEN
                result := jsonb_build_object('created', 'traces_p' || (step->>'label'), 'moved', n);
            END IF;
        ELSIF what = 'drop' THEN
            IF to_regclass('execlave.' || quote_ident(step->>'partition')) IS NOT NULL THEN
                -- the parent first (the drop needs it exclusively), agents last (the foreign key)
                LOCK TABLE execlave.traces IN ACCESS EXCLUSIVE MODE;
                LOCK TABLE execlave.agents IN SHARE ROW EXCLUSIVE MODE;
                EXECUTE format('DROP TABLE execlave.%I', step->>'partition');
                result := jsonb_build_object('dropped', step->>'partition');
            END IF;
        ELSIF what = 'default_partition' THEN
            -- rows that no partition will take: outside the horizon (written
            -- before 0.1.2, or with the trigger bypassed); those past the
            -- retention go, the rest are counted
            IF (cfg->>'trace_retention_days')::int > 0 THEN
                cutoff := now() - make_interval(days => (cfg->>'trace_retention_days')::int);
                DELETE FROM execlave.traces_default t WHERE t.started_at < cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
                IF n > 0 THEN
                    result := jsonb_build_object('default_rows_purged', n);
                END IF;
            END IF;
            SELECT count(*) INTO n FROM execlave.traces_default t
            WHERE NOT (t.started_at >= now() - make_interval(days => (cfg->>'trace_max_age_days_effective')::int)
                       AND t.started_at < now() + make_interval(secs => (cfg->>'trace_max_future_s')::int));
            IF n > 0 THEN
                result := result || jsonb_build_object('rows_outside_horizon', n);
            END IF;
        ELSIF what = 'purge' THEN
            IF (cfg->>'delivery_retention_days')::int > 0 THEN
                DELETE FROM execlave.deliveries
                WHERE status = 'succeeded' AND delivered_at < now() - make_interval(days => (cfg->>'delivery_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('deliveries_succeeded', n);
            END IF;
            IF (cfg->>'event_retention_days')::int > 0 THEN
                cutoff := now() - make_interval(days => (cfg->>'event_retention_days')::int);
                DELETE FROM execlave.deliveries WHERE status = 'dead' AND coalesce(last_attempt_at, created_at) < cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('deliveries_dead', n);
                DELETE FROM execlave.events e
                WHERE e.created_at < cutoff AND NOT EXISTS (SELECT 1 FROM execlave.deliveries x WHERE x.event_id = e.id);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('events', n);
            END IF;
            IF (cfg->>'violation_retention_days')::int > 0 THEN
                DELETE FROM execlave.violations
                WHERE created_at < now() - make_interval(days => (cfg->>'violation_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('violations', n);
            END IF;
            -- approval requests: the clock has ended the open ones; the
            -- closed ones go with the violations' retention
            UPDATE execlave.approvals a SET status = 'expired'
            WHERE a.status IN ('pending', 'approved') AND a.expires_at <= clock_timestamp();
            GET DIAGNOSTICS n = ROW_COUNT;
            purged := purged || jsonb_build_object('approvals_expired', n);
            IF (cfg->>'violation_retention_days')::int > 0 THEN
                DELETE FROM execlave.approvals a
                WHERE a.status NOT IN ('pending', 'approved')
                  AND a.requested_at < now() - make_interval(days => (cfg->>'violation_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('approvals', n);
            END IF;
            IF (cfg->>'grant_retention_days')::int > 0 THEN
                cutoff := now() - make_interval(days => (cfg->>'grant_retention_days')::int);
                -- a grant another one replaces goes once its successor has gone
                DELETE FROM execlave.grants g
                WHERE (g.revoked_at < cutoff OR g.expires_at < cutoff)
                  AND NOT EXISTS (SELECT 1 FROM execlave.grants r WHERE r.replaces = g.id);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('grants', n);
                -- API keys revoked or expired as long ago (they refuse requests from the moment they end)
                DELETE FROM execlave.api_keys k WHERE k.revoked_at < cutoff OR k.expires_at < cutoff;
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('api_keys', n);
            END IF;
            IF (cfg->>'cron_history_retention_days')::int > 0 AND to_regclass('cron.job_run_details') IS NOT NULL THEN
                EXECUTE 'DELETE FROM cron.job_run_details r USING cron.job j WHERE j.jobid OPERATOR(pg_catalog.=) r.jobid'
                        ' AND j.jobname OPERATOR(pg_catalog.=) $1 AND r.end_time OPERATOR(pg_catalog.<) $2'
                    USING execlave.maintenance_job_name(),
                          now() - make_interval(days => (cfg->>'cron_history_retention_days')::int);
                GET DIAGNOSTICS n = ROW_COUNT;
                purged := purged || jsonb_build_object('cron_run_history', n);
            END IF;
            -- the runs' own record: a week, and always the last 100
            DELETE FROM execlave.maintenance_runs r
            WHERE r.started_at < now() - interval '7 days' AND r.id <> run
              AND r.id < (SELECT min(x.id) FROM (SELECT y.id FROM execlave.maintenance_runs y ORDER BY y.id DESC LIMIT 100) x);
            result := jsonb_build_object('purged', purged);
        ELSE
            RAISE EXCEPTION 'unknown maintenance step "%"', what USING ERRCODE = 'invalid_parameter_value';
        END IF;
    EXCEPTION
        WHEN lock_not_available OR deadlock_detected THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            result := jsonb_build_object('skipped', step || jsonb_build_object('reason', msg));
        WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
            RAISE WARNING 'execlave maintenance: step % failed: %', step, msg
                USING HINT = 'The other steps went on; see execlave.maintenance_status.';
            result := jsonb_build_object('failed', step || jsonb_build_object('sqlstate', state, 'error', msg));
    END;
    -- fold the step's outcome into the run's summary
    UPDATE execlave.maintenance_runs r SET summary = jsonb_build_object(
        'partitions_created', coalesce(r.summary->'partitions_created', '[]')
            || CASE WHEN result ? 'created' THEN jsonb_build_array(result->'created') ELSE '[]' END,
        'partitions_dropped', coalesce(r.summary->'partitions_dropped', '[]')
            || CASE WHEN result ? 'dropped' THEN jsonb_build_array(result->'dropped') ELSE '[]' END,
        'rows_moved_from_default', coalesce((r.summary->>'rows_moved_from_default')::bigint, 0)
            + coalesce((result->>'moved')::bigint, 0),
        'rows_outside_horizon', coalesce((result->>'rows_outside_horizon')::bigint, (r.summary->>'rows_outside_horizon')::bigint, 0),
        'default_rows_purged', coalesce((r.summary->>'default_rows_purged')::bigint, 0)
            + coalesce((result->>'default_rows_purged')::bigint, 0),
        'purged', coalesce(result->'purged', r.summary->'purged', '{}'),
        'skipped', coalesce(r.summary->'skipped', '[]')
            || CASE WHEN result ? 'skipped' THEN jsonb_build_array(result->'skipped') ELSE '[]' END,
        'failed', coalesce(r.summary->'failed', '[]')
            || CASE WHEN result ? 'failed' THEN jsonb_build_array(result->'failed') ELSE '[]' END)
    WHERE r.id = run;
    RETURN result;
END
$$;

-------------------------------------------------------------------------------
-- HTTP: the approval routes (README: "HTTP API"); the route table, the
-- dispatcher (the segment after "approvals" is the request's id),
-- http_enforce (202 with requiresApproval and approvalRequestId), the
-- error table: the functions of 50-http-api.sql with those changes
-------------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION execlave_api.http_status(sqlstate text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN CASE
        WHEN sqlstate = 'EX001' THEN 423                       -- agent paused
        WHEN sqlstate = 'EX003' THEN 403                       -- blocked by a policy
        WHEN sqlstate IN ('EX002', 'EX005', 'EX006', 'EX007', 'EX008', 'EX009') THEN 404
        WHEN sqlstate = 'EX004' THEN 409                       -- agent archived
        WHEN sqlstate = 'EX012' THEN 404                       -- no such approval request
        WHEN sqlstate = 'EX013' THEN 409                       -- approval request already decided
        WHEN sqlstate = 'EX014' THEN 410                       -- approval request expired
        WHEN sqlstate = 'EX010' THEN 401                       -- not authenticated
        WHEN sqlstate = 'EX011' THEN 403                       -- authorization denied
        WHEN sqlstate IN ('23505', '23503', '55000') THEN 409  -- conflict
        WHEN sqlstate = '42501' THEN 403
        WHEN sqlstate LIKE '22%' OR sqlstate IN ('23502', '23514', '42804', '42883', 'P0001') THEN 400
        WHEN sqlstate IN ('53400', '53300', '40001', '40P01', '57014', '55P03') THEN 503
        ELSE 500
    END;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.error_code(sqlstate text, status integer) RETURNS text
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RETURN CASE
        WHEN sqlstate = 'EX001' THEN 'agent_paused'
        WHEN sqlstate = 'EX002' THEN 'agent_not_found'
        WHEN sqlstate = 'EX003' THEN 'policy_blocked'
        WHEN sqlstate = 'EX004' THEN 'agent_archived'
        WHEN sqlstate = 'EX011' THEN 'not_authorized'
        WHEN sqlstate = 'EX012' THEN 'approval_not_found'
        WHEN sqlstate = 'EX013' THEN 'approval_already_decided'
        WHEN sqlstate = 'EX014' THEN 'approval_expired'
        ELSE CASE status
            WHEN 400 THEN 'validation_error' WHEN 401 THEN 'unauthorized' WHEN 403 THEN 'forbidden'
            WHEN 404 THEN 'not_found' WHEN 409 THEN 'conflict' WHEN 423 THEN 'agent_paused'
            WHEN 503 THEN 'service_unavailable' ELSE 'internal_error' END
    END;
END
$$;

CREATE OR REPLACE FUNCTION execlave_api.routes()
RETURNS TABLE (method text, path text, handler text, keys text, params text[])
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    VALUES
        ('GET',   '/health',                       'health',         'none',  '{}'::text[]),
        ('HEAD',  '/health',                       'health',         'none',  '{}'),
        ('POST',  '/api/agents',                   'register_agent', 'any',   '{}'),
        ('GET',   '/api/agents',                   'list_agents',    'any',   '{search,status,limit}'),
        ('GET',   '/api/agents/{id}',              'get_agent',      'any',   '{}'),
        ('GET',   '/api/agents/{id}/status-poll',  'status_poll',    'any',   '{}'),
        ('POST',  '/api/agents/{id}/heartbeat',    'heartbeat',      'any',   '{}'),
        ('PATCH', '/api/agents/{id}/pause',        'pause_agent',    'admin', '{}'),
        ('PATCH', '/api/agents/{id}/resume',       'resume_agent',   'admin', '{}'),
        ('POST',  '/api/agents/{id}/grants',       'create_grant',   'admin', '{}'),
        ('POST',  '/api/agents/authorize',         'authorize',      'any',   '{}'),
        ('POST',  '/api/webhooks',                 'create_webhook', 'admin', '{}'),
        ('POST',  '/api/policies/enforce',         'enforce',        'any',   '{}'),
        ('POST',  '/api/traces/ingest',            'ingest_traces',  'any',   '{}'),
        ('GET',   '/api/approvals',                'list_approvals', 'admin', '{status,agentId,limit}'),
        ('GET',   '/api/approvals/{id}',           'get_approval',   'any',   '{}'),
        ('POST',  '/api/approvals/{id}/verify',    'verify_approval','any',   '{}'),
        ('POST',  '/api/approvals/{id}/approve',   'approve_approval', 'admin', '{}'),
        ('POST',  '/api/approvals/{id}/deny',      'deny_approval',  'admin', '{}')
$$;

CREATE OR REPLACE FUNCTION execlave_api.http_enforce(path_id text, query jsonb, body jsonb, OUT status integer, OUT answer jsonb)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    agent text;
    aid uuid;
    meta jsonb;
    r jsonb;
    violations jsonb;
    warnings jsonb;
    sys text;
    agent_status text;
BEGIN
    PERFORM execlave_api.check_fields(body, '{"agentId": "string", "input": "string", "environment": "string",
        "metadata": "object", "estimatedCost": "number", "tools": "array", "model": "string", "modelName": "string",
        "toolDescriptors": "any", "conversationHistory": "any", "toolOutputs": "any"}');
    agent := execlave_api.required(body, 'agentId');
    PERFORM execlave_api.required(body, 'input');
    aid := execlave_api.own_agent(agent, 'run a pre-execution check');
    meta := nullif(body -> 'metadata', 'null');
    IF body ->> 'environment' IS NOT NULL THEN
        meta := coalesce(meta, '{}') || jsonb_build_object('environment', body ->> 'environment');
    END IF;
    r := execlave.enforce(agent, body ->> 'input', coalesce(body ->> 'model', body ->> 'modelName'),
                          (body ->> 'estimatedCost')::numeric, execlave_api.text_array(body -> 'tools', 'tools'), meta);
    SELECT coalesce(jsonb_agg(jsonb_build_object('policyId', v -> 'policy_id', 'policyName', v -> 'policy_name',
               'policyType', v -> 'type', 'message', v -> 'message', 'enforcementMode', v -> 'mode',
               'details', v -> 'details') ORDER BY o), '[]'),
           coalesce(jsonb_agg(jsonb_build_object('policyId', v -> 'policy_id', 'policyName', v -> 'policy_name',
               'policyType', v -> 'type', 'message', v -> 'message', 'enforcementMode', v -> 'mode') ORDER BY o)
               FILTER (WHERE v ->> 'mode' <> 'block'), '[]')
    INTO violations, warnings
    FROM jsonb_array_elements(r -> 'violations') WITH ORDINALITY AS t(v, o);
    answer := jsonb_build_object('success', (r ->> 'allowed')::boolean, 'allowed', r -> 'allowed',
        'violations', violations, 'warnings', warnings, 'notes', r -> 'warnings');
    IF (r ->> 'allowed')::boolean THEN
        status := 200;
        answer := answer || jsonb_build_object('data', jsonb_build_object('allowed', true, 'violations', violations,
                                                                          'warnings', warnings));
        IF (r ->> 'approval_consumed')::boolean THEN
            answer := answer || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r -> 'approval_request_id');
            answer := jsonb_set(answer, '{data}', (answer -> 'data')
                || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r -> 'approval_request_id'));
        END IF;
        RETURN;
    END IF;
    -- a require_approval policy fired (and no block policy): 202, the
    -- pending request's id; committed with it and its approval.requested event
    IF (r ->> 'requires_approval')::boolean THEN
        status := 202;
        answer := answer || jsonb_build_object('success', true, 'requiresApproval', true,
            'approvalRequestId', r -> 'approval_request_id', 'approvalExpiresAt', r -> 'approval_expires_at');
        answer := answer || jsonb_build_object('data', jsonb_build_object('allowed', false, 'requiresApproval', true,
            'approvalRequestId', r -> 'approval_request_id', 'approvalExpiresAt', r -> 'approval_expires_at',
            'violations', violations, 'warnings', warnings));
        RETURN;
    END IF;
    status := 403;
    SELECT v ->> 'message' INTO sys FROM jsonb_array_elements(r -> 'violations') v WHERE v ->> 'type' = 'system' LIMIT 1;
    SELECT a.status INTO agent_status FROM execlave.agents a WHERE a.id = aid;
    answer := answer || jsonb_build_object('error', CASE
        WHEN sys IS NOT NULL AND agent_status IN ('paused', 'archived')
            THEN jsonb_build_object('code', 'agent_' || agent_status, 'message', sys)
        ELSE jsonb_build_object('code', 'policy_blocked', 'message', 'request blocked by policy') END);
END
$$;

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

CREATE OR REPLACE FUNCTION execlave_api.dispatch(text) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    raw text := coalesce($1, '');
    headers jsonb := coalesce(nullif(current_setting('request.headers', true), '')::jsonb, '{}');
    method text := upper(coalesce(headers ->> 'x-execlave-method', 'POST'));
    uri text := coalesce(headers ->> 'x-execlave-uri', '/');
    path text := split_part(uri, '?', 1);
    qs text := CASE WHEN strpos(uri, '?') > 0 THEN substr(uri, strpos(uri, '?') + 1) ELSE '' END;
    routes constant jsonb := execlave_api.route_map();
    segs text[] := string_to_array(path, '/');
    tpl text;
    methods jsonb;
    rt jsonb;
    allowed text;
    handler text;
    keys text;
    path_id text;
    query jsonb;
    body jsonb := '{}';
    failure text;
    ctype text;
    status integer;
    answer jsonb;
    bad text;
    parsing boolean := false;
    st text; msg text; det text; hnt text;
    errj jsonb;
BEGIN
    -- the route: /health, or /api[/v1]/ and one of the paths of routes(),
    -- literally or with an agent reference as the segment after "agents"
    -- (an approval request's id after "approvals")
    IF path = '/health' THEN
        tpl := path;
    ELSIF segs[2] = 'api' THEN
        segs := CASE WHEN segs[3] = 'v1' THEN segs[4:] ELSE segs[3:] END;
        IF cardinality(segs) BETWEEN 1 AND 3 AND '' <> ALL (segs) THEN
            tpl := '/api/' || array_to_string(segs, '/');
            IF strpos(tpl, '{') > 0 OR NOT routes ? tpl THEN
                tpl := NULL;
                IF segs[1] IN ('agents', 'approvals') AND cardinality(segs) >= 2 THEN
                    path_id := segs[2];
                    tpl := '/api/' || segs[1] || '/{id}' || coalesce('/' || segs[3], '');
                END IF;
            END IF;
        END IF;
    END IF;
    methods := routes -> tpl;
    IF methods IS NULL THEN
        RETURN execlave_api.respond(404, execlave_api.error_body('not_found', format('no route for %s %s', method, left(path, 200)),
            hint => 'See README.md, "HTTP API", for the routes.'));
    END IF;
    rt := methods -> method;
    IF rt IS NULL THEN
        allowed := (SELECT string_agg(m, ', ' ORDER BY m) FROM jsonb_object_keys(methods) m);
        RETURN execlave_api.respond(405, execlave_api.error_body('method_not_allowed',
            format('%s is not allowed on %s', method, left(path, 200)), hint => 'Allowed: ' || allowed || '.'),
            jsonb_build_object('Allow', allowed));
    END IF;
    handler := rt ->> 0;
    keys := rt ->> 1;
    -- the key
    IF keys <> 'none' THEN
        failure := execlave_api.authenticate(headers ->> 'x-api-key');
        IF failure IS NOT NULL THEN
            RETURN execlave_api.respond(401, execlave_api.error_body('unauthorized', failure, 'EX010',
                CASE WHEN failure = 'missing API key' THEN 'Send the key in the X-API-Key header or as Authorization: Bearer <key>.' END),
                '{"WWW-Authenticate": "Bearer realm=\"execlave\", ApiKey header=\"X-API-Key\""}');
        END IF;
        IF keys = 'admin' AND execlave_api.caller_scope() <> 'admin' THEN
            RETURN execlave_api.respond(403, execlave_api.error_body('forbidden', 'this operation needs an admin API key',
                '42501', 'The key is bound to one agent.'));
        END IF;
    END IF;
    -- the body's type; the query, the path's agent reference and the body are
    -- decoded in the handler's block (one subtransaction per request)
    IF method NOT IN ('GET', 'HEAD') AND btrim(raw, E' \t\r\n') <> '' THEN
        ctype := lower(btrim(split_part(coalesce(headers ->> 'x-execlave-content-type', ''), ';', 1)));
        IF ctype <> 'application/json' THEN
            RETURN execlave_api.respond(415, execlave_api.error_body('unsupported_media_type',
                format('the body must be JSON sent with Content-Type: application/json (got "%s")', left(ctype, 100))));
        END IF;
    ELSE
        raw := '';
    END IF;
    -- the handler: an error undoes what it wrote
    BEGIN
        query := execlave_api.query_params(qs);
        path_id := execlave_api.url_decode(path_id);
        IF query <> '{}' THEN
            bad := (SELECT k FROM jsonb_object_keys(query) k WHERE NOT (rt -> 2) ? k ORDER BY k LIMIT 1);
            IF bad IS NOT NULL THEN
                RAISE EXCEPTION 'unknown query parameter "%"', left(bad, 64) USING ERRCODE = 'invalid_parameter_value',
                    HINT = CASE WHEN rt -> 2 = '[]' THEN 'This call takes no query parameters.'
                                ELSE 'Parameters: ' || (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(rt -> 2) x) || '.' END;
            END IF;
        END IF;
        IF raw <> '' THEN
            parsing := true;
            body := raw::jsonb;
            parsing := false;
            IF jsonb_typeof(body) <> 'object' THEN
                parsing := true;
                RAISE EXCEPTION 'the body must be a JSON object, not %', jsonb_typeof(body) USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END IF;
        CASE handler
            WHEN 'health' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_health(path_id, query, body) h;
            WHEN 'register_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_register_agent(path_id, query, body) h;
            WHEN 'list_agents' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_list_agents(path_id, query, body) h;
            WHEN 'authorize' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_authorize(path_id, query, body) h;
            WHEN 'get_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_get_agent(path_id, query, body) h;
            WHEN 'status_poll' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_status_poll(path_id, query, body) h;
            WHEN 'heartbeat' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_heartbeat(path_id, query, body) h;
            WHEN 'pause_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_pause_agent(path_id, query, body) h;
            WHEN 'resume_agent' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_resume_agent(path_id, query, body) h;
            WHEN 'create_grant' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_create_grant(path_id, query, body) h;
            WHEN 'create_webhook' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_create_webhook(path_id, query, body) h;
            WHEN 'enforce' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_enforce(path_id, query, body) h;
            WHEN 'ingest_traces' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_ingest_traces(path_id, query, body) h;
            WHEN 'list_approvals' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_list_approvals(path_id, query, body) h;
            WHEN 'get_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_get_approval(path_id, query, body) h;
            WHEN 'verify_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_verify_approval(path_id, query, body) h;
            WHEN 'approve_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_approve_approval(path_id, query, body) h;
            WHEN 'deny_approval' THEN SELECT h.status, h.answer INTO status, answer FROM execlave_api.http_deny_approval(path_id, query, body) h;
        END CASE;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
        IF st = 'PGRST' THEN            -- from the shared checks (require_admin, own_agent)
            errj := msg::jsonb;
            status := (det::jsonb ->> 'status')::integer;
            st := errj ->> 'code';
            msg := errj ->> 'message';
            hnt := errj ->> 'hint';
            det := errj ->> 'details';
        ELSE
            status := execlave_api.http_status(st);
        END IF;
        IF parsing THEN
            msg := CASE WHEN st = '22023' THEN msg ELSE 'the body is not valid JSON: ' || msg END;
        END IF;
        answer := execlave_api.error_body(CASE WHEN parsing THEN 'invalid_json' ELSE execlave_api.error_code(st, status) END,
                                          msg, st, hnt, det);
    END;
    RETURN execlave_api.respond(status, answer);
END
$$;

-- /rest/rpc/enforce: 202 {allowed: false, requiresApproval, approvalRequestId} too
CREATE OR REPLACE FUNCTION execlave_api.enforce("agentId" text, input text, model text DEFAULT NULL,
                                                "estimatedCost" numeric DEFAULT NULL, tools text[] DEFAULT NULL,
                                                metadata jsonb DEFAULT NULL, environment text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r jsonb;
    answer jsonb;
    sys text;
    st text; msg text; det text; hnt text;
BEGIN
    PERFORM execlave_api.own_agent("agentId", 'run a pre-execution check');
    r := execlave.enforce("agentId", input, model, "estimatedCost", tools,
                          CASE WHEN environment IS NULL THEN metadata
                               ELSE coalesce(metadata, '{}') || jsonb_build_object('environment', environment) END);
    answer := jsonb_build_object('allowed', r->'allowed',
        'violations', coalesce((SELECT jsonb_agg(jsonb_build_object('policyId', v->'policy_id', 'policyName', v->'policy_name',
                                   'type', v->'type', 'message', v->'message', 'mode', v->'mode', 'details', v->'details'))
                                FROM jsonb_array_elements(r->'violations') v), '[]'),
        'warnings', r->'warnings');
    IF (r->>'allowed')::boolean THEN
        IF (r->>'approval_consumed')::boolean THEN
            answer := answer || jsonb_build_object('approvalConsumed', true, 'approvalRequestId', r->'approval_request_id');
        END IF;
        RETURN answer;
    END IF;
    IF (r->>'requires_approval')::boolean THEN
        PERFORM set_config('response.status', '202', true);
        RETURN answer || jsonb_build_object('requiresApproval', true, 'approvalRequestId', r->'approval_request_id',
                                            'approvalExpiresAt', r->'approval_expires_at');
    END IF;
    SELECT v->>'message' INTO sys FROM jsonb_array_elements(r->'violations') v WHERE v->>'type' = 'system' LIMIT 1;
    IF sys IS NOT NULL
       AND (SELECT a.status FROM execlave.agents a WHERE a.id = execlave.resolve_agent("agentId")) = 'paused' THEN
        PERFORM set_config('response.status', '423', true);
        RETURN jsonb_build_object('code', 'EX001', 'message', sys, 'details', answer::text,
                                  'hint', 'Resume the agent to let its requests through.');
    END IF;
    PERFORM set_config('response.status', '403', true);
    RETURN jsonb_build_object('code', 'EX003', 'message', 'request blocked by policy', 'details', answer::text, 'hint', NULL);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
    PERFORM execlave_api.reraise(st, msg, det, hnt);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION execlave_api.enforce(text, text, text, numeric, text[], jsonb, text) IS 'HTTP: pre-execution check. 200 {allowed, violations, warnings}; 202 with requiresApproval and approvalRequestId when a require_approval policy fired; 403 when blocked and 423 when the agent is paused (the answer in details), committed with what it recorded. Admin keys, or the agent''s own key';
COMMENT ON FUNCTION execlave_api.http_enforce(text, jsonb, jsonb) IS 'HTTP POST /api/policies/enforce: pre-execution check; 200 {allowed: true, violations, warnings}; 202 {requiresApproval: true, approvalRequestId} when a require_approval policy fired; 403 {allowed: false, violations} when blocked or the agent is paused; committed with what it recorded; admin keys, or the agent''s own key';

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
