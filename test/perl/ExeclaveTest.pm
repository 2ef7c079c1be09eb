# Helpers shared by execlave's TAP tests (test/t/*.pl run from the
# repository root, so `use lib 'test/perl'` finds this file).
package ExeclaveTest;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time usleep);

our @EXPORT_OK = qw(slow wait_for start_receiver kill_server webhook_worker_pid cpu_seconds
	start_http try_start_http restart_http stop_http execlave_node node_conn_uri run_node_tap children_of);

# A started cluster named $name with execlave preloaded (UTC, 16 worker
# processes, plus the lines of $extra_conf) and the extension created.
sub execlave_node
{
	my ($name, $extra_conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', "shared_preload_libraries = 'execlave'\ntimezone = 'UTC'\n"
		  . "max_worker_processes = 16\n" . ($extra_conf // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION execlave');
	return $node;
}

# The superuser connection URI of $node's postgres database, for the Node.js drivers.
sub node_conn_uri
{
	my ($node) = @_;
	my $enc = sub { my ($s) = @_; $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord($1))/ge; return $s; };
	return 'postgresql:///postgres?host=' . $enc->($node->host) . '&port=' . $node->port
	  . '&user=' . $enc->(scalar(getpwuid($<)));
}

# Run a Node.js driver (@$cmd) that prints TAP ("ok N - name", "not ok N -
# name", "# diagnostics"), report each of its steps as a test of this file
# (names prefixed with $opts{prefix}), then test that it ran at least
# $opts{min} steps ("$opts{what} ran its steps (N)"); on a timeout of
# $opts{timeout} seconds (if given) IPC::Run dies.  Returns the step count.
sub run_node_tap
{
	my ($cmd, %opts) = @_;
	my ($out, $err) = ('', '');
	my @timeout = $opts{timeout} ? (IPC::Run::timeout($opts{timeout})) : ();
	IPC::Run::run($cmd, '>', \$out, '2>', \$err, @timeout);
	my $count = 0;
	for my $line (split /\n/, $out)
	{
		if ($line =~ /^(not )?ok \d+ - (.*)$/)
		{
			Test::More::ok(!defined $1, ($opts{prefix} // '') . $2);
			$count++;
		}
		elsif ($line =~ /^# (.*)$/)
		{
			Test::More::diag($1);
		}
	}
	Test::More::ok($count >= $opts{min}, "$opts{what} ran its steps ($count)")
	  or Test::More::diag("stdout: $out\nstderr: $err");
	return $count;
}

# test/sanitize.sh runs every server process under valgrind and sets
# EXECLAVE_TEST_SLOW: load tests then take a smaller load and longer waits.
sub slow { return $ENV{EXECLAVE_TEST_SLOW} ? 1 : 0; }

# Poll $cond (a sub; an error counts as false) every 0.1 s for up to $secs
# seconds (default 60); true once it is.
sub wait_for
{
	my ($cond, $secs) = @_;
	my $until = time + ($secs // 60);
	while (time < $until)
	{
		my $ok = eval { $cond->() };
		return 1 if $ok;
		usleep(100_000);
	}
	return eval { $cond->() };
}

# Start the webhook receiver (test/receiver/receiver.js) on an ephemeral
# loopback port with the given endpoint secrets (name => whsec_...), logging
# every request to $log_file.  Returns ($handle, $port); $port is undef if it
# did not start within 20 s.
sub start_receiver
{
	my ($dir, $secrets, $log_file) = @_;
	my $secrets_file = "$dir/secrets.json";
	open my $fh, '>', $secrets_file or die "$secrets_file: $!";
	print $fh encode_json($secrets);
	close $fh;
	unless (-e $log_file)
	{
		open my $touch, '>', $log_file or die "$log_file: $!";
		close $touch;
	}
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'node', 'test/receiver/receiver.js', '--secrets', $secrets_file, '--log', $log_file ],
		'>', \$out, '2>', \$err);
	my $deadline = time + 20;
	$h->pump until $out =~ /listening (\d+)/ || time > $deadline;
	return ($h, ($out =~ /listening (\d+)/)[0]);
}

# Start the HTTP front of $node (scripts/http.sh: the real PostgREST and
# nginx, as command 1 starts them) on a free loopback port, for database
# $db (default postgres), which must have execlave.  Returns a hash: dir,
# port, url (http://127.0.0.1:PORT), and the arguments to start it again.
# Dies if it does not answer GET /health within the script's timeout.
sub start_http
{
	my ($node, %opts) = @_;
	my ($ok, $text, $http) = try_start_http($node, %opts);
	$ok or die "scripts/http.sh start failed:\n$text";
	return $http;
}

# The same start, for a caller that expects it may fail: returns whether it
# succeeded, its output (stdout and stderr) and start_http's hash.
sub try_start_http
{
	my ($node, %opts) = @_;
	my $dir = $opts{dir} // ($node->basedir . '/http');
	my $port = $opts{port} // PostgreSQL::Test::Cluster::get_free_port();
	my @args = ($dir, '--pghost', $node->host, '--pgport', $node->port,
		'--db', $opts{db} // 'postgres', '--superuser', scalar(getpwuid($<)), '--port', $port);
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'bash', 'scripts/http.sh', 'start', @args ], '>', \$out, '2>', \$err);
	return ($ok, $out . $err, { dir => $dir, port => $port, url => "http://127.0.0.1:$port", args => \@args });
}

# Start it again with the same folder and port (a re-run of start is safe).
sub restart_http
{
	my ($http) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', 'scripts/http.sh', 'start', @{ $http->{args} } ], '>', \$out, '2>', \$err)
	  or die "scripts/http.sh start failed:\n$out$err";
	return 1;
}

# Stop nginx and PostgREST of start_http.
sub stop_http
{
	my ($http) = @_;
	IPC::Run::run([ 'bash', 'scripts/http.sh', 'stop', $http->{dir} ]);
	return;
}

# Children of $pid, read from /proc (procps may not be installed).
sub children_of
{
	my ($pid) = @_;
	my @kids;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open(my $fh, '<', $stat) or next;
		my $line = <$fh> // '';
		close $fh;
		push @kids, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) / && $2 == $pid;
	}
	return @kids;
}

