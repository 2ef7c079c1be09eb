# OTLP/HTTP ingestion through the front (real nginx and PostgREST,
# scripts/http.sh): the real OpenTelemetry JS SDK (test/otel/export.js:
# sdk-trace-base spans, exporter-trace-otlp-http for JSON and
# exporter-trace-otlp-proto for protobuf) exports GenAI spans to POST
# /v1/traces; they arrive as traces with the mapped fields; a block policy's
# spans and a paused agent's spans are rejected in partialSuccess; a retried
# batch is stored and counted once; a span with tokens only is priced from
# execlave.model_prices and counts toward a budget.  Bad input over HTTP
# (curl): 400, 413 (also for a gzip bomb), 415, 401, 405, nothing written.
use strict;
use warnings;
use lib 'test/perl';
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use ExeclaveTest qw(start_http stop_http execlave_node);

my $node = execlave_node('otlp');
for my $a (qw(otel-agent guarded-agent paused-agent budget-agent other-agent))
{
	$node->safe_psql('postgres', qq{SELECT execlave_register_agent('$a')});
}
my $admin = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('ops', 'prod', 'admin')});
my $agent_key = $node->safe_psql('postgres', q{SELECT api_key FROM execlave_create_api_key('otel', 'prod', 'agent', 'otel-agent')});
my $http = start_http($node);
my $url = "$http->{url}/v1/traces";

# Export with the SDK; returns the list of answers (one per batch) and the summary.
sub export_spans
{
	my (%o) = @_;
	my $opts = { url => $url, key => $o{key} // $admin, protocol => $o{protocol} // 'json',
		gzip => $o{gzip} ? JSON::PP::true : JSON::PP::false, times => $o{times} // 1, spans => $o{spans} };
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'node', 'test/otel/export.js', encode_json($opts) ], '>', \$out, '2>', \$err)
	  or diag("export.js failed: $err");
	my @lines = map { decode_json($_) } grep { /^\{/ } split /\n/, $out;
	my $done = pop @lines;
	diag("export.js: $err") if $err ne '';
	return (\@lines, $done);
}

sub psql1 { my ($sql) = @_; return $node->safe_psql('postgres', $sql); }

# --- JSON and protobuf exports arrive as traces with the mapped fields ---------------
for my $case ([ 'json', 0 ], [ 'proto', 0 ], [ 'json', 1 ], [ 'proto', 1 ])
{
	my ($protocol, $gzip) = @$case;
	my $what = $protocol . ($gzip ? ' gzip' : '');
	my $model = "gpt-4o-$protocol-$gzip";
	my ($answers, $done) = export_spans(protocol => $protocol, gzip => $gzip,
		spans => [ { agent => 'otel-agent', model => $model, input => 1000, output => 100, tool => 'web_search', text => "hello $what" } ]);
	is(scalar(@$answers), 1, "$what: one export");
	is($answers->[0]{code}, 0, "$what: the exporter reports success");
	ok(!defined $answers->[0]{partial}, "$what: no partialSuccess");
	is(psql1(qq{SELECT count(*) FROM execlave.traces WHERE model = '$model'}), 1, "$what: the chat span is a trace");
	is(psql1(qq{SELECT agent_key || ' ' || prompt_tokens || ' ' || completion_tokens || ' ' || total_tokens || ' ' || status || ' ' || span_type
	        || ' ' || array_to_string(tools, ',') || ' ' || (input LIKE '%hello $what%') || ' ' || (metadata->'otel'->>'provider')
	        || ' ' || (trace_id ~ '^otel_[0-9a-f]{32}_[0-9a-f]{16}\$') || ' ' || (duration_ms >= 0)
	        FROM execlave.traces WHERE model = '$model'}),
		'otel-agent 1000 100 1100 success chat web_search true openai true true', "$what: the mapped fields");
	# gpt-4o- matches the shipped prefix price gpt-4o: 1000 * 2.50 + 100 * 10.00 per million
	is(psql1(qq{SELECT cost_usd FROM execlave.traces WHERE model = '$model'}), '0.003500000', "$what: the cost from the price table");
	is(psql1(qq{SELECT count(*) FROM execlave.traces c JOIN execlave.traces p ON c.parent_trace_id = p.trace_id
	        WHERE p.model = '$model' AND c.span_type = 'execute_tool' AND c.tools = '{web_search}'}), 1,
		"$what: the execute_tool span is a trace whose parent is the chat span");
}

