# Windowed policies across sessions and restarts: two concurrent clients on
# one agent lose no count (log mode) and never exceed a blocking limit
# (block mode); the counters are rebuilt from the stored traces after a
# restart and a limit still holds; without shared_preload_libraries the
# windowed types are refused with a clear error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('windows');
$node->init;
# a fixed clock, so that no window rolls over while the test runs
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.test_clock = '2026-09-15 10:20:30'
execlave.anomaly_detection = off
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
    SET timezone = 'UTC';
    ALTER DATABASE postgres SET timezone = 'UTC';
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('hot');
    SELECT execlave_register_agent('capped');
    SELECT execlave_create_policy('hot-rate', 'rate_limit', 'log', '{"max_requests_per_hour": 1000000}', ARRAY['hot']);
    SELECT execlave_create_policy('hot-budget', 'budget_cap', 'log', '{"max_cost_per_month": 1000000}', ARRAY['hot']);
    SELECT execlave_create_policy('capped-rate', 'rate_limit', 'block', '{"max_requests_per_hour": 500}', ARRAY['capped']);
    CREATE FUNCTION put(agent text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO execlave.traces (agent_key, input, cost_usd) VALUES (agent, 'load', 0.001);
    EXCEPTION WHEN SQLSTATE 'EX003' THEN
        NULL;   -- refused by the limit: pgbench would otherwise stop the client
    END $$;
});

# settings in postgresql.conf reach every execlave GUC (none is dropped as unknown)
is( $node->safe_psql('postgres', q{SELECT period_start FROM execlave_usage('hot') WHERE period = 'hour'}),
	'2026-09-15 10:00:00+00', 'the windows follow execlave.test_clock from postgresql.conf');
unlike(slurp_file($node->logfile), qr/invalid configuration parameter name "execlave\./,
	'no execlave setting was discarded at startup');

# pgbench with 2 clients running `SELECT $call` $per_client times each: started
# in the background; pgbench_done() waits and checks every transaction ran.
sub pgbench_start
{
	my ($name, $call, $per_client) = @_;
	my $script = $node->basedir . "/$name.sql";
	open(my $fh, '>', $script) or die $!;
	print $fh "SELECT $call;\n";
	close $fh;
	my %run = (name => $name, n => 2 * $per_client, out => '', err => '');
	$run{h} = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '2', '-j', '2', '-t', $per_client, '-f', $script, $node->connstr('postgres') ],
		'>', \$run{out}, '2>', \$run{err});
	return \%run;
}

sub pgbench_done
{
	my ($run) = @_;
	$run->{h}->finish;
	like($run->{out}, qr/number of transactions actually processed: $run->{n}/,
		"pgbench: 2 clients x @{[$run->{n} / 2]} for $run->{name}") or diag($run->{err});
}

sub pgbench
{
	my ($agent, $per_client) = @_;
	pgbench_done(pgbench_start("put_$agent", "put('$agent')", $per_client));
}

# Two sessions, one agent, log mode: every trace is counted once.
pgbench('hot', 3000);
my $stored = $node->safe_psql('postgres', q{SELECT count(*) || ' ' || sum(cost_usd) FROM execlave.traces WHERE agent_key = 'hot'});
is($stored, '6000 6.000', '6000 traces stored');
is( $node->safe_psql('postgres', q{
        SELECT string_agg(coalesce(requests::text, spend_usd::text), ' ' ORDER BY period)
        FROM execlave_usage('hot') WHERE period IN ('hour', 'month')}),
	'6000 6.00', 'the counters hold every request and every cent: no count lost');

# Two sessions racing for the last units of a blocking limit: exactly the limit is accepted.
pgbench('capped', 400);
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.traces WHERE agent_key = 'capped'}),
	'500', 'exactly 500 of 800 concurrent traces accepted under max_requests_per_hour = 500');
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.violations WHERE agent_key = 'capped'}),
	'300', 'each of the 300 refused traces has its violation');
is($node->safe_psql('postgres', q{SELECT requests FROM execlave_usage('capped') WHERE period = 'hour'}),
	'500', 'refused traces are not counted');

# A trace a per-trace cap refuses is never counted, not even while its
# violation is being recorded: with 'big' sending traces of 60 USD over its
# 0.50 USD per-trace cap, a concurrent 50 USD estimate for 'small' under the
# same shared 100 USD budget is always allowed.
$node->safe_psql('postgres', q{
    SELECT execlave_register_agent('small');
    SELECT execlave_register_agent('big');
    SELECT execlave_create_policy('shared-budget', 'budget_cap', 'block',
        '{"max_cost_per_month": 100, "scope": "policy"}', ARRAY['small', 'big']);
    SELECT execlave_create_policy('big-per-trace', 'cost_limit', 'block', '{"max_cost_per_trace": 0.50}', ARRAY['big']);
    CREATE TABLE denied (at timestamptz DEFAULT clock_timestamp(), answer jsonb);
    CREATE FUNCTION check_small() RETURNS void LANGUAGE plpgsql AS $$
    DECLARE
        answer jsonb := execlave_enforce('small', 'q', estimated_cost => 50);
    BEGIN
        IF NOT (answer->>'allowed')::boolean THEN
            INSERT INTO denied (answer) VALUES (answer);
        END IF;
    END $$;
    CREATE FUNCTION put_cost(agent text, cost numeric) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO execlave.traces (agent_key, input, cost_usd) VALUES (agent, 'load', cost);
    EXCEPTION WHEN SQLSTATE 'EX003' THEN
        NULL;
    END $$;
});
# (a tenth of the load under valgrind: test/sanitize.sh)
my $per_client = $ENV{EXECLAVE_TEST_SLOW} ? 30 : 300;
my $big = pgbench_start('put_big', "put_cost('big', 60)", $per_client);
my $small = pgbench_start('check_small', 'check_small()', 2 * $per_client);
pgbench_done($big);
pgbench_done($small);
is($node->safe_psql('postgres', q{SELECT count(*) FROM denied}), '0',
	'no estimate under the shared budget was refused while over-cap traces were being refused')
  or diag($node->safe_psql('postgres', q{SELECT answer FROM denied LIMIT 1}));
