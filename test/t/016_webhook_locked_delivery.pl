# A due delivery whose row an open transaction holds locked does not make the
# webhook worker spin: the claim skips it (SKIP LOCKED), and the worker leaves
# it alone until it is woken or a backoff (100 ms, doubling up to the poll
# interval) passes.  For 10 s of such a lock the worker's CPU time
# (utime + stime from /proc) must stay near idle; other deliveries still go
# out at once meanwhile; once the locker commits (an execlave_redeliver(),
# whose commit wakes the worker) or rolls back (a SELECT ... FOR UPDATE,
# which wakes nobody), the delivery is sent within the poll interval.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use lib 'test/perl';
use ExeclaveTest qw(slow wait_for start_receiver webhook_worker_pid cpu_seconds);

my $POLL_MS = 1000;
my $HOLD_S = 10;
my $CPU_LIMIT = slow() ? 2.5 : 0.5;    # seconds of CPU over $HOLD_S
my $SLACK = slow() ? 4 : 1;            # seconds past the poll interval

my $node = PostgreSQL::Test::Cluster->new('locked_delivery');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.database = 'postgres'
execlave.webhook_allow_private = on
execlave.webhook_poll_interval = $POLL_MS
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION execlave');

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $log_file = "$tmp/received.jsonl";
my %secrets;
my ($receiver, $port) = start_receiver($tmp, \%secrets, $log_file);
ok($port, 'receiver listening') or BAIL_OUT('the receiver did not start');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub received
{
	my ($id) = @_;
	open my $fh, '<', $log_file or return ();
	my @all = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return grep { ($_->{id} // '') eq $id } @all;
}

# One endpoint for the locked deliveries (subscribed to nothing emitted here:
# their rows are written directly), one for the others.
my ($hook, $secret) = split / /, sql(
	"SELECT id || ' ' || signing_secret FROM execlave_create_webhook('http://127.0.0.1:$port/ok/locked', ARRAY['trace.anomaly'])");
my ($other, $other_secret) = split / /, sql(
	"SELECT id || ' ' || signing_secret FROM execlave_create_webhook('http://127.0.0.1:$port/ok/other', ARRAY['cost.threshold'])");
%secrets = (locked => $secret, other => $other_secret);
open my $fh, '>', "$tmp/secrets.json" or die $!;
print $fh encode_json(\%secrets);
close $fh;

my $pid = webhook_worker_pid($node);
ok($pid, "the worker runs (pid $pid)");

# A delivery due in 2 s, locked at once by a transaction that stays open for
# $HOLD_S s after it is due; $lock is the locking statement, $end how the
# transaction ends.
sub locked_round
{
	my ($label, $status, $lock, $end) = @_;
	my $ev = sql(q{SELECT execlave.emit_event('agent.paused', NULL, '{"locked": true}')});
	my $did = sql(qq{INSERT INTO execlave.deliveries (webhook_id, event_id, event_type, status, next_attempt_at)
	                 VALUES ('$hook', $ev, 'agent.paused', '$status', clock_timestamp() + interval '2 s') RETURNING id});
	my $bg = $node->background_psql('postgres');
	$bg->query_safe('BEGIN');
	$bg->query_safe(sprintf($lock, $did));
	ok(wait_for(sub { sql("SELECT next_attempt_at <= clock_timestamp() FROM execlave.deliveries WHERE id = $did") eq 't' }, 10),
		"$label: the locked delivery is due");
	usleep(200_000);

	my ($cpu0, $t0) = (cpu_seconds($pid), time);
	usleep($HOLD_S * 1_000_000 / 2);
	# meanwhile another delivery goes out at once
	my $oev = sql(q{SELECT execlave.emit_event('cost.threshold', NULL, '{"while": "locked"}')});
	my $t_emit = time;
	ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $oev") eq 'succeeded' }, 10)
		  && time - $t_emit < $SLACK,
		"$label: another delivery emitted meanwhile succeeds at once")
	  or diag(sprintf('after %.2f s', time - $t_emit));
	usleep(($t0 + $HOLD_S - time) * 1_000_000) if $t0 + $HOLD_S > time;
	my ($cpu1, $t1) = (cpu_seconds($pid), time);
	my $cpu = $cpu1 - $cpu0;
	note(sprintf('%s: the worker used %.2f s of CPU in %.1f s while the row was locked', $label, $cpu, $t1 - $t0));
	cmp_ok($cpu, '<', $CPU_LIMIT, sprintf("$label: the worker stays near idle (%.2f s of CPU in %.1f s)", $cpu, $t1 - $t0));
	is(scalar(received("msg_$did")), 0, "$label: the locked delivery was not sent");

	$bg->query_safe($end);
	my $t_end = time;
	$bg->quit;
	ok(wait_for(sub { received("msg_$did") >= 1 }, 30), "$label: after $end the delivery is sent");
	my $after = time - $t_end;
	cmp_ok($after, '<', $POLL_MS / 1000 + $SLACK,
		sprintf("$label: within the poll interval (%.2f s after $end)", $after));
	my ($r) = received("msg_$did");
	ok($r->{verified}, "$label: signed");
	ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE id = $did") eq 'succeeded' }),
		"$label: and recorded");
	is(webhook_worker_pid($node), $pid, "$label: by the same worker");
}

# An uncommitted execlave_redeliver() of a retrying delivery: its commit wakes the worker.
locked_round('redeliver', 'retrying', 'SELECT execlave_redeliver(%d)', 'COMMIT');
# A plain row lock, rolled back: nothing wakes the worker but its backoff.
locked_round('FOR UPDATE', 'pending', 'SELECT id FROM execlave.deliveries WHERE id = %d FOR UPDATE', 'ROLLBACK');

$receiver->kill_kill;
$node->stop;
done_testing();
