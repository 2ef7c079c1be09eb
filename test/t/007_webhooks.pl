# Webhook delivery end to end, against a local receiver that verifies every
# request with the standardwebhooks library: signing, subscriptions,
# rolled-back transactions, retries, 410, 429 with Retry-After, timeouts,
# dead deliveries and redelivery, disabled endpoints, test events, the SSRF
# guard, and the worker's visibility and reload.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use lib 'test/perl';
use ExeclaveTest qw(wait_for start_receiver);

my $node = PostgreSQL::Test::Cluster->new('webhooks');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.database = 'postgres'
execlave.webhook_allow_private = on
execlave.webhook_retry_schedule = '300ms, 300ms, 300ms'
execlave.webhook_poll_interval = 100
execlave.webhook_timeout = 1000
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION execlave');

# The receiver: node test/receiver/receiver.js on an ephemeral port; it
# rereads its secrets file on every request, so endpoints can be added.
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $secrets_file = "$tmp/secrets.json";
my $log_file = "$tmp/received.jsonl";
my %secrets;
sub save_secrets
{
	open my $fh, '>', $secrets_file or die $!;
	print $fh encode_json(\%secrets);
	close $fh;
}
my ($receiver, $port) = start_receiver($tmp, \%secrets, $log_file);
ok($port, "receiver listening on port " . ($port // '?')) or BAIL_OUT('the receiver did not start');
my $base = "http://127.0.0.1:$port";

# Register endpoint NAME at path BEHAVIOUR/NAME for events; remember its secret.
sub webhook
{
	my ($name, $behaviour, $events, $query) = @_;
	$query //= '';
	my $ev = defined $events ? "ARRAY[$events]" : 'NULL';
	my $row = $node->safe_psql('postgres',
		"SELECT id || ' ' || signing_secret FROM execlave_create_webhook('$base/$behaviour/$name$query', $ev)");
	my ($id, $secret) = split / /, $row;
	$secrets{$name} = $secret;
	save_secrets();
	return $id;
}

# Every logged request so far, optionally only those for endpoint NAME.
sub received
{
	my ($name) = @_;
	open my $fh, '<', $log_file or return ();
	my @all = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return defined $name ? grep { $_->{name} eq $name } @all : @all;
}

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub emit { return sql("SELECT execlave.emit_event('$_[0]', NULL, '$_[1]')"); }

like(sql('SELECT execlave.webhook_worker_status()'), qr/^running \(pid \d+\)$/, 'the worker runs for this database');
is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'execlave webhook worker'}),
	'1', 'the worker shows in pg_stat_activity with its own backend type');

# --- Signing and subscriptions ------------------------------------------------
my $all = webhook('all', 'ok', undef);
my $paused_only = webhook('paused', 'ok', q{'agent.paused'});
my $violations_only = webhook('violations', 'ok', q{'policy.violated'});

my $ev = emit('agent.paused', '{"agent_key": "a1", "reason": "test"}');
ok(wait_for(sub { received('all') >= 1 && received('paused') >= 1 }), 'both subscribers receive the event');
my ($r) = received('paused');
ok($r->{verified}, 'the delivery verifies with the standardwebhooks library') or diag($r->{error});
is($r->{type}, 'agent.paused', 'body type');
is($r->{data}{agent_key}, 'a1', 'body data');
like($r->{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/, 'body timestamp is ISO 8601 UTC');
like($r->{id}, qr/^msg_\d+$/, 'webhook-id header');
like($r->{ua}, qr{^execlave-webhooks/}, 'User-Agent set');
is($r->{ctype}, 'application/json', 'Content-Type set');
is(sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev"), '2',
	'one delivery per subscribed endpoint, none for the endpoint subscribed elsewhere');
ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev AND status = 'succeeded'") eq '2' }),
	'both deliveries succeeded');
is(scalar(received('violations')), 0, 'an unsubscribed endpoint receives nothing');

$ev = emit('cost.threshold', '{}');
ok(wait_for(sub { received('all') >= 2 }), 'the all-events endpoint receives a second type');
is(sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev"), '1',
	'an event type only one endpoint subscribes to creates one delivery');

# A rolled-back transaction delivers nothing.
my $before = scalar(received());
sql(q{BEGIN; SELECT execlave.emit_event('agent.paused', NULL, '{"rolled": "back"}'); ROLLBACK;});
usleep(800_000);
is(scalar(received()), $before, 'a rolled-back event is never delivered');
is(sql(q{SELECT count(*) FROM execlave.deliveries d JOIN execlave.events e ON e.id = d.event_id WHERE e.data ? 'rolled'}),
	'0', 'and leaves no delivery');