is( $node->safe_psql('postgres', q{
        SELECT (SELECT count(*) FROM execlave.traces WHERE agent_key = 'big') || ' ' ||
               (SELECT count(*) FROM execlave.violations WHERE agent_key = 'big')}),
	'0 ' . (2 * $per_client), 'every over-cap trace was refused, each with its violation');
is($node->safe_psql('postgres', q{SELECT spend_usd FROM execlave_usage('big') WHERE period = 'month'}),
	'0.00', 'and none of them was counted');

# A restart loses shared memory; the counters come back from the traces.
$node->safe_psql('postgres', q{
    SELECT execlave_register_agent('restart');
    SELECT execlave_create_policy('restart-rate', 'rate_limit', 'block', '{"max_requests_per_hour": 5}', ARRAY['restart']);
    SELECT execlave_create_policy('restart-budget', 'cost_limit', 'block', '{"max_cost_per_day": 1.00}', ARRAY['restart']);
    INSERT INTO execlave.traces (agent_key, cost_usd) SELECT 'restart', 0.25 FROM generate_series(1, 4);
});
$node->restart;
is( $node->safe_psql('postgres', q{
        SELECT string_agg(coalesce(requests::text, spend_usd::text), ' ' ORDER BY period)
        FROM execlave_usage('restart') WHERE period IN ('hour', 'day')}),
	'1.00 4', 'after the restart the counters are rebuilt from the stored traces');
my ($rc, $out, $err) = $node->psql('postgres',
	q{INSERT INTO execlave.traces (agent_key, cost_usd) VALUES ('restart', 0.01)});
like($err, qr/blocked by policy "restart-budget"/, 'the daily cost cap still holds after the restart');
$node->safe_psql('postgres', q{INSERT INTO execlave.traces (agent_key, cost_usd) VALUES ('restart', 0)});
($rc, $out, $err) = $node->psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('restart')});
like($err, qr/blocked by policy "restart-rate"/, 'and so does the hourly rate limit (5 counted, the 6th refused)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.traces WHERE agent_key = 'hot'}),
	'6000', 'the earlier traces are all there');
is( $node->safe_psql('postgres', q{SELECT requests FROM execlave_usage('hot') WHERE period = 'hour'}),
	'6000', 'and the hot agent is rebuilt too');

# A new hour of the clock starts from zero.
$node->append_conf('postgresql.conf', "execlave.test_clock = '2026-09-15 11:00:00'\n");
$node->reload;
$node->poll_query_until('postgres', q{SELECT current_setting('execlave.test_clock') = '2026-09-15 11:00:00'});
$node->safe_psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('restart')});
is($node->safe_psql('postgres', q{SELECT requests FROM execlave_usage('restart') WHERE period = 'hour'}),
	'1', 'the next hour starts from zero');
$node->stop;

# Without shared_preload_libraries the windowed types are refused clearly.
my $plain = PostgreSQL::Test::Cluster->new('no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{CREATE EXTENSION execlave; SELECT execlave_register_agent('a')});
($rc, $out, $err) = $plain->psql('postgres',
	q{SELECT execlave_create_policy('r', 'rate_limit', 'block', '{"max_requests_per_minute": 1}')});
like($err, qr/ERROR:  rate_limit policies require execlave to be loaded via shared_preload_libraries/,
	'creating a rate_limit policy without preloading is refused');
# one that got in anyway (a replica-mode restore skips the check): traces are refused, not let through
$plain->safe_psql('postgres', q{
    SET session_replication_role = replica;
    INSERT INTO execlave.policies (name, type, mode, config) VALUES ('r', 'rate_limit', 'block', '{"max_requests_per_minute": 1}');
});
($rc, $out, $err) = $plain->psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('a')});
like($err, qr/require execlave to be loaded via shared_preload_libraries/,
	'a trace under a windowed policy without preloading fails closed with a clear error');
($rc, $out, $err) = $plain->psql('postgres', q{SELECT * FROM execlave_usage('a')});
like($err, qr/shared_preload_libraries/, 'execlave_usage says why it cannot answer');
$plain->stop;

done_testing();