# --- a block policy's spans are rejected in partialSuccess --------------------------
psql1(q{SELECT execlave_create_policy('no-shell', 'tool_access', 'block', '{"deny": ["shell"]}', ARRAY['guarded-agent'])});
for my $protocol ('json', 'proto')
{
	my ($answers) = export_spans(protocol => $protocol, spans => [
		{ agent => 'guarded-agent', model => "m-$protocol", input => 1, output => 1, tool => 'shell' },
		{ agent => 'guarded-agent', model => "m-$protocol", input => 1, output => 1, count => 2 } ]);
	my $p = $answers->[0]{partial} // {};
	is($answers->[0]{code}, 0, "$protocol: a partly refused export succeeds");
	is($p->{rejectedSpans}, 2, "$protocol: the blocked chat span and its shell call are rejected");
	like($p->{errorMessage} // '', qr/blocked by policy "no-shell"/, "$protocol: errorMessage names the policy");
	is(psql1(qq{SELECT count(*) FROM execlave.traces WHERE model = 'm-$protocol'}), 2, "$protocol: the other spans are stored");
}
is(psql1(q{SELECT count(*) FROM execlave.violations v JOIN execlave.policies p ON p.id = v.policy_id WHERE p.name = 'no-shell'}), 4,
	'each blocked span recorded one violation');

# --- a paused agent's spans are rejected ---------------------------------------------
psql1(q{SELECT execlave_pause_agent('paused-agent', 'incident 42')});
for my $protocol ('json', 'proto')
{
	my ($answers) = export_spans(protocol => $protocol, spans => [
		{ agent => 'paused-agent', model => 'paused-model', count => 3 }, { agent => 'otel-agent', model => "live-$protocol" } ]);
	my $p = $answers->[0]{partial} // {};
	is($p->{rejectedSpans}, 3, "$protocol: the paused agent's 3 spans are rejected");
	like($p->{errorMessage} // '', qr/paused/, "$protocol: errorMessage says the agent is paused");
	is(psql1(qq{SELECT count(*) FROM execlave.traces WHERE model = 'live-$protocol'}), 1, "$protocol: the other agent's span is stored");
}
is(psql1(q{SELECT count(*) FROM execlave.traces WHERE agent_key = 'paused-agent'}), 0, 'nothing stored for the paused agent');

# --- an agent key exports only its own agent's spans ---------------------------------
{
	my ($answers) = export_spans(key => $agent_key, spans => [
		{ agent => 'otel-agent', model => 'own-model' }, { agent => 'other-agent', model => 'not-own-model' } ]);
	is($answers->[0]{partial}{rejectedSpans} // 0, 1, 'agent key: the other agent\'s span is rejected');
	is(psql1(q{SELECT count(*) FROM execlave.traces WHERE model IN ('own-model', 'not-own-model')}), 1, 'agent key: its own span is stored');
}

# --- a retried batch is stored and counted once; tokens only priced into a budget ----
psql1(q{SELECT execlave_create_policy('small-budget', 'budget_cap', 'block', '{"max_cost_per_month": 0.01}', ARRAY['budget-agent'])});
for my $protocol ('json', 'proto')
{
	my ($answers) = export_spans(protocol => $protocol, times => 2,
		spans => [ { agent => 'budget-agent', model => "gpt-4o-budget-$protocol", input => 400, output => 50 } ]);
	is(scalar(@$answers), 2, "$protocol: exported twice (a retry)");
	ok(!defined $answers->[1]{partial}, "$protocol: the retry is accepted");
	is(psql1(qq{SELECT count(*) FROM execlave.traces WHERE model = 'gpt-4o-budget-$protocol'}), 1, "$protocol: stored once");
}
# 2 spans of 400 * 2.50 + 50 * 10.00 per million = 0.0015 each
is(psql1(q{SELECT spend_usd FROM execlave_usage('budget-agent') WHERE period = 'month'}), '0.003', 'the budget counted each priced span once');
{
	my ($answers) = export_spans(protocol => 'proto',
		spans => [ { agent => 'budget-agent', model => 'gpt-4o-budget-big', input => 3000, output => 500, count => 3 } ]);
	# 0.0125 each: the first takes the month to 0.0155 > 0.01 or is refused; the ones after are refused
	my $p = $answers->[0]{partial} // {};
	ok(($p->{rejectedSpans} // 0) >= 2, 'spans over the budget are rejected in partialSuccess') or diag(explain($answers));
	like($p->{errorMessage} // '', qr/small-budget/, 'errorMessage names the budget');
}

# --- bad input over HTTP: clean answers, nothing written -------------------------------
my $before = psql1(q{SELECT count(*) FROM execlave.traces});
sub curl
{
	my (@args) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', @args, $url ], '>', \$out, '2>', \$err);
	return $out;
}
my $tmp = PostgreSQL::Test::Utils::tempdir();
sub write_file { my ($name, $data) = @_; open my $fh, '>:raw', "$tmp/$name" or die; print $fh $data; close $fh; return "$tmp/$name"; }
my $truncated = write_file('truncated.bin', "\x0a\x80\x04\x12");
my $wrongwire = write_file('wrongwire.bin', "\x08\x01");
my $huge = write_file('huge.bin', "\x0a\xff\xff\xff\xff\x0f\x00");
my $bomb = "$tmp/bomb.gz";
system("head -c 40000000 /dev/zero | gzip -c > '$bomb'") == 0 or die 'gzip failed';
my $notgzip = write_file('notgzip.bin', "\x1f\x8b\x08\x00garbage");
my @auth = ('-H', "X-API-Key: $admin");
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '--data-binary', "\@$truncated"), '400', 'truncated protobuf: 400');
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '--data-binary', "\@$wrongwire"), '400', 'wrong wire type: 400');
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '--data-binary', "\@$huge"), '400', 'huge length: 400');
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '-H', 'Content-Encoding: gzip', '--data-binary', "\@$bomb"), '413',
	'gzip bomb (40 MB of zeros in 40 kB): 413');
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '-H', 'Content-Encoding: gzip', '--data-binary', "\@$notgzip"), '400',
	'not gzip: 400');
