-------------------------------------------------------------------------------
-- Agents
-------------------------------------------------------------------------------
CREATE TABLE execlave.agents (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    key             text        COLLATE "C" NOT NULL,
    name            text,
    description     text,
    status          text        NOT NULL DEFAULT 'active',
    pause_reason    text,
    paused_at       timestamptz,
    paused_by       text,
    status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    status_changed_by text      NOT NULL DEFAULT CURRENT_USER,
    tags            text[]      NOT NULL DEFAULT '{}',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT agents_pkey PRIMARY KEY (id),
    CONSTRAINT agents_key_key UNIQUE (key),
    CONSTRAINT agents_key_check CHECK (
        key ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$'
        AND key !~ '^.{8}-.{4}-.{4}-.{4}-.{12}$'),
    CONSTRAINT agents_status_check CHECK (status IN ('active', 'paused', 'inactive', 'archived')),
    CONSTRAINT agents_pause_check CHECK ((status = 'paused') = (paused_at IS NOT NULL)),
    CONSTRAINT agents_pause_reason_check CHECK (octet_length(pause_reason) <= 2000),
    CONSTRAINT agents_metadata_check CHECK (pg_catalog.jsonb_typeof(metadata) = 'object')
);
COMMENT ON TABLE execlave.agents IS 'Governed AI agents: one row per agent, with its kill-switch status';
COMMENT ON COLUMN execlave.agents.id IS 'Server-assigned UUID';
COMMENT ON COLUMN execlave.agents.key IS 'Stable caller-chosen key (e.g. my-assistant): letters, digits, . _ : @ -, at most 128 bytes, never in the 8-4-4-4-12 layout of a UUID';
COMMENT ON COLUMN execlave.agents.status IS 'active | paused | inactive | archived; paused and archived agents are refused new work';
COMMENT ON COLUMN execlave.agents.pause_reason IS 'Why the agent was paused, at most 2000 bytes (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.paused_at IS 'When the agent was paused (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.paused_by IS 'Role that paused the agent (NULL unless paused)';
COMMENT ON COLUMN execlave.agents.status_changed_at IS 'When the status last changed';
COMMENT ON COLUMN execlave.agents.status_changed_by IS 'Role that last changed the status';
SELECT pg_catalog.pg_extension_config_dump('execlave.agents', '');

CREATE TABLE execlave.agent_status_history (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    uuid        NOT NULL,
    agent_key   text        COLLATE "C" NOT NULL,
    old_status  text,
    new_status  text        NOT NULL,
    reason      text,
    changed_by  text        NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX agent_status_history_agent_idx ON execlave.agent_status_history (agent_id, changed_at);
COMMENT ON TABLE execlave.agent_status_history IS 'Append-only history of agent status changes (registration, pause, resume, direct updates)';
SELECT pg_catalog.pg_extension_config_dump('execlave.agent_status_history', '');
SELECT pg_catalog.pg_extension_config_dump('execlave.agent_status_history_id_seq', '');