# --- Retries ------------------------------------------------------------------
sql("SELECT execlave_disable_webhook('$all'), execlave_disable_webhook('$paused_only')");
my $flaky = webhook('flaky', 'flaky', q{'trace.anomaly'}, '?fail=2');
$ev = emit('trace.anomaly', '{"metric": "latency"}');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'succeeded' }),
	'a failing endpoint is retried until it succeeds');
my @f = received('flaky');
is(scalar(@f), 3, 'two failures, then success');
is(scalar(grep { $_->{id} eq $f[0]{id} } @f), 3, 'every retry carries the same webhook-id');
is(scalar(grep { $_->{verified} } @f), 3, 'every attempt is signed');
is(sql("SELECT attempts || ' ' || last_status_code FROM execlave.deliveries WHERE event_id = $ev"), '3 200',
	'attempts and last status recorded');

# 429 with Retry-After: 1 is honoured although the schedule says 300 ms.
my $rl = webhook('ratelimit', 'ratelimit', q{'trace.anomaly'}, '?after=1');
sql("SELECT execlave_disable_webhook('$flaky')");
$ev = emit('trace.anomaly', '{"metric": "cost"}');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'succeeded' }),
	'rate-limited delivery succeeds later');
my @rl = received('ratelimit');
is(scalar(@rl), 2, '429 then success');
cmp_ok($rl[1]{t} - $rl[0]{t}, '>=', 950, 'the retry waited for Retry-After (1 s), not the 300 ms schedule');

# 410 disables the endpoint and records why; later events are not delivered.
my $gone = webhook('gone', 'gone', q{'trace.anomaly'});
sql("SELECT execlave_disable_webhook('$rl')");
$ev = emit('trace.anomaly', '{"metric": "errors"}');
ok(wait_for(sub { sql("SELECT NOT active FROM execlave.webhooks WHERE id = '$gone'") eq 't' }),
	'410 disables the endpoint');
like(sql("SELECT disabled_reason FROM execlave.webhooks WHERE id = '$gone'"), qr/410 Gone/, 'with the reason');
is(sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev"), 'dead', 'the delivery is dead');
emit('trace.anomaly', '{"metric": "after gone"}');
usleep(800_000);
is(scalar(received('gone')), 1, 'a disabled endpoint gets nothing more');

# A timeout is retried, then the delivery is dead (1 + 3 attempts); redeliver queues it again.
my $slow = webhook('slow', 'slow', q{'trace.anomaly'}, '?ms=3000');
$ev = emit('trace.anomaly', '{"metric": "timeout"}');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'dead' }, 30),
	'a timing-out delivery ends dead after the last attempt');
like(sql("SELECT attempts || ' ' || last_error FROM execlave.deliveries WHERE event_id = $ev"),
	qr/^4 .*[Tt]imeout/, 'four attempts, the timeout recorded');
sql("SELECT execlave_disable_webhook('$slow')");

# A slow endpoint holds its own request slot and nothing else: while its
# request is in flight, deliveries to another endpoint are claimed, sent and
# recorded around it.
my $hold_ms = $ENV{EXECLAVE_TEST_SLOW} ? 60000 : 6000;
# (a long poll interval: only a wake-up gets a new delivery out quickly)
$node->append_conf('postgresql.conf', 'execlave.webhook_timeout = ' . ($hold_ms + 4000) . "\nexeclave.webhook_poll_interval = 10000\n");
$node->reload;
usleep(500_000);				# the worker rereads its settings within a poll interval
my $hold = webhook('hold', 'slow', q{'trace.anomaly'}, "?ms=$hold_ms");
my $quick = webhook('quick', 'ok', q{'cost.threshold'});
my $held = emit('trace.anomaly', '{"metric": "slow endpoint"}');
# (the receiver logs a request when it answers it)
ok(wait_for(sub { sql("SELECT status || ' ' || attempts FROM execlave.deliveries WHERE event_id = $held") eq 'delivering 1' }),
	'the slow endpoint has its request');
