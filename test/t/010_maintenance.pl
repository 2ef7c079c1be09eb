# Maintenance end to end: pg_cron schedules execlave_maintenance() at CREATE
# EXTENSION and runs it (this test waits for one real run, up to about 90 s);
# re-scheduling updates the one job; two concurrent runs do not collide; a
# database without pg_cron gets a NOTICE and maintenance by hand works on it
# even when empty; pg_dump of a database using every table, restored into a
# fresh cluster, brings back every row (traces across partitions included)
# and the extension works on it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('maint');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron,execlave'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 20
timezone = 'UTC'
});
$node->start;

# --- pg_cron ------------------------------------------------------------------
my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION pg_cron; CREATE EXTENSION execlave;');
is($rc, 0, 'both extensions created');
like($err, qr/maintenance scheduled with pg_cron every 5 minutes/, 'CREATE EXTENSION says the job is scheduled');
is( $node->safe_psql('postgres', q{SELECT count(*) || ' ' || min(schedule) || ' ' || min(command) FROM cron.job}),
	'1 */5 * * * * CALL execlave.run_maintenance()', 'one job, every 5 minutes, running the procedure');
$node->safe_psql('postgres', q{SELECT execlave_schedule_maintenance('* * * * *')});
is( $node->safe_psql('postgres', q{SELECT count(*) || ' ' || min(schedule) FROM cron.job}),
	'1 * * * * *', 're-scheduling updates the job, never duplicates it');

# traces with no partition yet wait in the default partition for the job
$node->safe_psql('postgres', q{
    SELECT execlave_register_agent('cron-agent');
    INSERT INTO execlave.traces (agent_key, started_at) SELECT 'cron-agent', now() - make_interval(days => i) FROM generate_series(0, 4) i;
});
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.traces_default}), '5', 'traces accepted into the default partition');
my $ran = $node->poll_query_until('postgres', q{
    SELECT count(*) > 0 FROM cron.job_run_details r JOIN cron.job j USING (jobid)
    WHERE j.jobname = execlave.maintenance_job_name() AND r.status = 'succeeded'});
ok($ran, 'pg_cron ran the maintenance job');
is($node->safe_psql('postgres', q{SELECT last_status || ' ' || last_mode FROM execlave.maintenance_status}),
	'ok procedure', 'the status view shows the job\'s run: ok, a transaction per step');
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.traces_default}), '0',
	'the job moved the traces out of the default partition');
ok($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.trace_partitions() WHERE NOT is_default}) >= 12,
	'and created the partitions of their days and of the days ahead');
is($node->safe_psql('postgres', q{SELECT execlave_unschedule_maintenance()}), 't', 'unscheduled');
is($node->safe_psql('postgres', q{SELECT count(*) FROM cron.job}), '0', 'no job left');

# --- two concurrent runs ----------------------------------------------------------
my $s1 = $node->background_psql('postgres');
$s1->query_safe('BEGIN');
$s1->query_safe('SELECT execlave_maintenance()');
like($node->safe_psql('postgres', 'SELECT execlave_maintenance()'), qr/"skipped": "another execlave_maintenance\(\) is running/,
	'a second concurrent run skips instead of colliding');
$s1->query_safe('COMMIT');
$s1->quit;
like($node->safe_psql('postgres', 'SELECT execlave_maintenance()'), qr/"status": "ok"/, 'and runs once the first has finished');

# --- without pg_cron; an empty database -----------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE plain');
($rc, $out, $err) = $node->psql('plain', 'CREATE EXTENSION execlave');
like($err, qr/pg_cron is not installed in this database, so maintenance is not scheduled/,
	'without pg_cron CREATE EXTENSION says so');
