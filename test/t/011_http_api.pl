# The HTTP API through the real front: PostgREST 12.0.2 and nginx started by
# scripts/http.sh (as command 1 starts them), driven by
# test/receiver/http_api_test.js with Node's fetch: the product page's calls,
# the SDKs' core calls, the records refusals keep, the API key cases and the
# HTTP error table.  Each line of the driver's TAP output becomes one test.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ExeclaveTest qw(start_http stop_http node_conn_uri run_node_tap execlave_node);

my $node = execlave_node('http');

my $http = start_http($node);
my $conn_super = node_conn_uri($node);
run_node_tap([ 'node', 'test/receiver/http_api_test.js', $http->{url}, $conn_super ], min => 150, what => 'the driver');

# the front's processes run as this (unprivileged) user and stop with the script
my $pg_pid = slurp_file("$http->{dir}/postgrest.pid");
chomp $pg_pid;
ok(running($pg_pid), 'PostgREST runs');
stop_http($http);
ok(!running($pg_pid), 'scripts/http.sh stop stops it');
$node->stop;

# Without preloading, a session that has not loaded the library yet could
# set execlave.api_scope as a placeholder; the API must ignore it.
my $plain = PostgreSQL::Test::Cluster->new('http_no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('victim');
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT execlave_api_anon TO authenticator;
});
my ($rc, $o, $e) = $plain->psql('postgres', q{
    SET ROLE execlave_api_anon;
    SET execlave.api_scope = 'admin';
    SET execlave.api_actor = 'api:forged';
    SELECT count(*) FROM execlave_api.agents;
}, extra_params => [ '-U', 'authenticator' ]);
is($o, '0', 'a forged api_scope placeholder lists no agent');
($rc, $o, $e) = $plain->psql('postgres', q{
    SET ROLE execlave_api_anon;
    SET execlave.api_scope = 'admin';
    SELECT execlave_api.pause_agent('victim', 'forged');
}, extra_params => [ '-U', 'authenticator' ]);
like($e, qr/no API key authenticated this request/, 'nor passes an admin check');
($rc, $o, $e) = $plain->psql('postgres', q{
    SET ROLE execlave_api_anon;
    SET execlave.api_scope = 'admin';
    SELECT set_config('request.headers', '{"x-execlave-method": "PATCH", "x-execlave-uri": "/api/agents/victim/pause"}', false);
    SELECT execlave_api.dispatch('{"reason": "forged"}');
}, extra_params => [ '-U', 'authenticator' ]);
like($o, qr/missing API key/, 'nor the hosted dispatcher');
is($plain->safe_psql('postgres', q{SELECT status FROM execlave.agents WHERE key = 'victim'}), 'active', 'the agent was not paused');
$plain->stop;

done_testing();

# alive and not a zombie (an exited daemon may wait for a reaper that never comes)
sub running
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return 0;
	my $stat = <$fh> // '';
	close $fh;
	return $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z';
}

