-- SQL helpers shared by the benchmarks (loaded into schema bench by bench_load_helpers).

-- How many times does query q really call function fn?  (The planner may drop
-- calls whose result is unused, so every measured query is checked.)
CREATE FUNCTION bench.calls_of(q text, fn regprocedure) RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE
    before bigint;
    dummy bigint;
BEGIN
    PERFORM set_config('track_functions', 'all', true);
    before := coalesce(pg_stat_get_xact_function_calls(fn), 0);
    EXECUTE q INTO dummy;
    RETURN coalesce(pg_stat_get_xact_function_calls(fn), 0) - before;
END
$f$;

-- The Output line of the top plan node of EXPLAIN VERBOSE q.
CREATE FUNCTION bench.top_output(q text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) ' || q LOOP
        IF l ~ '^\s*Output:' THEN
            RETURN btrim(l);
        END IF;
    END LOOP;
    RETURN NULL;
END
$f$;
