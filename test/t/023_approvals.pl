# Human approval under concurrency and over HTTP:
# - two approvers deciding one request at the same moment: exactly one wins,
#   the other gets EX013, one approval.resolved event;
# - N sessions calling execlave_enforce with the approved context at the same
#   moment: exactly one is allowed (the approval consumed once), the others
#   are told to ask again and share one new pending request;
# - the approval.requested / approval.resolved events reach a webhook
#   endpoint through the worker, signed;
# - the HTTP flow with the SDK's shapes (test/receiver/approvals_test.js,
#   through the real nginx + PostgREST of scripts/http.sh), with the
#   certificate checked by Node's crypto.verify.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP qw(decode_json);
use ExeclaveTest qw(start_http stop_http start_receiver wait_for node_conn_uri run_node_tap);

my $node = PostgreSQL::Test::Cluster->new('approvals');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
timezone = 'UTC'
max_connections = 60
max_worker_processes = 16
execlave.database = 'postgres'
execlave.webhook_allow_private = on
execlave.webhook_poll_interval = 100
});
$node->start;
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub psql_cmd { return ('psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=0', '-d', $node->connstr('postgres')); }

sql(q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('racer');
    SELECT execlave_create_policy('mail needs a human', 'tool_access', 'require_approval', '{"deny": ["send_mail"]}', ARRAY['racer']);
    CREATE ROLE approver_a LOGIN IN ROLE execlave_admin;
    CREATE ROLE approver_b LOGIN IN ROLE execlave_admin;
    CREATE ROLE racer_app LOGIN IN ROLE execlave_app;
});

# the webhook receiver, subscribed to the two approval events
my $tmp = PostgreSQL::Test::Utils::tempdir;
my $log_file = "$tmp/received.jsonl";
my %secrets;
my ($receiver, $port) = start_receiver($tmp, \%secrets, $log_file);
ok($port, 'receiver listening') or BAIL_OUT('the receiver did not start');
my ($wid, $wsecret) = split / /, sql(qq{SELECT id || ' ' || signing_secret FROM execlave_create_webhook(
    'http://127.0.0.1:$port/ok/approvals', ARRAY['approval.requested', 'approval.resolved'])});
$secrets{approvals} = $wsecret;
{
	open my $fh, '>', "$tmp/secrets.json" or die $!;
	print $fh JSON::PP->new->encode(\%secrets);
	close $fh;
}

# Start $n psql processes that each wait on a shared advisory lock held by
# $gate, then run $stmt (as $user): all start at once when the gate opens.
# Returns the outputs (stdout + stderr of each).
sub race
{
	my ($n, $user, $stmt_of) = @_;
	my $gate = $node->background_psql('postgres');
	$gate->query_safe('SELECT pg_advisory_lock(4242)');
	my (@h, @out);
	for my $i (0 .. $n - 1)
	{
		$out[$i] = '';
		my $stmt = $stmt_of->($i);
		push @h, IPC::Run::start(
			[ psql_cmd(), '-U', $user, '-c', 'SELECT pg_advisory_lock_shared(4242)', '-c', $stmt ],
			'>', \$out[$i], '2>&1');
	}
	$node->poll_query_until('postgres',
		qq{SELECT count(*) = $n FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted})
	  or die 'the racers did not line up';
	$gate->query_safe('SELECT pg_advisory_unlock(4242)');
	$_->finish for @h;
	$gate->quit;
	return @out;
}

# An approval request for the racer's context; returns its id.
my $ctx = q{'mail the report', NULL, NULL, ARRAY['send_mail'], '{"to": "cfo@example.com"}'};
sub ask { return (split /\n/, sql(qq{SELECT execlave_enforce('racer', $ctx) ->> 'approval_request_id'}))[-1]; }

