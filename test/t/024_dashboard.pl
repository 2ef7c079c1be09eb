# The dashboard (web/, served by nginx at /) in a real browser: Debian's
# chromium, headless, driven by test/browser/dashboard_test.js
# (puppeteer-core, axe-core) against the real front (scripts/http.sh:
# PostgREST and nginx) of this throwaway cluster, with the webhook receiver
# (test/receiver) taking the deliveries.  Each line of the driver's TAP
# output becomes one test.  The run's screenshots of each page are left in
# tmp_check/dashboard-screenshots (scripts/test.sh keeps it with
# KEEP_WORK=1); docs/ holds those of a run.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ExeclaveTest qw(start_http stop_http start_receiver node_conn_uri run_node_tap);

my $node = PostgreSQL::Test::Cluster->new('dashboard');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
timezone = 'UTC'
max_worker_processes = 16
execlave.webhook_allow_private = on
execlave.webhook_poll_interval = '200ms'
execlave.webhook_retry_schedule = '300ms'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION execlave');

my $dir = $node->basedir;
my $log = "$dir/receiver.log";
my $secret = 'whsec_' . 'MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my ($receiver, $rport) = start_receiver($dir, { main => $secret }, $log);
ok($rport, 'the webhook receiver listens');

my $admin = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('ops', 'test', 'admin')});
$node->safe_psql('postgres', qq{
    SELECT execlave_register_agent('support-bot', 'Support');
    SELECT execlave_register_agent('billing-bot', 'Billing');
    SELECT execlave_register_agent('kbd-bot', 'Keyboard');
    SELECT execlave_register_agent('xss-agent', '<img src=x onerror=alert(1)>');
    SELECT execlave_create_webhook('http://127.0.0.1:$rport/ok/main', '{agent.paused}', '$secret');
    SELECT execlave_create_policy('support-day-cap', 'cost_limit', 'log', '{"max_cost_per_day": 1}', '{support-bot}');
});
my $agent_key = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('bot', 'test', 'agent', 'support-bot')});
my $revoked = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('gone', 'test', 'admin')});
$node->safe_psql('postgres', qq{SELECT execlave_revoke_api_key('$revoked')});

my $http = start_http($node);
my $conn = node_conn_uri($node);
my $out_dir = "$PostgreSQL::Test::Utils::tmp_check/dashboard-screenshots";
local $ENV{EXECLAVE_ADMIN_KEY} = $admin;
local $ENV{EXECLAVE_AGENT_KEY} = $agent_key;
local $ENV{EXECLAVE_REVOKED_KEY} = $revoked;
run_node_tap([ 'node', 'test/browser/dashboard_test.js', $http->{url}, $conn, $log, "$dir/secrets.json", $rport, $out_dir ], min => 80, what => 'the browser test', timeout => 300);

stop_http($http);
$receiver->kill_kill;
$node->stop;
done_testing();

