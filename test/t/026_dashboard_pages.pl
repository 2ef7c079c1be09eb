# More of the dashboard in a real browser (test/browser/dashboard_pages_test.js,
# Debian's chromium headless, puppeteer-core, axe-core) against the real
# front of this throwaway cluster: the policy form of every type (an invalid
# config shows the server's message at its field and writes nothing, a valid
# one is created), the Violations page's filters (time, policy, mode, phase),
# Next and Previous on the server-paged Agents and Approvals lists, the
# Approvals list refreshing by itself and keeping a request decided there,
# webhook disable and enable, the first list asked for while the modules
# load, and axe-core on the agent page's tabs.  Each line of the driver's TAP
# output becomes one test.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ExeclaveTest qw(start_http stop_http node_conn_uri run_node_tap execlave_node);

my $node = execlave_node('dashboard_pages');

my $admin = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('ops', 'test', 'admin')});
$node->safe_psql('postgres', q{
    SELECT count(execlave_register_agent('page-' || lpad(g::text, 3, '0'), 'Paged agent ' || g)) FROM generate_series(1, 120) g;
    SELECT execlave_register_agent('viol-bot', 'Violations');
    SELECT execlave_create_policy('recent-pii', 'pii_detection', 'log', '{}', '{viol-bot}');
    SELECT execlave_create_policy('old-models', 'model_allowlist', 'flag', '{"allow": ["gpt-4o"]}', '{viol-bot}');
    SELECT execlave_create_policy('refunds need a human', 'tool_access', 'require_approval', '{"deny": ["refund*"]}', '{viol-bot}');
});
# violations of known times: 3 of old-models (flag, pre_execution) 3 hours
# ago, 2 of recent-pii (log, ingestion) 20 minutes ago
$node->safe_psql('postgres', q{
    INSERT INTO execlave.violations (policy_id, policy_name, policy_type, mode, agent_id, agent_key, phase, message, recorded_by, created_at)
    SELECT p.id, p.name, p.type, p.mode, a.id, a.key, v.phase, v.message, 'test', now() - v.ago
    FROM (VALUES ('old-models', 'pre_execution', 'model llama is not allowed', interval '3 hours'),
                 ('old-models', 'pre_execution', 'model llama is not allowed', interval '3 hours 5 minutes'),
                 ('old-models', 'pre_execution', 'model llama is not allowed', interval '3 hours 10 minutes'),
                 ('recent-pii', 'ingestion', 'email found in input', interval '20 minutes'),
                 ('recent-pii', 'ingestion', 'email found in input', interval '21 minutes')) v(policy, phase, message, ago)
    JOIN execlave.policies p ON p.name = v.policy JOIN execlave.agents a ON a.key = 'viol-bot';
});
$node->safe_psql('postgres', q{SELECT execlave_create_webhook('https://hooks.example.com/in', '{agent.paused}')});

my $http = start_http($node);
my $conn = node_conn_uri($node);
local $ENV{EXECLAVE_ADMIN_KEY} = $admin;
run_node_tap([ 'node', 'test/browser/dashboard_pages_test.js', $http->{url}, $conn ], min => 60, what => 'the browser test', timeout => 300);

stop_http($http);
$node->stop;
done_testing();

