# The compiled-policy cache is never read after it was freed.  An agent's
# first windowed trace rebuilds its counters with a query over
# execlave.traces; taking that query's locks processes pending cache
# invalidations, which drop the policy cache.  The evaluation that started
# the rebuild still holds pointers into it: it must keep working on the set it
# started with (pinned, retired by the flush, freed at the end).  The test
# forces the interleaving: a lock on traces_default holds the rebuild while a
# policy update commits.  With hundreds of policies the cache's array is
# memory-mapped by malloc and unmapped when freed, so reading it afterwards
# is a segmentation fault (and a crash restart of the whole server).
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ExeclaveTest qw(wait_for);

my $node = PostgreSQL::Test::Cluster->new('cacheflush');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.anomaly_detection = off
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('x');
    SELECT execlave_register_agent('other');
    SELECT execlave_maintenance();     -- today's partition: the trace does not go to traces_default
    SELECT execlave_create_policy('rl', 'rate_limit', 'log', '{"max_requests_per_minute": 1}', ARRAY['x']);
    SELECT execlave_create_policy('filler-' || lpad(i::text, 4, '0'), 'model_allowlist', 'log',
                                  '{"allow": ["gpt-4o"]}', ARRAY['other'])
    FROM generate_series(1, 700) i;
});

# Run the interleaving; returns the inserting session's output.
sub interleave
{
	my ($agent, $update) = @_;
	my $locker = $node->background_psql('postgres', on_error_stop => 1);
	$locker->query_safe('BEGIN; LOCK TABLE execlave.traces_default IN ACCESS EXCLUSIVE MODE;');
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		  "INSERT INTO execlave.traces (agent_key, input) VALUES ('$agent', 'hello') RETURNING agent_key" ],
		'>', \$out, '2>', \$err);
	ok( wait_for(sub {
			$node->safe_psql('postgres', q{
                SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                WHERE c.relname = 'traces_default' AND NOT l.granted}) eq '1' }, 60),
		"$agent: the counters' rebuild waits for the lock on traces_default");
	$node->safe_psql('postgres', $update);
	$locker->query_safe('COMMIT');
	$locker->quit;
	$h->finish;
	chomp($out, $err);
	return ($out, $err);
}

my ($out, $err) = interleave('x',
	q{SELECT execlave_update_policy('rl', config => '{"max_requests_per_minute": 100}')});
is($out, 'x', 'the trace is stored after the policy cache was flushed under its evaluation');
is($err, '', 'no error from the insert');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is still up');
unlike(slurp_file($node->logfile), qr/terminated by signal|server process .* was terminated/,
	'no backend crashed');
# the evaluation used the set it started with: one trace, limit 1, no violation
is($node->safe_psql('postgres', q{SELECT count(*) FROM execlave.violations WHERE agent_key = 'x'}),
	'0', 'the evaluation saw one consistent set of policies');
# the next trace sees the update
$node->safe_psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('x')});
is($node->safe_psql('postgres', q{SELECT requests FROM execlave_usage('x') WHERE period = 'minute'}),
	'2', 'the next trace is counted under the updated policy');

# the same with a full cache reset (many invalidations overflow the queue)
$node->safe_psql('postgres', q{SELECT execlave_register_agent('y');
    SELECT execlave_update_policy('rl', agents => ARRAY['x', 'y'])});
($out, $err) = interleave('y', q{
    DO $$ BEGIN
        FOR i IN 1 .. 800 LOOP
            EXECUTE format('CREATE TEMP TABLE flood_%s (a int)', i);
            EXECUTE format('DROP TABLE flood_%s', i);
        END LOOP;
    END $$});
is($out, 'y', 'the trace is stored after a full cache reset under its evaluation');
is($err, '', 'no error from that insert');
unlike(slurp_file($node->logfile), qr/terminated by signal/, 'no backend crashed after the reset either');

$node->stop;
done_testing();
