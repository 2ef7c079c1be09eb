# pg_dump keeps execlave's user data (pg_extension_config_dump), and the
# documented restore (triggers disabled while loading) brings every row back
# unchanged, with the kill switch and grants behaving as before.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'execlave'");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('a1', 'first', 'desc', ARRAY['t'], '{"k": 1}');
    SELECT execlave_register_agent('a2');
    SELECT execlave_submit_trace('a1', '{"input": "before pause", "cost_usd": 0.5}');
    SELECT execlave_grant('a1', 'a2', ARRAY['read'], clock_timestamp() + interval '1 second');
    SELECT execlave_grant('a1', 'a2', ARRAY['execute', 'write']);
    SELECT execlave_revoke('a1', 'a2', ARRAY['write']);
    SELECT execlave_pause_agent('a1', 'paused before the dump');
    SELECT pg_sleep(1.2);
});

my @tables = qw(agents agent_status_history events traces grants grant_history);

# Every row of a table, in a stable order, as text.
sub table_text
{
	my ($db, $t) = @_;
	return $node->safe_psql($db, "SELECT string_agg(x::text, E'\\n' ORDER BY x::text) FROM execlave.$t x");
}

my %before = map { $_ => table_text('src', $_) } @tables;
ok(length($before{$_}) > 0, "source has rows in execlave.$_") for @tables;

my $dump = $node->basedir . '/src.sql';
command_ok([ 'pg_dump', '-d', $node->connstr('src'), '-f', $dump ], 'pg_dump succeeds');

$node->safe_psql('postgres', 'CREATE DATABASE dst');
{
	local $ENV{PGOPTIONS} = '-c session_replication_role=replica';
	command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('dst'), '-f', $dump ],
		'restore with triggers disabled succeeds');
}

is(table_text('dst', $_), $before{$_}, "execlave.$_ restored unchanged") for @tables;

# Behaviour after restore
my ($rc, $out, $err) = $node->psql('dst', q{INSERT INTO execlave.traces (agent_key) VALUES ('a1')});
like($err, qr/agent "a1" is paused/, 'restored pause is enforced');
is($node->safe_psql('dst', q{SELECT reason FROM execlave_authorize_explain('a1', 'a2', 'write')}),
	'source_paused', 'restored agent status used by authorize');
$node->safe_psql('dst', q{SELECT execlave_resume_agent('a1')});
is($node->safe_psql('dst', q{SELECT execlave_authorize('a1', 'a2', 'execute')}), 't', 'restored grant allows');
is($node->safe_psql('dst', q{SELECT reason FROM execlave_authorize_explain('a1', 'a2', 'write')}),
	'revoked', 'restored revocation holds');
is($node->safe_psql('dst', q{SELECT reason FROM execlave_authorize_explain('a1', 'a2', 'read')}),
	'expired', 'restored expiry holds');

# Sequences continue after the restored rows
$node->safe_psql('dst', q{SELECT execlave_pause_agent('a2', 'after restore')});
is($node->safe_psql('dst', q{SELECT count(*) = count(DISTINCT id) FROM execlave.agent_status_history}),
	't', 'history ids stay unique after restore');
is($node->safe_psql('dst', q{SELECT count(*) = count(DISTINCT id) FROM execlave.events}),
	't', 'event ids stay unique after restore');

$node->stop;
done_testing();