like($err, qr/HINT:  Run SELECT execlave_maintenance\(\)/, 'and how to do without it');
like($node->safe_psql('plain', 'SELECT execlave_maintenance()'), qr/"partitions_created": \["traces_p/,
	'maintenance by hand on an empty database');

# --- dump and restore into a fresh cluster --------------------------------------
$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    SET client_min_messages = warning;
    CREATE EXTENSION execlave;
    SELECT execlave_maintenance();
    SELECT execlave_register_agent('a1', 'first', 'desc', ARRAY['t'], '{"k": 1}');
    SELECT execlave_register_agent('a2');
    SELECT execlave_grant('a1', 'a2', ARRAY['execute', 'write']);
    SELECT execlave_revoke('a1', 'a2', ARRAY['write']);
    SELECT execlave_create_policy('pii', 'pii_detection', 'flag', '{"mask": true}');
    SELECT execlave_create_policy('rate', 'rate_limit', 'log', '{"max_requests_per_minute": 1000}');
    SELECT execlave_create_webhook('https://hooks.example.com/x', ARRAY['policy.violated', 'agent.paused'],
                                   'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    INSERT INTO execlave.traces (agent_key, input, cost_usd, started_at)
    SELECT 'a1', 'mail me at jane' || i || '@example.com', 0.01 * i, now() - make_interval(days => i % 3)
    FROM generate_series(1, 30) i;
    SET execlave.trace_max_future = '300d';     -- (a trace far ahead: widen the accepted window)
    INSERT INTO execlave.traces (agent_key, input, started_at) VALUES ('a2', 'far future', now() + interval '200 days');
    RESET execlave.trace_max_future;
    SELECT execlave_create_api_key('dumped', 'prod', 'agent', 'a2');
    SELECT execlave_pause_agent('a1', 'paused before the dump');
});
my @tables = qw(agents agent_status_history events traces grants grant_history policies violations webhooks deliveries api_keys);

# Row count and checksum of a table (every column, in a stable order).
sub digest
{
	my ($n, $db, $t) = @_;
	return $n->safe_psql($db,
		"SELECT count(*) || ' ' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '-') FROM execlave.$t x");
}
my %before = map { $_ => digest($node, 'src', $_) } @tables;
ok($before{$_} !~ /^0 /, "source has rows in execlave.$_") for @tables;
my $layout = q{SELECT string_agg(tableoid::regclass::text || ':' || n, ',' ORDER BY tableoid::regclass::text) FROM
    (SELECT tableoid, count(*) AS n FROM execlave.traces GROUP BY tableoid) p};
my $layout_before = $node->safe_psql('src', $layout);
like($layout_before, qr/traces_default:21/, 'traces of days without a partition (and of a far future day) wait in the default partition');

my $dump = $node->basedir . '/src.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump succeeds');

my $fresh = PostgreSQL::Test::Cluster->new('fresh');
$fresh->init;
$fresh->append_conf('postgresql.conf', "shared_preload_libraries = 'execlave'\ntimezone = 'UTC'\n");
$fresh->start;
$fresh->safe_psql('postgres', 'CREATE DATABASE dst');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica -c client_min_messages=warning';
	command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $fresh->connstr('dst'), '-f', $dump ],
		'restore into a fresh cluster (triggers off while loading) succeeds');
}
is(digest($fresh, 'dst', $_), $before{$_}, "execlave.$_: same rows and checksum after restore") for @tables;
is($fresh->safe_psql('dst', $layout), $layout_before, 'traces are in the same partitions');

# the extension works on the restored database
($rc, $out, $err) = $fresh->psql('dst', q{INSERT INTO execlave.traces (agent_key) VALUES ('a1')});
like($err, qr/agent "a1" is paused/, 'the restored pause is enforced');
$fresh->safe_psql('dst', q{SELECT execlave_resume_agent('a1')});
is($fresh->safe_psql('dst', q{SELECT execlave_authorize('a1', 'a2', 'execute')}), 't', 'a restored grant allows');
is($fresh->safe_psql('dst', q{SELECT execlave_authorize('a1', 'a2', 'write')}), 'f', 'a restored revoke holds');
is( $fresh->safe_psql('dst', q{
        INSERT INTO execlave.traces (trace_id, agent_key, input) VALUES ('tr_after', 'a1', 'write to bob@example.com');
        SELECT status || ' ' || input FROM execlave.traces WHERE trace_id = 'tr_after'}),
	'flagged_for_review write to [EMAIL_REDACTED]', 'restored policies apply to new traces');
is($fresh->safe_psql('dst', q{SELECT requests FROM execlave_usage('a1') WHERE period = 'minute'}) > 0 ? 1 : 0, 1,
	'windowed counters are rebuilt from the restored traces');
like($fresh->safe_psql('dst', q{SELECT secret FROM execlave.webhooks}), qr/^whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw$/,
	'the webhook secret came back');
like($fresh->safe_psql('dst', q{SET execlave.trace_max_future = '300d'; SELECT execlave_maintenance()}),
	qr/"rows_moved_from_default": 21/,
	'maintenance on the restored database moves the waiting traces into place');
is($fresh->safe_psql('dst', 'SELECT count(*) FROM execlave.traces_default'), '0', 'none is left in the default partition');
is(digest($fresh, 'dst', 'traces') =~ /^32 / ? 1 : 0, 1, 'and none is lost');

$fresh->stop;
$node->stop;
done_testing();
