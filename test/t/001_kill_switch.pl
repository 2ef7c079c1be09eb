# Kill switch across sessions: a warm agent cache sees a committed pause at
# its next statement, NOTIFY reaches listeners, pauses survive a restart, and
# everything works without shared_preload_libraries.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'execlave'");
$node->start;
$node->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('agent-1');
    SELECT execlave_register_agent('agent-2');
});

# Session A keeps one connection (and so one backend cache) throughout.
my $a = $node->background_psql('postgres', on_error_stop => 0);
$a->query_safe('\set VERBOSITY verbose');

# Run a statement in session A; return (stdout, stderr) and clear stderr.
sub in_a
{
	my ($sql) = @_;
	my ($out) = $a->query($sql);
	my $err = $a->{stderr};
	$a->{stderr} = '';
	return ($out, $err);
}

my $insert = q{INSERT INTO execlave.traces (agent_key, input) VALUES ('agent-1', 'hi') RETURNING agent_key};

# Warm the cache.
my ($out, $err) = in_a(q{SELECT execlave_agent_status('agent-1')});
is($out, 'active', 'session A sees agent-1 active');
($out, $err) = in_a($insert);
is($err, '', 'trace accepted while active (cache warm)');

# Pause from session B: A's next statement is refused.
$node->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-1', 'harmful outputs')});
($out, $err) = in_a($insert);
like($err, qr/EX001: agent "agent-1" is paused/, 'warm session refuses the trace at its next statement with EX001');
like($err, qr/DETAIL:  Paused at .* by \S+: harmful outputs/, 'detail carries time, actor and reason');
like($err, qr/HINT:  Resume it with SELECT execlave_resume_agent\('agent-1'\)/, 'hint names the resume function');
($out, $err) = in_a(q{SELECT execlave_agent_status('agent-1')});
is($out, 'paused', 'warm session reports paused');
($out, $err) = in_a(q{SELECT execlave_assert_active('agent-1')});
like($err, qr/EX001/, 'execlave_assert_active raises EX001 in the warm session');
($out, $err) = in_a(q{INSERT INTO execlave.traces (agent_key, input) VALUES ('agent-2', 'x') RETURNING agent_key});
is($err, '', 'other agents are unaffected');

# Resume from B: A's next statement succeeds.
$node->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-1')});
($out, $err) = in_a($insert);
is($err, '', 'trace accepted again after resume');

# Inside one open transaction of A, a pause committed meanwhile applies to the next statement.
($out, $err) = in_a(q{BEGIN});
($out, $err) = in_a($insert);
is($err, '', 'first insert of the transaction accepted');
# (A's insert holds a FOR KEY SHARE lock on the agent row through the FK: the
# pause must not wait for it.)
my ($prc) = $node->psql('postgres', q{SET statement_timeout = '5s'; SELECT execlave_pause_agent('agent-1', 'mid-transaction')});
is($prc, 0, 'pause does not wait behind an open transaction that inserted traces');
($out, $err) = in_a($insert);
like($err, qr/EX001/, 'next statement of the same open transaction is refused');
in_a(q{ROLLBACK});
$node->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-1')});

# An uncommitted pause in B does not stop A; its commit does.
my $b = $node->background_psql('postgres', on_error_stop => 0);
$b->query_safe(q{BEGIN});
$b->query_safe(q{SELECT execlave_pause_agent('agent-1', 'not yet committed')});
($out, $err) = in_a($insert);
is($err, '', 'uncommitted pause in another session does not apply');
$b->query_safe(q{COMMIT});
($out, $err) = in_a($insert);
like($err, qr/EX001/, 'the pause applies once committed');

# A rolled-back resume leaves the agent paused for everyone.
$b->query_safe(q{BEGIN});
$b->query_safe(q{SELECT execlave_resume_agent('agent-1')});
$b->query_safe(q{ROLLBACK});
($out, $err) = in_a($insert);
like($err, qr/EX001/, 'a rolled-back resume changes nothing');
$b->quit;

# A miss is cached too: an agent unknown to A is found once B registers it.
($out, $err) = in_a(q{SELECT execlave_agent_status('late-agent')});
like($err, qr/EX002/, 'unknown agent raises EX002 (miss cached)');
$node->safe_psql('postgres', q{SELECT execlave_register_agent('late-agent')});
($out, $err) = in_a(q{SELECT execlave_agent_status('late-agent')});
is($out, 'active', 'agent registered by another session is seen at the next statement');

