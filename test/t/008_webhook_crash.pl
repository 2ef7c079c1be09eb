# At-least-once webhook delivery through crashes: 5,000 events are being
# delivered when (1) the webhook worker, (2) an ordinary backend (a crash
# restart of the whole cluster) and (3) the whole server are killed with
# SIGKILL.  After each restart every delivery reaches the receiver at least
# once, verified, duplicates carry the same webhook-id and body, and no
# delivery is left leased.  Also: an expired lease is reclaimed.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 'test/perl';
use ExeclaveTest qw(slow wait_for start_receiver kill_server);

my $slow = slow();
my $EVENTS = $slow ? 500 : 5000;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.database = 'postgres'
execlave.webhook_allow_private = on
execlave.webhook_retry_schedule = '100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms'
execlave.webhook_poll_interval = 100
execlave.webhook_batch_size = 200
restart_after_crash = on
log_statement = none
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION execlave');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $log_file = "$tmp/received.jsonl";
my $receiver;

# (Re)start the receiver with the endpoint's secret; returns its port.
sub start_crash_receiver
{
	my $port;
	($receiver, $port) = start_receiver($tmp, { crash => $_[0] }, $log_file);
	return $port;
}

sub sql { return $node->safe_psql('postgres', $_[0]); }

# Received requests (decoded), keyed by webhook-id => list of entries.
sub received
{
	my %by_id;
	open my $fh, '<', $log_file or return \%by_id;
	while (my $line = <$fh>)
	{
		next unless $line =~ /\S/;
		my $e = eval { decode_json($line) } or next;	# a line cut by a crash
		push @{ $by_id{ $e->{id} // '' } }, $e;
	}
	close $fh;
	return \%by_id;
}

sub received_count
{
	my $n = 0;
	open my $fh, '<', $log_file or return 0;
	$n++ while <$fh>;
	close $fh;
	return $n;
}

# A receiver that answers after 20 ms, so a batch is in flight for a while.
open my $touch, '>', $log_file or die $!;
close $touch;
my $port = start_crash_receiver('whsec_' . ('A' x 43) . '=');
ok($port, 'receiver started');
my $row = sql("SELECT id || ' ' || signing_secret FROM execlave_create_webhook('http://127.0.0.1:$port/slow/crash?ms=20', ARRAY['trace.anomaly'])");
my ($hook, $secret) = split / /, $row;
$receiver->kill_kill;
$port = start_crash_receiver($secret);
sql("SELECT execlave_update_webhook('$hook', url => 'http://127.0.0.1:$port/slow/crash?ms=20')");

# Queue 5,000 events, wait until some have arrived, crash, and check.
sub crash_round
{
	my ($label, $crash) = @_;
	my $first = sql('SELECT coalesce(max(id), 0) FROM execlave.deliveries');
	my $seen_before = received_count();
	sql("SELECT count(execlave.emit_event('trace.anomaly', NULL, jsonb_build_object('round', '$label', 'n', g)))
	     FROM generate_series(1, $EVENTS) g");
	ok(wait_for(sub { received_count() >= $seen_before + ($slow ? 30 : 300) }, $slow ? 300 : 30), "$label: delivery under way");
	$crash->();
	ok( wait_for(sub {
				sql("SELECT count(*) FROM execlave.deliveries WHERE id > $first AND status = 'succeeded'") == $EVENTS
			}, $slow ? 600 : 120),
		"$label: after the restart every delivery succeeded");
	my $by_id = received();
	my @ids = map { "msg_$_" } split /\n/, sql("SELECT id FROM execlave.deliveries WHERE id > $first ORDER BY id");
	is(scalar(@ids), $EVENTS, "$label: one delivery per event");
	my @missing = grep { !grep { $_->{verified} } @{ $by_id->{$_} // [] } } @ids;
	is(scalar(@missing), 0, "$label: every delivery reached the receiver at least once, verified")
	  or diag("missing: @missing[0 .. ($#missing < 9 ? $#missing : 9)]");
	my $dups = grep { @{ $by_id->{$_} // [] } > 1 } @ids;
	my $json = JSON::PP->new->canonical;
	my @inconsistent = grep {
		my @e = @{ $by_id->{$_} // [] };
		grep { $json->encode($_->{data} // {}) ne $json->encode($e[0]{data} // {}) } @e
	} @ids;
	is(scalar(@inconsistent), 0, "$label: duplicates ($dups) carry the same webhook-id and body");
	is(sql("SELECT count(*) FROM execlave.deliveries WHERE status = 'delivering'"), '0',
		"$label: no delivery is left leased");
}

crash_round('worker killed', sub {
	my $pid = sql(q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'execlave webhook worker'});
	ok($pid, "worker pid $pid");
	kill 'KILL', $pid;
});

crash_round('backend killed', sub {
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	kill 'KILL', $pid;
	eval { $bg->quit };
	# the postmaster restarts every process, the worker included
	ok(wait_for(sub { sql('SELECT 1') eq '1' }, 60), 'cluster back after the crash restart');
});

crash_round('server killed', sub {
	ok(kill_server($node), 'the postmaster and its children are gone');
	$node->start;
});

# An expired lease is reclaimed: a row left 'delivering' with its lease in
# the past is claimed again by the running worker.
my $ev = sql(q{SELECT execlave.emit_event('trace.anomaly', NULL, '{"lease": "expired"}')});
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'succeeded' }),
	'lease test delivery done');
my $count_before = scalar(@{ received()->{ 'msg_' . sql("SELECT id FROM execlave.deliveries WHERE event_id = $ev") } // [] });
sql("UPDATE execlave.deliveries SET status = 'delivering', next_attempt_at = now() - interval '1 second' WHERE event_id = $ev");
ok( wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'succeeded' }),
	'an expired lease is reclaimed and the delivery completed');
is(scalar(@{ received()->{ 'msg_' . sql("SELECT id FROM execlave.deliveries WHERE event_id = $ev") } // [] }),
	$count_before + 1, 'and sent again with the same webhook-id');

$receiver->kill_kill;
$node->stop;
done_testing();
