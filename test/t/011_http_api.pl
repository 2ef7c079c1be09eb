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
done_testing();

sub uri { my ($s) = @_; $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord($1))/ge; return $s; }
sub getlogin_safe { return scalar(getpwuid($<)); }