# NOTIFY execlave_agent_status is a hint: the agent's id and status_version
# only (any role can listen, and forge one); execlave_agent_state() is the answer.
in_a(q{LISTEN execlave_agent_status});
$node->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-1')});
$node->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-2', 'notify test')});
($out, $err) = in_a(q{SELECT 1});
my $id1 = $node->safe_psql('postgres', q{SELECT id FROM execlave.agents WHERE key = 'agent-1'});
my $id2 = $node->safe_psql('postgres', q{SELECT id FROM execlave.agents WHERE key = 'agent-2'});
like($out, qr/Asynchronous notification "execlave_agent_status" with payload "\{"agent_id": "$id1", "status_version": \d+\}"/,
	'resume notifies listeners with the id and status_version only');
my ($v2) = $out =~ /payload "\{"agent_id": "$id2", "status_version": (\d+)\}"/;
ok($v2, 'pause notifies listeners too');
unlike($out, qr/notify test|postgres/, 'no reason and no actor in any payload');
is($node->safe_psql('postgres', "SELECT status || ' ' || pause_reason || ' ' || confirmed FROM execlave_agent_state('$id2', $v2)"),
	'paused notify test true', 'the listener confirms the version and reads the state');

# a forged notification changes nothing for a listener that follows the pattern
my $rogue_out = $node->safe_psql('postgres', qq{
    CREATE ROLE rogue LOGIN;
    SET ROLE rogue;
    SELECT pg_notify('execlave_agent_status', '{"agent_id": "$id2", "status_version": 999, "status": "active"}');
});
($out, $err) = in_a(q{SELECT 1});
like($out, qr/status_version": 999/, 'a role with no execlave grant can forge a notification');
is($node->safe_psql('postgres', "SELECT status || ' ' || confirmed FROM execlave_agent_state('$id2', 999)"),
	'paused false', 'execlave_agent_state says the forged version is not real; the agent stays paused');
my ($rc0, $o0, $e0) = $node->psql('postgres', qq{SET ROLE rogue; SELECT * FROM execlave_agent_state('$id2')});
like($e0, qr/permission denied/, 'and a role with no grant cannot read the state');
$a->quit;

# A pause survives a restart (fresh backends, empty caches).
$node->restart;
my ($rc, $stdout, $stderr) = $node->psql('postgres',
	q{INSERT INTO execlave.traces (agent_key) VALUES ('agent-2')}, extra_params => ['-v', 'VERBOSITY=verbose']);
like($stderr, qr/EX001: agent "agent-2" is paused/, 'pause still enforced after restart');
is($node->safe_psql('postgres', q{SELECT pause_reason FROM execlave.agents WHERE key = 'agent-2'}),
	'notify test', 'pause reason kept across restart');

# Many sessions: after a pause commits, no new statement anywhere accepts a trace.
$node->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-2')});
my @sessions = map { $node->background_psql('postgres', on_error_stop => 0) } 1 .. 4;
$_->query_safe(q{INSERT INTO execlave.traces (agent_key) VALUES ('agent-2')}) for @sessions;
$node->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-2', 'fleet test')});
my $refused = 0;
for my $s (@sessions)
{
	$s->query(q{INSERT INTO execlave.traces (agent_key) VALUES ('agent-2')});
	$refused++ if $s->{stderr} =~ /is paused/;
	$s->quit;
}
is($refused, 4, 'every warm session refuses after the pause');
$node->stop;

# Without shared_preload_libraries the kill switch works all the same.
my $plain = PostgreSQL::Test::Cluster->new('no_preload');
$plain->init;
$plain->start;
$plain->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('solo');
    SELECT execlave_pause_agent('solo', 'no preload');
});
($rc, $stdout, $stderr) = $plain->psql('postgres', q{INSERT INTO execlave.traces (agent_key) VALUES ('solo')});
like($stderr, qr/agent "solo" is paused/, 'kill switch works without preloading');
is($plain->safe_psql('postgres', q{SELECT execlave_agent_status('solo')}), 'paused', 'status works without preloading');
$plain->stop;

done_testing();
