# execlave_authorize across sessions and on a hot standby: a session with a
# warm cache honours a grant, revoke, pause or resume committed elsewhere at
# its next statement; a streaming standby answers like the primary after
# replay, including right after a revoke or pause on the primary.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use ExeclaveTest qw(slow);

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'execlave'");
$primary->start;
$primary->safe_psql('postgres', q{
    CREATE EXTENSION execlave;
    SELECT execlave_register_agent('agent-a');
    SELECT execlave_register_agent('agent-b');
});

my $check = q{SELECT execlave_authorize('agent-a', 'agent-b', 'execute')};
my $explain = q{SELECT reason FROM execlave_authorize_explain('agent-a', 'agent-b', 'execute')};

# Session A keeps one backend (one cache) throughout.
my $a = $primary->background_psql('postgres');
is($a->query_safe($check), 'f', 'no grant: false (cache warm from here on)');

$primary->safe_psql('postgres', q{SELECT execlave_grant('agent-a', 'agent-b', ARRAY['execute'])});
is($a->query_safe($check), 't', 'grant committed elsewhere is seen at the next statement');

$primary->safe_psql('postgres', q{SELECT execlave_revoke('agent-a', 'agent-b')});
is($a->query_safe($check), 'f', 'revoke committed elsewhere is seen at the next statement');
is($a->query_safe($explain), 'revoked', 'explain says revoked');

$primary->safe_psql('postgres', q{SELECT execlave_grant('agent-a', 'agent-b', ARRAY['execute'])});
is($a->query_safe($check), 't', 'granted again');

$primary->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-b', 'maintenance')});
is($a->query_safe($explain), 'target_paused', 'pause of the target seen at the next statement');
$primary->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-b')});
$primary->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-a', 'maintenance')});
is($a->query_safe($explain), 'source_paused', 'pause of the source seen at the next statement');
$primary->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-a')});
is($a->query_safe($check), 't', 'resume seen at the next statement');

# Within one open transaction of A, a revoke committed meanwhile applies to the next statement.
$a->query_safe('BEGIN');
is($a->query_safe($check), 't', 'granted at the start of the transaction');
$primary->safe_psql('postgres', q{SELECT execlave_revoke('agent-a', 'agent-b')});
is($a->query_safe($check), 'f', 'revoked by the next statement of the same transaction');
$a->query_safe('COMMIT');

# An uncommitted grant elsewhere is not seen; its commit is.
my $b = $primary->background_psql('postgres');
$b->query_safe('BEGIN');
$b->query_safe(q{SELECT execlave_grant('agent-a', 'agent-b', ARRAY['execute'])});
is($a->query_safe($check), 'f', 'uncommitted grant not seen');
$b->query_safe('COMMIT');
is($a->query_safe($check), 't', 'committed grant seen');
$b->quit;

# Expiry needs no invalidation: a warm cache turns false when the clock passes it.
$primary->safe_psql('postgres', q{
    SELECT execlave_grant('agent-a', 'agent-b', ARRAY['query'], clock_timestamp() + interval '2 seconds')});
is($a->query_safe(q{SELECT execlave_authorize('agent-a', 'agent-b', 'query')}), 't', 'short grant live');
sleep 3;
is($a->query_safe(q{SELECT execlave_authorize('agent-a', 'agent-b', 'query')}), 'f',
	'short grant expired in a warm session with no other action');

# A hot standby answers like the primary.
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $s = $standby->background_psql('postgres', on_error_stop => 0);
is($s->query_safe(q{SELECT pg_is_in_recovery()}), 't', 'standby is in recovery');
is($s->query_safe($check), 't', 'standby authorizes like the primary');
is($s->query_safe(q{SELECT execlave_agent_status('agent-a')}), 'active', 'standby reports status');

$primary->safe_psql('postgres', q{SELECT execlave_revoke('agent-a', 'agent-b', ARRAY['execute'])});
$primary->wait_for_catchup($standby);
is($s->query_safe($check), 'f', 'revoke on the primary seen by a warm standby session after replay');
is($s->query_safe($explain), 'revoked', 'standby explains revoked');

$primary->safe_psql('postgres', q{SELECT execlave_grant('agent-a', 'agent-b', ARRAY['execute'])});
$primary->wait_for_catchup($standby);
is($s->query_safe($check), 't', 'grant on the primary seen after replay');

$primary->safe_psql('postgres', q{SELECT execlave_pause_agent('agent-a', 'standby test')});
$primary->wait_for_catchup($standby);
is($s->query_safe(q{SELECT execlave_agent_status('agent-a')}), 'paused', 'pause seen on the standby after replay');
is($s->query_safe($explain), 'source_paused', 'standby refuses a paused source');
my ($out, $ret) = $s->query(q{SELECT execlave_assert_active('agent-a')});
like($s->{stderr}, qr/agent "agent-a" is paused/, 'kill switch enforced on the standby');
$s->{stderr} = '';

$primary->safe_psql('postgres', q{SELECT execlave_resume_agent('agent-a')});
$primary->wait_for_catchup($standby);
is($s->query_safe($check), 't', 'resume seen on the standby after replay');

# Many trials: after each change on the primary (pause, resume, revoke,
# grant, on either agent), once it has replayed, the same warm standby
# session gives the primary's answers for authorize, its reason, and both
# agents' status.
my @ops = (
	q{SELECT execlave_pause_agent('agent-a', 'trial')}, q{SELECT execlave_resume_agent('agent-a')},
	q{SELECT execlave_pause_agent('agent-b', 'trial')}, q{SELECT execlave_resume_agent('agent-b')},
	q{SELECT execlave_revoke('agent-a', 'agent-b', ARRAY['execute'])},
	q{SELECT execlave_grant('agent-a', 'agent-b', ARRAY['execute'])});
my $answers = q{SELECT execlave_authorize('agent-a', 'agent-b', 'execute') || ' ' ||
    (SELECT reason FROM execlave_authorize_explain('agent-a', 'agent-b', 'execute')) || ' ' ||
    execlave_agent_status('agent-a') || ' ' || execlave_agent_status('agent-b')};
# (fewer under valgrind: a background psql session times out after
# PG_TEST_TIMEOUT_DEFAULT seconds in all)
my ($same, $trials, %seen) = (0, slow() ? 15 : 60);
srand(42);
for my $t (1 .. $trials)
{
	$primary->safe_psql('postgres', $ops[ int(rand(@ops)) ]);
	$primary->wait_for_catchup($standby);
	my $want = $primary->safe_psql('postgres', $answers);
	my $got = $s->query_safe($answers);
	$seen{$want} = 1;
	if ($got eq $want) { $same++ } else { diag("trial $t: primary '$want', standby '$got'") }
}
is($same, $trials, "standby answered like the primary right after each of $trials changes");
ok(keys(%seen) >= 4, 'the trials covered several states (' . join('; ', sort keys %seen) . ')');
$s->quit;
$a->quit;

$standby->stop;
$primary->stop;
done_testing();
