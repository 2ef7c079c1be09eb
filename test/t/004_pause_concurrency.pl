# The kill switch under concurrent load: while several clients insert traces
# for one agent as fast as they can, a pause commits; no insert whose
# statement began after the pause's COMMIT returned is accepted, and inserts
# resume after the resume.  Each trial compares ingested_at (= now() =
# statement start, in autocommit) with clock_timestamp() read right after the
# COMMIT returned.  (Statements that begin while the COMMIT is still in
# progress, between its commit timestamp and its return, may go either way:
# the change becomes visible, then its invalidation is broadcast.)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('hot');
    SELECT execlave_register_agent('cold');
    CREATE TABLE refused_log (at timestamptz NOT NULL DEFAULT now());
    GRANT INSERT ON refused_log TO PUBLIC;
});

my $script = $node->basedir . '/insert.sql';
open(my $fh, '>', $script) or die $!;
# a refused insert is logged and the client goes on (pgbench stops a client at its first error)
print $fh "DO \$\$ BEGIN INSERT INTO execlave.traces (agent_key, input) VALUES ('hot', 'load'); "
  . "EXCEPTION WHEN SQLSTATE 'EX001' THEN INSERT INTO refused_log DEFAULT VALUES; END \$\$;\n";
close $fh;

# test/sanitize.sh runs every server process under valgrind (tens of times
# slower): EXECLAVE_TEST_SLOW scales the load down and the time up.
my $slow = $ENV{EXECLAVE_TEST_SLOW} ? 1 : 0;
my $min_load = $slow ? 20 : 2000;
my $secs = $slow ? 60 : 3;
my $trials = $slow ? 2 : 5;
for my $trial (1 .. $trials)
{
	$node->safe_psql('postgres', q{TRUNCATE execlave.traces, refused_log});

	# 4 clients for 3 seconds; failed inserts are expected once paused.
	my ($stdout, $stderr) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', $secs, '-f', $script, $node->connstr('postgres') ],
		'>', \$stdout, '2>', \$stderr);

	# Pause mid-load (once inserts are flowing), record the commit time of the pausing transaction.
	$node->poll_query_until('postgres', qq{SELECT count(*) >= $min_load FROM execlave.traces})
	  or die "no load";
	my $boundary = $node->safe_psql('postgres', q{
        SELECT execlave_pause_agent('hot', 'load trial');
        SELECT clock_timestamp();
    });
	$boundary = (split /\n/, $boundary)[-1];
	IPC::Run::finish($h);

	my $accepted_before = $node->safe_psql('postgres', qq{
        SELECT count(*) FROM execlave.traces
        WHERE ingested_at <= '$boundary'::timestamptz});
	my $accepted_after = $node->safe_psql('postgres', qq{
        SELECT count(*) FROM execlave.traces
        WHERE ingested_at > '$boundary'::timestamptz});
	ok($accepted_before >= $min_load, "trial $trial: inserts were accepted before the pause ($accepted_before)");
	is($accepted_after, '0', "trial $trial: no insert begun after the pause's COMMIT returned was accepted");
	note "pgbench: $stdout $stderr";
	my ($refused_after, $refused_before) = split /\|/, $node->safe_psql('postgres', qq{
        SELECT count(*) FILTER (WHERE at > '$boundary'::timestamptz),
               count(*) FILTER (WHERE at <= '$boundary'::timestamptz)
        FROM refused_log});
	ok($refused_after > 100, "trial $trial: many inserts begun after the pause were refused with EX001 ($refused_after)");

	# Other agents are unaffected; resume lets the agent work again.
	$node->safe_psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('cold')});
	$node->safe_psql('postgres', q{SELECT execlave_resume_agent('hot')});
	is($node->safe_psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('hot') RETURNING agent_key}),
		'hot', "trial $trial: accepted again after resume");
}

# Revoke against concurrent authorize: once the revoke commits, no check begun
# afterwards says true.
$node->safe_psql('postgres', q{
    TRUNCATE execlave.traces;
    CREATE TABLE authz_log (at timestamptz NOT NULL DEFAULT now(), ok boolean NOT NULL);
    GRANT INSERT ON authz_log TO PUBLIC;
    SELECT execlave_grant('hot', 'cold', ARRAY['execute']);
});
open($fh, '>', $script) or die $!;
print $fh "INSERT INTO authz_log (ok) VALUES (execlave_authorize('hot', 'cold', 'execute'));\n";
close $fh;
my ($stdout, $stderr) = ('', '');
my $h = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', $secs, '-f', $script, $node->connstr('postgres') ],
	'>', \$stdout, '2>', \$stderr);
$node->poll_query_until('postgres', qq{SELECT count(*) >= $min_load FROM authz_log WHERE ok}) or die "no load";
my $boundary = $node->safe_psql('postgres', q{
    SELECT execlave_revoke('hot', 'cold');
    SELECT clock_timestamp();
});
$boundary = (split /\n/, $boundary)[-1];
IPC::Run::finish($h);
my ($true_before, $true_after, $false_after) = split /\|/, $node->safe_psql('postgres', qq{
    SELECT count(*) FILTER (WHERE ok AND at <= '$boundary'::timestamptz),
           count(*) FILTER (WHERE ok AND at > '$boundary'::timestamptz),
           count(*) FILTER (WHERE NOT ok AND at > '$boundary'::timestamptz)
    FROM authz_log});
ok($true_before > 0, "authorize said true before the revoke ($true_before)");
is($true_after, '0', "no authorize begun after the revoke's COMMIT returned said true");
ok($false_after > 0, "authorize said false after the revoke ($false_after)");

$node->stop;
done_testing();