# SIGKILL the whole server: the postmaster and every child.  The postmaster
# is stopped first so that it cannot fork a backend between the listing of
# its children and the kill; a child the kill missed would keep the shared
# memory attached and the next start would fail ("pre-existing shared memory
# block is still in use").  Returns true once every process is gone; the
# node is then marked stopped, its stale postmaster.pid being expected.
sub kill_server
{
	my ($node) = @_;
	my $pm = $node->{_pid};
	kill 'STOP', $pm;
	my @children = children_of($pm);
	kill 'KILL', @children, $pm;
	# the killed children are the stopped postmaster's zombies until it dies
	# and they are reaped; Cluster.pm's start() needs the postmaster reaped
	my $gone = wait_for(sub { !grep { kill(0, $_) } $pm, @children }, 30);
	$node->_update_pid(-1);
	return $gone;
}

# The pid of the webhook worker of $node (from pg_stat_activity), or '' when
# it does not run.
sub webhook_worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'execlave webhook worker'});
}

# CPU time (user + system, in seconds) process $pid has used so far, from
# /proc/<pid>/stat (fields 14 and 15, in clock ticks); undef if it is gone.
sub cpu_seconds
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return undef;
	my $line = <$fh> // '';
	close $fh;
	# the command name may hold spaces and parentheses: fields count from the last ')'
	$line =~ s/^.*\) // or return undef;
	my @f = split / /, $line;
	my $tick = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;
	return ($f[11] + $f[12]) / $tick;    # fields 14 and 15 of the whole line
}

1;
