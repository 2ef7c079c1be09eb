# The HTTP API (schema execlave_api) through the SQL protocol PostgREST
# performs, driven by test/receiver/api_test.js (PostgREST is not packaged
# for Debian 12): the product page's curl examples, the documented error
# statuses, and the API key cases.  Each line of the driver's TAP output
# becomes one test here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('http');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
timezone = 'UTC'
max_worker_processes = 16
});
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    -- PostgREST's authenticator: logs in, can only become the anonymous role
    CREATE ROLE authenticator LOGIN NOINHERIT;
    GRANT execlave_api_anon TO authenticator;
});

my $host = $node->host;
my $port = $node->port;
my ($out, $err) = ('', '');
my $conn_super = 'postgresql:///postgres?host=' . uri($host) . "&port=$port&user=" . getlogin_safe();
my $conn_auth = 'postgresql:///postgres?host=' . uri($host) . "&port=$port&user=authenticator";
IPC::Run::run([ 'node', 'test/receiver/api_test.js', $conn_super, $conn_auth ], '>', \$out, '2>', \$err);

my $count = 0;
for my $line (split /\n/, $out)
{
	if ($line =~ /^(not )?ok \d+ - (.*)$/)
	{
		ok(!defined $1, $2);
		$count++;
	}
	elsif ($line =~ /^# (.*)$/)
	{
		diag($1);
	}
}
ok($count >= 50, "the driver ran its requests ($count)") or diag("stdout: $out\nstderr: $err");

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
is($plain->safe_psql('postgres', q{SELECT status FROM execlave.agents WHERE key = 'victim'}), 'active', 'the agent was not paused');
$plain->stop;

done_testing();

sub uri { my ($s) = @_; $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord($1))/ge; return $s; }
sub getlogin_safe { return scalar(getpwuid($<)); }