# --- two approvers at once -------------------------------------------------------
my $trials = ExeclaveTest::slow() ? 2 : 10;
my ($one_winner, $loser_ex013, $one_event) = (0, 0, 0);
for my $t (1 .. $trials)
{
	my $id = ask();
	my $events0 = sql(q{SELECT count(*) FROM execlave.events WHERE event_type = 'approval.resolved'});
	my @out;
	my @users = ('approver_a', 'approver_b');
	my $gate = $node->background_psql('postgres');
	$gate->query_safe('SELECT pg_advisory_lock(4242)');
	my @h;
	for my $i (0, 1)
	{
		$out[$i] = '';
		my $verb = $i == 0 ? 'execlave_approve' : 'execlave_deny';
		push @h, IPC::Run::start(
			[ psql_cmd(), '-U', $users[$i], '-c', 'SELECT pg_advisory_lock_shared(4242)',
			  '-c', "SELECT $verb('$id', 'trial $t') ->> 'status'" ], '>', \$out[$i], '2>&1');
	}
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted})
	  or die 'the approvers did not line up';
	$gate->query_safe('SELECT pg_advisory_unlock(4242)');
	$_->finish for @h;
	$gate->quit;
	my $wins = grep { /^(approved|denied)$/m } @out;
	my $refused = grep { /EX013|already (approved|denied)/ } @out;
	$one_winner++ if $wins == 1;
	$loser_ex013++ if $refused == 1;
	my $row = sql(qq{SELECT status || ' ' || decided_by FROM execlave.approvals WHERE id = '$id'});
	my $events = sql(q{SELECT count(*) FROM execlave.events WHERE event_type = 'approval.resolved'}) - $events0;
	$one_event++ if $events == 1 && $row =~ /^(approved approver_a|denied approver_b)$/;
	# leave no approval behind for the next trial
	sql(qq{SELECT execlave_enforce('racer', $ctx)}) if $row =~ /^approved/;
	diag("trial $t: @out / $row") unless $wins == 1 && $refused == 1;
}
is($one_winner, $trials, "two approvers at once: exactly one decision stands ($trials trials)");
is($loser_ex013, $trials, 'the other approver gets EX013');
is($one_event, $trials, 'one approval.resolved event, the winner stamped as decider');

# --- N enforce calls racing to consume one approval --------------------------------
my $n = ExeclaveTest::slow() ? 4 : 16;
$trials = ExeclaveTest::slow() ? 2 : 5;
my ($one_allowed, $shared_new) = (0, 0);
for my $t (1 .. $trials)
{
	my $id = ask();
	sql(qq{SELECT execlave_approve('$id', 'race $t')});
	my @out = race($n, 'racer_app', sub {
		"SELECT (r ->> 'allowed') || ' ' || (r ->> 'approval_request_id') FROM execlave_enforce('racer', $ctx) r" });
	my @allowed = grep { /^true $id$/m } @out;
	my @asked = map { /^false (\S+)$/m ? $1 : () } @out;
	my %new = map { $_ => 1 } @asked;
	$one_allowed++ if @allowed == 1 && @asked == $n - 1;
	$shared_new++ if keys %new == 1 && !$new{$id};
	diag("trial $t: " . join(' | ', @out)) unless @allowed == 1 && @asked == $n - 1;
	is(sql(qq{SELECT status FROM execlave.approvals WHERE id = '$id'}), 'consumed', "trial $t: the approval is consumed");
	# the losers' new request: deny it so that the next trial starts afresh
	my ($new) = keys %new;
	sql(qq{SELECT execlave_deny('$new', 'cleanup')}) if $new;
}
is($one_allowed, $trials, "$n concurrent enforce calls, one approval: exactly one allowed ($trials trials)");
is($shared_new, $trials, 'the others share one new pending request');
is(sql(q{SELECT count(*) FROM execlave.approvals WHERE status = 'pending'}), '0', 'no duplicate pending requests');

# --- the events through the webhook worker ------------------------------------------
my $requested = sql(q{SELECT count(*) FROM execlave.events WHERE event_type = 'approval.requested'});
my $resolved = sql(q{SELECT count(*) FROM execlave.events WHERE event_type = 'approval.resolved'});
my @got;
ok(wait_for(sub {
	open my $fh, '<', $log_file or return 0;
	@got = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return @got >= $requested + $resolved;
}, 60), "every approval event delivered ($requested requested, $resolved resolved)");
is(scalar(grep { !$_->{verified} } @got), 0, 'every delivery verified by the receiver (Standard Webhooks signature)');
my ($req) = grep { $_->{type} eq 'approval.requested' } @got;
is(join(',', sort keys %{ $req->{data} // {} }),
	'agent_id,agent_key,approval_id,context,digest,expires_at,policies,requested_at,requested_by',
	'approval.requested carries what an approver needs');
my ($res) = grep { $_->{type} eq 'approval.resolved' } @got;
is(join(',', sort keys %{ $res->{data} // {} }),
	'agent_id,agent_key,approval_id,decided_at,decided_by,decision,digest,expires_at,policies,reason',
	'approval.resolved carries the decision');

# --- the HTTP flow -------------------------------------------------------------------
my $http = start_http($node);
my $conn_super = node_conn_uri($node);
run_node_tap([ 'node', 'test/receiver/approvals_test.js', $http->{url}, $conn_super ], min => 45, what => 'the HTTP driver', prefix => 'http: ');
stop_http($http);

$receiver->kill_kill;
$node->stop;
done_testing();

