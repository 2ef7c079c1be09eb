# The tuning settings of scripts/http.sh start (README: Running the front in
# production): a value of the wrong form stops start with a message naming
# the setting, before anything is written or started, and leaves a running
# front as it was; valid values reach nginx's and PostgREST's configuration
# and PostgREST's environment.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ExeclaveTest qw(try_start_http stop_http children_of execlave_node);

my $node = execlave_node('http_settings');

sub health
{
	my ($port) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5',
		"http://127.0.0.1:$port/health" ], '>', \$out, '2>', \$err);
	return $out;
}

# run scripts/http.sh start for $dir on $port with the environment %env added
sub try_start
{
	my ($dir, $port, %env) = @_;
	local @ENV{ keys %env } = values %env;
	my ($ok, $text) = try_start_http($node, dir => $dir, port => $port);
	return ($ok, $text);
}

my @bad = (
	[ EXECLAVE_HTTP_POOL => '0', qr/EXECLAVE_HTTP_POOL must be a number of connections \(got '0'\)/ ],
	[ EXECLAVE_HTTP_POOL => 'ten', qr/EXECLAVE_HTTP_POOL must be a number/ ],
	[ EXECLAVE_HTTP_POOL => '10; db-uri = "x"', qr/EXECLAVE_HTTP_POOL must be a number/ ],
	[ EXECLAVE_HTTP_WORKERS => '0', qr/EXECLAVE_HTTP_WORKERS must be a number or auto/ ],
	[ EXECLAVE_HTTP_WORKERS => '2;user root', qr/EXECLAVE_HTTP_WORKERS must be a number or auto/ ],
	[ EXECLAVE_HTTP_KEEPALIVE => '-1', qr/EXECLAVE_HTTP_KEEPALIVE must be a number of connections/ ],
	[ EXECLAVE_HTTP_KEEPALIVE => '99999', qr/EXECLAVE_HTTP_KEEPALIVE must be a number of connections/ ],
	[ EXECLAVE_POSTGREST_RTS => '-N1; touch /tmp/x', qr/EXECLAVE_POSTGREST_RTS must be GHC runtime options/ ],
	[ EXECLAVE_POSTGREST_RTS => '$(id)', qr/EXECLAVE_POSTGREST_RTS must be GHC runtime options/ ],
	[ EXECLAVE_POSTGREST_RTS => "-N1'", qr/EXECLAVE_POSTGREST_RTS must be GHC runtime options/ ],
	[ EXECLAVE_OTLP_PORT => '70000', qr/the OTLP port must be a number from 1 to 65535, or off/ ],
	[ EXECLAVE_OTLP_PORT => '43x8', qr/the OTLP port must be a number from 1 to 65535, or off/ ],
);

# --- refused before anything exists: no folder, no process, nothing listening
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $fresh = $node->basedir . '/http_fresh';
for my $case (@bad)
{
	my ($var, $value, $msg) = @$case;
	my ($ok, $text) = try_start($fresh, $port, $var => $value);
	ok(!$ok, "$var='$value': start fails");
	like($text, $msg, "$var='$value': the message names the setting") or diag($text);
	ok(!-e "$fresh/nginx.conf" && !-e "$fresh/postgrest.conf" && !-e "$fresh/postgrest.pid",
		"$var='$value': no configuration written, nothing started");
	isnt(health($port), '200', "$var='$value': nothing answers on the port");
}
for my $p ('0', '65536', '40a0')
{
	my ($ok, $text) = try_start($fresh, $p);
	ok(!$ok, "--port $p: start fails");
	like($text, qr/the HTTP port must be a number from 1 to 65535 \(got '\Q$p\E'/, "--port $p: the message names the port")
	  or diag($text);
	ok(!-e "$fresh/nginx.conf", "--port $p: no configuration written");
}

# --- valid values reach the configurations and the processes
my $dir = $node->basedir . '/http';
my ($ok, $text) = try_start($dir, $port, EXECLAVE_HTTP_POOL => '3', EXECLAVE_HTTP_WORKERS => '2',
	EXECLAVE_HTTP_KEEPALIVE => '4', EXECLAVE_POSTGREST_RTS => '-N1 -A8m', EXECLAVE_OTLP_PORT => 'off');
ok($ok, 'start with valid settings') or diag($text);
is(health($port), '200', 'the front answers GET /health');
my $nginx_conf = slurp_file("$dir/nginx.conf");
my $pgrst_conf = slurp_file("$dir/postgrest.conf");
like($nginx_conf, qr/^worker_processes 2;$/m, 'EXECLAVE_HTTP_WORKERS=2 is nginx worker_processes');
like($nginx_conf, qr/^\s*keepalive 4;$/m, 'EXECLAVE_HTTP_KEEPALIVE=4 is the upstream keepalive');
like($pgrst_conf, qr/^db-pool = 3$/m, 'EXECLAVE_HTTP_POOL=3 is PostgREST db-pool');
my $master = slurp_file("$dir/nginx.pid") =~ s/\s+//gr;
is(scalar(children_of($master)), 2, 'nginx runs two workers');
my $pgrst = slurp_file("$dir/postgrest.pid") =~ s/\s+//gr;
my %environ = map { /^([^=]*)=(.*)$/s ? ($1, $2) : () } split /\0/, slurp_file("/proc/$pgrst/environ");
is($environ{GHCRTS}, '-N1 -A8m', 'EXECLAVE_POSTGREST_RTS is PostgREST\'s GHCRTS');
is($node->safe_psql('postgres', q{SELECT count(*) <= 3 FROM pg_stat_activity WHERE usename = 'authenticator'}),
	't', 'PostgREST opens at most db-pool connections');

# --- a bad value on a re-run leaves the running front as it was
for my $case ($bad[0], $bad[4], $bad[7])
{
	my ($var, $value, $msg) = @$case;
	my ($ok2, $text2) = try_start($dir, $port, $var => $value);
	ok(!$ok2, "running front, $var='$value': start fails");
	like($text2, $msg, "running front, $var='$value': the message names the setting");
	is(health($port), '200', "running front, $var='$value': still answers");
	is(slurp_file("$dir/postgrest.pid") =~ s/\s+//gr, $pgrst, "running front, $var='$value': the same PostgREST process");
	is(slurp_file("$dir/nginx.conf"), $nginx_conf, "running front, $var='$value': nginx's configuration unchanged");
	is(slurp_file("$dir/postgrest.conf"), $pgrst_conf, "running front, $var='$value': PostgREST's configuration unchanged");
}

stop_http({ dir => $dir });
isnt(health($port), '200', 'stopped');
done_testing();