is(curl(@auth, '-H', 'Content-Type: application/json', '-d', '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "abc", "spanId": "00f067aa0ba902b7", "startTimeUnixNano": "1", "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}]}]}]}]}'),
	'200', 'an id of the wrong length: 200, the span rejected');
is(curl(@auth, '-H', 'Content-Type: application/json', '-d', '{"resourceSpans": '), '400', 'undecodable JSON: 400');
is(curl(@auth, '-H', 'Content-Type: application/json', '--data-binary', "{\"resourceSpans\": [{\"schemaUrl\": \"\xff\xfe\"}]}"), '400',
	'invalid UTF-8 in JSON: 400');
is(curl(@auth, '-H', 'Content-Type: application/json', '-X', 'POST'), '400', 'empty JSON request: 400');
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '-X', 'POST'), '200', 'empty protobuf request (no spans): 200');
is(curl(@auth, '-H', 'Content-Type: text/plain', '-d', 'hello'), '415', 'another content type: 415');
is(curl('-H', 'Content-Type: application/json', '-d', '{}'), '401', 'no key: 401');
is(curl('-H', 'Authorization: Bearer ag_prod_nonsense', '-H', 'Content-Type: application/json', '-d', '{}'), '401', 'a wrong key: 401');
is(curl('-X', 'GET'), '405', 'GET: 405');
my $big = "$tmp/big.bin";
system("head -c 21000000 /dev/zero > '$big'") == 0 or die;
is(curl(@auth, '-H', 'Content-Type: application/x-protobuf', '--data-binary', "\@$big"), '413', 'over 20 MiB: 413');
is(psql1(q{SELECT count(*) FROM execlave.traces}), $before, 'nothing written by bad input');
# the answer to a protobuf request is protobuf, to a JSON request JSON
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'curl', '-s', '-D', '-', '-o', '/dev/null', @auth, '-H', 'Content-Type: application/x-protobuf',
			'--data-binary', "\@$truncated", $url ], '>', \$out, '2>', \$err);
	like($out, qr/^Content-Type: application\/x-protobuf/mi, 'a refused protobuf request is answered in protobuf');
	IPC::Run::run([ 'curl', '-s', '-D', '-', '-o', '/dev/null', @auth, '-H', 'Content-Type: application/json', '-d', '{}', $url ],
		'>', \$out, '2>', \$err);
	like($out, qr/^Content-Type: application\/json/mi, 'a JSON request is answered in JSON');
}

stop_http($http);
$node->stop;
done_testing();