# With only the slow request in flight the worker waits on that request's
# socket and on its latch together: a commit wakes it at once, not at the
# poll interval (10 s) or when the slow request ends.
my $prompt = webhook('prompt', 'ok', q{'agent.paused'});
usleep(300_000);
my $prompt_ev = emit('agent.paused', '{"while": "slow request in flight"}');
my $t_emit = time;
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $prompt_ev") eq 'succeeded' }, 10)
	  && time - $t_emit < ($ENV{EXECLAVE_TEST_SLOW} ? 5 : 2.5),
	'a delivery committed while only a slow request is in flight goes out at once')
  or diag(sprintf('after %.1f s', time - $t_emit));
sql("SELECT execlave_disable_webhook('$prompt')");
# one session, 20 transactions: each commit wakes the worker
my @quick = split /\n/, sql(join('', map { qq{SELECT execlave.emit_event('cost.threshold', NULL, '{"n": $_}');\n} } 1 .. 20));
my $quick_list = join(',', @quick);
ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id IN ($quick_list) AND status = 'succeeded'") eq '20' },
		$hold_ms / 1000),
	'20 deliveries to another endpoint, each emitted after the slow request started, succeed');
is(sql("SELECT status || ' ' || attempts FROM execlave.deliveries WHERE event_id = $held") . ' ' . scalar(received('hold')),
	'delivering 1 0', 'while the slow request is still in flight, unanswered');
is(scalar(received('quick')), 20, 'each was received once');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $held") eq 'succeeded' }, $hold_ms / 1000 + 10),
	'then the slow delivery succeeds too');
sql("SELECT execlave_disable_webhook('$hold')");

# A slow endpoint with more deliveries due than there are request slots takes
# only its share of them (execlave.webhook_endpoint_concurrency): with 4
# slots and a share of 2, 4 slow deliveries go out 2 at a time while 20
# deliveries to another endpoint, emitted after them, all succeed before the
# first slow request is answered (with all 4 slots taken, they would wait).
$node->append_conf('postgresql.conf', "execlave.webhook_concurrency = 4\nexeclave.webhook_endpoint_concurrency = 2\n");
$node->reload;
usleep(500_000);
my $busy = webhook('busy', 'slow', q{'agent.resumed'}, "?ms=$hold_ms");
my @busy = split /\n/, sql(q{SELECT execlave.emit_event('agent.resumed', NULL, jsonb_build_object('n', g)) FROM generate_series(1, 4) g});
my $busy_list = join(',', @busy);
ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id IN ($busy_list) AND status = 'delivering'") eq '4' }),
	'the 4 slow deliveries are claimed');
@quick = split /\n/, sql(join('', map { qq{SELECT execlave.emit_event('cost.threshold', NULL, '{"m": $_}');\n} } 1 .. 20));
$quick_list = join(',', @quick);
ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id IN ($quick_list) AND status = 'succeeded'") eq '20' },
		$hold_ms / 1000),
	'20 deliveries to another endpoint, emitted after them, succeed');
is(scalar(received('busy')), 0, 'before any slow request is answered');
ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id IN ($busy_list) AND status = 'succeeded'") eq '4' },
		2 * $hold_ms / 1000 + 20),
	'then the 4 slow deliveries succeed');
# the receiver's t is when a request arrived: at most 2 overlap
my @arrived = sort { $a <=> $b } map { $_->{t} } received('busy');
my $most = 0;
for my $i (0 .. $#arrived)
{
	my $overlapping = grep { $_ >= $arrived[$i] && $_ < $arrived[$i] + $hold_ms * 0.9 } @arrived;
	$most = $overlapping if $overlapping > $most;
}
is($most, 2, 'never more than 2 of them in flight at once');
sql("SELECT execlave_disable_webhook('$busy'), execlave_disable_webhook('$quick')");
$node->append_conf('postgresql.conf',
	"execlave.webhook_timeout = 1000\nexeclave.webhook_concurrency = 32\nexeclave.webhook_endpoint_concurrency = 8\nexeclave.webhook_poll_interval = 100\n");
$node->reload;
usleep(500_000);

my $fail = webhook('fail', 'fail', q{'trace.anomaly'});
$ev = emit('trace.anomaly', '{"metric": "dead"}');
my $did;
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $ev") eq 'dead' }),
	'an always-failing delivery ends dead');
$did = sql("SELECT id FROM execlave.deliveries WHERE event_id = $ev");
like(sql("SELECT last_error FROM execlave.deliveries WHERE id = $did"), qr/^HTTP 500/, 'last error kept');
is(scalar(received('fail')), 4, 'it was attempted 4 times');
is(sql("SELECT execlave_redeliver($did)"), 't', 'execlave_redeliver queues a dead delivery');
ok(wait_for(sub { received('fail') >= 5 }), 'and it is attempted again');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE id = $did") eq 'dead' }),
	'dead again after its attempts');
