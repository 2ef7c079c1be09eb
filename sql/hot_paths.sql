-- Hot paths: violations written straight into execlave.violations by the
-- trace trigger and execlave_enforce() must be exactly the rows and events
-- execlave.record_violations() writes from the same violations.
SELECT execlave_register_agent('hp-agent') AS hp_id \gset
SELECT execlave_create_policy('hp-pii-log', 'pii_detection', 'log', '{}', ARRAY['hp-agent']) IS NOT NULL AS created;
SELECT execlave_create_policy('hp-model-flag', 'model_allowlist', 'flag', '{"allow": ["gpt-4o"]}', ARRAY['hp-agent']) IS NOT NULL AS created;

-- one trace with two violations (log, flag), one enforce call with two
BEGIN;
INSERT INTO execlave.traces (trace_id, agent_key, model, input)
VALUES ('tr_hp_1', 'hp-agent', 'other-model', 'mail "jane"@example.com or jane.doe@example.com');
SELECT execlave_enforce('hp-agent', 'write to jane.doe@example.com', 'other-model')->'allowed' AS allowed;

-- ids in order, one statement's rows at the transaction's start time
SELECT policy_name, policy_type, mode, phase, trace_id, message, recorded_by = current_user AS by_me,
       created_at = now() AS now_stamped, id - min(id) OVER () AS rank
FROM execlave.violations WHERE agent_id = :'hp_id' ORDER BY id;
COMMIT;

-- the same violations recorded again through the SQL function: same rows
CREATE TEMP TABLE direct AS SELECT * FROM execlave.violations WHERE agent_id = :'hp_id';
CREATE TEMP TABLE direct_events AS
SELECT id, data FROM execlave.events WHERE event_type = 'policy.violated' AND agent_id = :'hp_id';
SELECT array_length(execlave.record_violations(jsonb_agg(to_jsonb(d) - 'id' - 'created_at' ORDER BY d.id)), 1) AS rerecorded
FROM direct d;
SELECT count(*) AS rows_differing
FROM direct d
FULL JOIN (SELECT * FROM execlave.violations WHERE agent_id = :'hp_id' AND id NOT IN (SELECT id FROM direct)) s
  ON (to_jsonb(d) - 'id' - 'created_at') = (to_jsonb(s) - 'id' - 'created_at')
WHERE d.id IS NULL OR s.id IS NULL;
-- the flag violations' events: same data but for the violation id
SELECT count(*) AS flag_events, count(DISTINCT e.data - 'violation_id') AS distinct_data,
       bool_and(v.mode = 'flag') AS all_flag
FROM execlave.events e JOIN execlave.violations v ON v.id = (e.data->>'violation_id')::bigint
WHERE e.event_type = 'policy.violated' AND e.agent_id = :'hp_id';
SELECT (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(data) k) AS event_keys,
       data->>'trace_id' AS trace_id, data->>'phase' AS phase
FROM direct_events ORDER BY id;

-- an INSERT trigger on the table: the SQL function inserts, so the trigger fires
CREATE TABLE public.hp_seen (policy_name text, mode text);
CREATE FUNCTION public.hp_note() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.hp_seen VALUES (NEW.policy_name, NEW.mode);
    RETURN NEW;
END
$$;
CREATE TRIGGER hp_note AFTER INSERT ON execlave.violations FOR EACH ROW EXECUTE FUNCTION public.hp_note();
INSERT INTO execlave.traces (trace_id, agent_key, model, input) VALUES ('tr_hp_2', 'hp-agent', 'gpt-4o', 'jane.doe@example.com');
SELECT * FROM public.hp_seen;
DROP TRIGGER hp_note ON execlave.violations;
-- and without it the direct path again
INSERT INTO execlave.traces (trace_id, agent_key, model, input) VALUES ('tr_hp_3', 'hp-agent', 'gpt-4o', 'jane.doe@example.com');
SELECT count(*) AS seen FROM public.hp_seen;
SELECT trace_id, mode FROM execlave.violations WHERE trace_id IN ('tr_hp_2', 'tr_hp_3') ORDER BY id;

-- a rolled-back statement leaves no row, and the sequence moves on as with SQL
BEGIN;
INSERT INTO execlave.traces (trace_id, agent_key, model, input) VALUES ('tr_hp_4', 'hp-agent', 'gpt-4o', 'jane.doe@example.com');
ROLLBACK;
SELECT count(*) AS rolled_back FROM execlave.violations WHERE trace_id = 'tr_hp_4';

-- a role without any right on execlave.violations still records its violations
CREATE ROLE hp_app LOGIN IN ROLE execlave_app;
SET ROLE hp_app;
INSERT INTO execlave.traces (trace_id, agent_key, model, input) VALUES ('tr_hp_5', 'hp-agent', 'gpt-4o', 'jane.doe@example.com');
RESET ROLE;
SELECT trace_id, recorded_by FROM execlave.violations WHERE trace_id = 'tr_hp_5';

-- the policies that apply, remembered per agent and policy set: scopes hold
-- across agents, and a change of scope takes effect at once
SELECT execlave_register_agent('hp-other') AS hp_other \gset
SELECT execlave_create_policy('hp-scoped', 'model_allowlist', 'log', '{"allow": ["gpt-4o"]}', ARRAY['hp-other']) IS NOT NULL AS created;
INSERT INTO execlave.traces (trace_id, agent_key, model) VALUES ('tr_hp_s1', 'hp-agent', 'm1');
INSERT INTO execlave.traces (trace_id, agent_key, model) VALUES ('tr_hp_s2', 'hp-other', 'm1');
INSERT INTO execlave.traces (trace_id, agent_key, model) VALUES ('tr_hp_s3', 'hp-agent', 'm1');
SELECT execlave_update_policy('hp-scoped', agents => ARRAY['hp-agent']) IS NOT NULL AS rescoped;
INSERT INTO execlave.traces (trace_id, agent_key, model) VALUES ('tr_hp_s4', 'hp-other', 'm1');
INSERT INTO execlave.traces (trace_id, agent_key, model) VALUES ('tr_hp_s5', 'hp-agent', 'm1');
SELECT execlave_enforce('hp-other', 'hi', 'm1')->'violations' AS other_violations;
SELECT trace_id, policy_name, agent_key FROM execlave.violations
WHERE trace_id LIKE 'tr_hp_s%' AND policy_name = 'hp-scoped' ORDER BY id;

-- enforce answers (the last one is remembered): a repeated text answers the
-- same, another one in between answers its own
SELECT a1 = a3 AS same, a1 <> a2 AS differ, a1 AS answer1, a2->'violations'->0->>'message' AS answer2
FROM (SELECT execlave_enforce('hp-agent', 'hello', 'gpt-4o') AS a1,
             execlave_enforce('hp-agent', 'mail jane.doe@example.com', 'gpt-4o') AS a2,
             execlave_enforce('hp-agent', 'hello', 'gpt-4o') AS a3) s;
SELECT execlave_enforce('hp-agent', 'hello', 'gpt-4o') AS again;

SELECT execlave_drop_policy('hp-pii-log'), execlave_drop_policy('hp-model-flag'), execlave_drop_policy('hp-scoped');
DROP TABLE public.hp_seen;
DROP FUNCTION public.hp_note();
DROP ROLE hp_app;
