# Maintenance cannot be blocked nor switched off.  Each step runs with
# lock_timeout (execlave.maintenance_lock_timeout) and, in the procedure that
# pg_cron runs, in its own transaction: with a reader idle in a transaction
# over execlave.traces during the "midnight" run (a partition to create, one
# to drop), the run finishes (partial: those steps skipped), the kill switch
# answers within 1 s, and the next run after the reader ends does the skipped
# steps.  The one-run-at-a-time guard is a row only the owner can lock: a
# role holding the advisory lock the earlier guard used changes nothing.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use ExeclaveTest qw(wait_for);

my $node = PostgreSQL::Test::Cluster->new('maintlocks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
    SET timezone = 'UTC';
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('worker-bee');
    SELECT execlave_maintenance();
    CREATE ROLE reader LOGIN IN ROLE execlave_reader;
    CREATE ROLE app LOGIN IN ROLE execlave_app;
    GRANT SELECT ON execlave.traces_default TO reader;
});
my $day_fmt = q{to_char(now() AT TIME ZONE 'UTC' + interval '7 days', 'YYYYMMDD')};
my $ahead = $node->safe_psql('postgres', "SELECT 'traces_p' || $day_fmt");
my $old = 'traces_p' . $node->safe_psql('postgres',
	q{SELECT to_char(now() AT TIME ZONE 'UTC' - interval '40 days', 'YYYYMMDD')});

# the state of a day boundary: tomorrow+7 not there yet, a partition past retention
sub midnight
{
	$node->safe_psql('postgres', qq{
        ALTER TABLE execlave.traces DETACH PARTITION execlave.$ahead;
        DROP TABLE execlave.$ahead;
        SELECT execlave.add_trace_partition(date_trunc('day', now() AT TIME ZONE 'UTC' - interval '40 days') AT TIME ZONE 'UTC',
                                            date_trunc('day', now() AT TIME ZONE 'UTC' - interval '39 days') AT TIME ZONE 'UTC',
                                            to_char(now() AT TIME ZONE 'UTC' - interval '40 days', 'YYYYMMDD'));
    });
}
sub exists_rel { $node->safe_psql('postgres', "SELECT to_regclass('execlave.$_[0]') IS NOT NULL") eq 't' }

for my $how ('CALL execlave.run_maintenance()', 'SELECT execlave_maintenance()')
{
	midnight();
	ok(!exists_rel($ahead) && exists_rel($old), "$how: a partition to create and one to drop");

	# a reader idle in its transaction holds locks on every partition
	my $reader = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'reader' ]);
	$reader->query_safe('BEGIN; SELECT count(*) FROM execlave.traces;');

	my $t0 = time;
	my ($out, $err) = ('', '');
	my $run = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $how ],
		'>', \$out, '2>', \$err);
	# pause while the run is under way
	my $p0 = time;
	$node->safe_psql('postgres', q{SELECT execlave_pause_agent('worker-bee', 'maintenance running')});
	my $pause_s = time - $p0;
	cmp_ok($pause_s, '<', 1, sprintf("$how: pause answered in %.3f s (< 1 s) with a reader idle in a transaction", $pause_s));
	$node->safe_psql('postgres', q{SELECT execlave_resume_agent('worker-bee')});
	ok(wait_for(sub { $run->pump_nb if $run->pumpable; !$run->pumpable }, 30), "$how: the run finished while the reader is still open");
	$run->finish;
	my $took = time - $t0;
	cmp_ok($took, '<', 15, sprintf("$how: it took %.1f s", $took));
	is($node->safe_psql('postgres', 'SELECT last_status FROM execlave.maintenance_status'), 'partial',
		"$how: the run is partial");
	like($err, qr/WARNING:  execlave maintenance run \d+ was partial/, "$how: with a WARNING saying so");
	like($node->safe_psql('postgres', 'SELECT last_skipped FROM execlave.maintenance_status'),
		qr/"step": "partition".*canceling statement due to lock timeout|canceling statement due to lock timeout.*"step": "partition"/s,
		"$how: the blocked steps are listed as skipped for their locks");
	$reader->query_safe('COMMIT');
	$reader->quit;

	# the next run does what was skipped
	$node->safe_psql('postgres', $how);
	is($node->safe_psql('postgres', 'SELECT last_status FROM execlave.maintenance_status'), 'ok', "$how: the next run is ok");
	ok(exists_rel($ahead) && !exists_rel($old), "$how: and created and dropped the partitions");
}

# a role holding the old guard's advisory lock cannot switch maintenance off
my $squatter = $node->background_psql('postgres', on_error_stop => 1, extra_params => [ '-U', 'app' ]);
$squatter->query_safe(q{SELECT pg_advisory_lock(hashtext('execlave_maintenance'), 0)});
$node->safe_psql('postgres', 'CALL execlave.run_maintenance()');
is($node->safe_psql('postgres', 'SELECT last_status FROM execlave.maintenance_status'), 'ok',
	'a held advisory lock does not skip the run');
$squatter->quit;

# one run at a time: a run in one transaction holds the guard
my $s1 = $node->background_psql('postgres', on_error_stop => 1);
$s1->query_safe('BEGIN; SELECT execlave_maintenance();');
like($node->safe_psql('postgres', 'SELECT execlave_maintenance()'), qr/"skipped": "another execlave_maintenance\(\) is running/,
	'a second run skips while one is in progress');
my ($rc, $o, $e) = $node->psql('postgres', 'CALL execlave.run_maintenance()');
like($e, qr/another execlave maintenance run is in progress/, 'the procedure skips too, with a notice');
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.maintenance_runs WHERE status = 'skipped'}), '2',
	'and both skips are recorded');
$s1->query_safe('COMMIT');
$s1->quit;

# a run whose backend died is abandoned, and the next run takes over
$node->safe_psql('postgres', q{
    UPDATE execlave.maintenance_state SET run_id = (SELECT max(id) FROM execlave.maintenance_runs), pid = 999999,
        backend_start = now();
    UPDATE execlave.maintenance_runs SET status = 'running' WHERE id = (SELECT max(id) FROM execlave.maintenance_runs);
});
$node->safe_psql('postgres', 'CALL execlave.run_maintenance()');
is($node->safe_psql('postgres', q{SELECT string_agg(status, ',' ORDER BY id) FROM (SELECT * FROM execlave.maintenance_runs ORDER BY id DESC LIMIT 2) x}),
	'abandoned,ok', 'a run whose backend is gone is marked abandoned and the next one runs');

$node->stop;
done_testing();
