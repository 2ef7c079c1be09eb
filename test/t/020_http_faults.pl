# The HTTP front (real nginx and PostgREST, scripts/http.sh) under load:
# the kill switch with four clients submitting traces (test/receiver/http_load.js
# killswitch), then PostgreSQL restarted and PostgREST killed and restarted
# while four clients submit batches of ten traces: every request gets a JSON
# answer (503 while the database or PostgREST is away), PostgREST reconnects
# by itself, and every batch is stored whole or not at all (whole when it
# was answered 200).
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time usleep);
use ExeclaveTest qw(slow wait_for start_http restart_http stop_http node_conn_uri execlave_node);

my $node = execlave_node('http_faults');
my $agent = $node->safe_psql('postgres', q{SELECT execlave_register_agent('load-agent')});
my $admin = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('ops', 'prod', 'admin')});
my $agent_key = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('load', 'prod', 'agent', 'load-agent')});

my $http = start_http($node);
my $conn_super = node_conn_uri($node);

# --- the kill switch under load ------------------------------------------------------
my ($out, $err) = ('', '');
IPC::Run::run([ 'node', 'test/receiver/http_load.js', 'killswitch', $http->{url}, $admin, $agent_key, $agent, $conn_super ],
	'>', \$out, '2>', \$err);
my $count = 0;
for my $line (split /\n/, $out)
{
	if ($line =~ /^(not )?ok \d+ - (.*)$/) { ok(!defined $1, "kill switch: $2"); $count++; }
	elsif ($line =~ /^# (.*)$/) { diag($1); }
}
ok($count >= 8, "kill switch: the load script ran its checks ($count)") or diag("stdout: $out\nstderr: $err");
$node->safe_psql('postgres', q{SELECT execlave_resume_agent('load-agent')});

# --- faults under load ------------------------------------------------------------------
my $log = "$http->{dir}/traffic.jsonl";
my $stop = "$http->{dir}/traffic.stop";
unlink $log, $stop;
($out, $err) = ('', '');
my $load = IPC::Run::start([ 'node', 'test/receiver/http_load.js', 'traffic', $http->{url}, $admin, 'load-agent', $log, $stop, '120' ],
	'>', \$out, '2>', \$err);
my $deadline = time + 30;
$load->pump until $out =~ /started/ || time > $deadline;
like($out, qr/started/, 'four clients submit batches through the front');

# the log: one JSON object per answered request
sub requests
{
	open(my $fh, '<', $log) or return ();
	my @r;
	while (my $l = <$fh>)
	{
		push @r, decode_json($l) if $l =~ /\}\s*$/;
	}
	close $fh;
	return @r;
}
# requests sent after $t (ms since the epoch) with status $status
sub answered_after
{
	my ($t, $status) = @_;
	return scalar grep { $_->{sent} > $t && $_->{status} == $status } requests();
}

# PostgreSQL restarted under load
my $t_restart = time * 1000;
$node->restart;
my $t_up = time * 1000;
ok(wait_for(sub { answered_after($t_up, 200) >= 20 }, 60), 'after PostgreSQL restarted, PostgREST reconnected: batches are accepted again');
ok(answered_after($t_restart, 503) > 0, 'meanwhile requests were answered 503');

# PostgREST killed, then started again (nginx stays up)
my $pid = slurp_file("$http->{dir}/postgrest.pid");
chomp $pid;
my $t_kill = time * 1000;
kill 'KILL', $pid;
ok(wait_for(sub { answered_after($t_kill, 503) >= 5 }, 30), 'with PostgREST killed, nginx answers 503');
restart_http($http);
my $t_back = time * 1000;
ok(wait_for(sub { answered_after($t_back, 200) >= 20 }, 60), 'PostgREST started again: batches are accepted again');

open(my $fh, '>', $stop) or die "$stop: $!";
close $fh;
$deadline = time + 30;
$load->pump until $out =~ /stopped/ || time > $deadline;
$load->finish;

my @reqs = requests();
my @bad = grep { $_->{status} != 200 && !($_->{status} == 503 && $_->{hosted} && ($_->{code} // '') eq 'service_unavailable') } @reqs;
is(scalar(@bad), 0, sprintf('every one of %d requests got 200 or a 503 JSON answer (%d were 503)',
		scalar(@reqs), scalar(grep { $_->{status} == 503 } @reqs)))
  or diag(encode_json([ @bad[ 0 .. ($#bad < 4 ? $#bad : 4) ] ]));

# whole or absent: count each batch's stored traces
my %batch_of;
for my $i (0 .. $#reqs)
{
	$batch_of{$_} = $i for @{ $reqs[$i]{ids} };
}
my %stored;
for my $row (split /\n/, $node->safe_psql('postgres', q{
		SELECT t.trace_id FROM execlave.traces t JOIN execlave.agents a ON a.id = t.agent_id WHERE a.key = 'load-agent'
		  AND t.input LIKE 'traffic %'}))
{
	$stored{ $batch_of{$row} // 'unknown' }++;
}
my ($half, $lost, $kept_503) = (0, 0, 0);
for my $i (0 .. $#reqs)
{
	my $k = $stored{$i} // 0;
	my $size = scalar @{ $reqs[$i]{ids} };
	$half++ if $k != 0 && $k != $size;
	$lost++ if $reqs[$i]{status} == 200 && $k != $size;
	$kept_503++ if $reqs[$i]{status} == 503 && $k == $size;
}
is($half, 0, 'no batch is half-applied');
is($lost, 0, 'every batch answered 200 is stored whole');
ok(!exists $stored{unknown}, 'nothing is stored that no client sent');
note("batches answered 503 but committed (the answer lost with the connection): $kept_503");

stop_http($http);
$node->stop;
done_testing();