my @fl = received('fail');
is(scalar(grep { $_->{id} eq "msg_$did" } @fl), 8, 'redelivered attempts keep the webhook-id');
like(sql("SELECT pending || ' ' || retrying || ' ' || dead || ' ' || (last_error IS NOT NULL) FROM execlave.webhook_health WHERE webhook_id = '$fail'"),
	qr/^0 0 1 true$/, 'webhook_health reports the dead delivery and the last error');

# A disabled endpoint gets nothing and gets no delivery rows.
sql("SELECT execlave_disable_webhook('$fail')");
$ev = emit('trace.anomaly', '{"metric": "disabled"}');
is(sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev"), '0',
	'no delivery is created for a disabled endpoint');

# The test event goes to the one endpoint asked.
sql("SELECT execlave_enable_webhook('$paused_only')");
my $before_all = scalar(received('all'));
$ev = sql("SELECT execlave_test_webhook('$paused_only')");
ok(wait_for(sub { grep { ($_->{type} // '') eq 'webhook.test' } received('paused') }),
	'execlave_test_webhook delivers a webhook.test event');
is(sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev"), '1', 'to that endpoint only');

# The longest secret accepted (64 bytes) signs deliveries that verify.
my $long_secret = 'whsec_' . sql(q{SELECT replace(encode(decode(repeat('5a', 64), 'hex'), 'base64'), E'\n', '')});
$secrets{longkey} = $long_secret;
save_secrets();
my $longkey = sql("SELECT id FROM execlave_create_webhook('$base/ok/longkey', ARRAY['agent.resumed'], '$long_secret')");
$ev = emit('agent.resumed', '{"agent_key": "long"}');
ok(wait_for(sub { received('longkey') >= 1 }), 'an endpoint with a 64-byte secret receives the event');
my ($lr) = received('longkey');
ok($lr && $lr->{verified}, 'and its signature verifies') or diag($lr ? $lr->{error} : 'nothing received');

# --- SSRF guard ---------------------------------------------------------------
sql("SELECT execlave_disable_webhook(id) FROM execlave.webhooks WHERE active");
sql('ALTER SYSTEM SET execlave.webhook_allow_private = off');
sql('SELECT pg_reload_conf()');
usleep(500_000);
# Only loopback targets here (no test traffic may leave the machine); every
# other refused range is checked through execlave.webhook_address_refusal,
# the classification this callback applies (sql/webhooks.sql).
my %targets = (
	loopback => "http://127.0.0.1:$port/ok/x",
	loopback_other => "http://127.45.6.7:$port/ok/x",
	v6loopback => "http://[::1]:$port/ok/x",
	v4mapped_loopback => "http://[::ffff:127.0.0.1]:$port/ok/x",
	localhost_name => "http://localhost:$port/ok/x",
);
my %ids;
for my $t (sort keys %targets)
{
	$ids{$t} = sql("SELECT id FROM execlave_create_webhook('$targets{$t}', ARRAY['trace.anomaly'])");
}
$before = scalar(received());
$ev = emit('trace.anomaly', '{"metric": "ssrf"}');
for my $t (sort keys %targets)
{
	ok( wait_for(sub {
			sql("SELECT coalesce(last_error, '') FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$ids{$t}'")
			  =~ /^refused: /
		}),
		"SSRF guard refuses $t");
}
like(sql("SELECT last_error FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$ids{v4mapped_loopback}'"),
	qr/is loopback/, 'the refusal names the kind of address (an IPv4-mapped address judged as IPv4)');
like(sql("SELECT last_error FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$ids{localhost_name}'"),
	qr/loopback/, 'a host name resolving to loopback is refused on the resolved address');
is(scalar(received()), $before, 'no request reached the receiver');

# Bad URLs are refused at creation.
for my $bad ('ftp://example.com/x', 'file:///etc/passwd', 'http://', 'not a url',
	'https://user:pw@example.com/')
{
	my ($rc, $o, $e) = $node->psql('postgres', "SELECT execlave_create_webhook('$bad')");
	like($e, qr/invalid webhook URL/, "refused at creation: $bad");
}

$receiver->kill_kill;
$node->stop;
done_testing();
