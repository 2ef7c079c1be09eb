# The webhook worker connects as the bootstrap superuser but must never run
# code a lesser role planted.  With CREATE on public granted to PUBLIC (the
# default before PostgreSQL 15, kept by pg_upgrade), a login role with no
# execlave privileges plants exact-match objects in public for the names the
# worker's statements use (operators, functions, aggregates, domains); each
# writes a marker row naming current_user and RAISEs LOG.  Then deliveries
# flow (signed delivery, retry, 410 disabling an endpoint, redelivery) under
# the default search_path, and again with public ahead of pg_catalog
# (ALTER DATABASE, ALTER SYSTEM and a reload, the worker restarted): no
# marker may name any role but the planter's, and every delivery must arrive
# signed.  A trigger on execlave.deliveries records, from inside the worker's
# own transactions, who it runs as, its search_path and whether it is a
# security-restricted operation.  Also: a database still at 0.1.1 gets its
# deliveries (as the superuser, the log says so) until it is updated.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use lib 'test/perl';
use ExeclaveTest qw(slow wait_for start_receiver webhook_worker_pid);

my $node = PostgreSQL::Test::Cluster->new('worker_security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'execlave'
execlave.database = 'postgres'
execlave.webhook_allow_private = on
execlave.webhook_retry_schedule = '300ms, 300ms'
execlave.webhook_poll_interval = 100
execlave.webhook_timeout = 2000
});
$node->start;

# The test's own sessions resolve pg_catalog first whatever the database or
# the server says (client options win over both), so that only the worker
# sees the search_path set below.
$ENV{PGOPTIONS} = '-c search_path=pg_catalog,public';

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $log_file = "$tmp/received.jsonl";
my %secrets;
my ($receiver, $port) = start_receiver($tmp, \%secrets, $log_file);
ok($port, 'receiver listening') or BAIL_OUT('the receiver did not start');
my $base = "http://127.0.0.1:$port";

sub sql { return $node->safe_psql('postgres', $_[0]); }
sub emit { return sql("SELECT execlave.emit_event('$_[0]', NULL, '$_[1]')"); }

sub save_secrets
{
	open my $fh, '>', "$tmp/secrets.json" or die $!;
	print $fh encode_json(\%secrets);
	close $fh;
}

sub webhook
{
	my ($name, $behaviour, $events, $query) = @_;
	$query //= '';
	my ($id, $secret) = split / /, sql(
		"SELECT id || ' ' || signing_secret FROM execlave_create_webhook('$base/$behaviour/$name$query', ARRAY[$events])");
	$secrets{$name} = $secret;
	save_secrets();
	return $id;
}

sub received
{
	my ($name) = @_;
	open my $fh, '<', $log_file or return ();
	my @all = map { decode_json($_) } grep { /\S/ } <$fh>;
	close $fh;
	return grep { $_->{name} eq $name } @all;
}

# --- Before 0.1.2: deliveries go on, as the superuser ------------------------------
# (the library is replaced before ALTER EXTENSION UPDATE runs: a database at
# 0.1.1 keeps its deliveries; the statements are qualified and the path pinned)
sql(q{CREATE EXTENSION execlave VERSION '0.1.1'});
my $early = webhook('early', 'ok', q{'agent.resumed'});
my $early_ev = emit('agent.resumed', '{"before": "0.1.2"}');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $early_ev") eq 'succeeded' }, 30),
	'a database at 0.1.1, without the role execlave_worker, still gets its deliveries');
ok(wait_for(sub { slurp_file($node->logfile) =~ /running its statements as the bootstrap superuser: execlave 0\.1\.1 in database "postgres" predates the role "execlave_worker"'s privileges/ }, 20),
	'and the log says its statements run as the superuser until the update');
sql('CREATE ROLE execlave_worker NOLOGIN');
sql('ALTER EXTENSION execlave UPDATE');
my $later_ev = emit('agent.resumed', '{"after": "update"}');
ok(wait_for(sub { sql("SELECT status FROM execlave.deliveries WHERE event_id = $later_ev") eq 'succeeded' }, 30),
	'after ALTER EXTENSION UPDATE deliveries go on');
sql("SELECT execlave_disable_webhook('$early')");

# --- The planter and its plants ---------------------------------------------------
sql(q{GRANT CREATE ON SCHEMA public TO PUBLIC; CREATE ROLE planter LOGIN});
my $plants = <<'SQL';
CREATE TABLE public.markers (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    who         text NOT NULL,
    pid         int,
    what        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp());
GRANT INSERT ON public.markers TO PUBLIC;

CREATE FUNCTION public.mark(what text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.markers (who, pid, what) VALUES (current_user, pg_catalog.pg_backend_pid(), what);
    RAISE LOG 'planted % ran as %', what, current_user;
    RETURN true;
END $$;

-- operators: each marks, then answers as the built-in would
CREATE FUNCTION public.p1(a bigint, b interval) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('*(bigint, interval)'); RETURN a::float8 * b; END $$;
CREATE OPERATOR public.* (LEFTARG = bigint, RIGHTARG = interval, FUNCTION = public.p1);
CREATE FUNCTION public.p2(a integer, b interval) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('*(integer, interval)'); RETURN a::float8 * b; END $$;
CREATE OPERATOR public.* (LEFTARG = integer, RIGHTARG = interval, FUNCTION = public.p2);
CREATE FUNCTION public.p3(a double precision, b interval) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('*(double precision, interval)'); RETURN a * b; END $$;
CREATE OPERATOR public.* (LEFTARG = double precision, RIGHTARG = interval, FUNCTION = public.p3);
CREATE FUNCTION public.p4(a numeric, b integer) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('*(numeric, integer)'); RETURN a * b::numeric; END $$;
CREATE OPERATOR public.* (LEFTARG = numeric, RIGHTARG = integer, FUNCTION = public.p4);
CREATE FUNCTION public.p5(a timestamptz, b interval) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('+(timestamptz, interval)'); RETURN a + b; END $$;
CREATE OPERATOR public.+ (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = public.p5);
CREATE FUNCTION public.p6(a timestamptz, b timestamptz) RETURNS interval LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('-(timestamptz, timestamptz)'); RETURN a - b; END $$;
CREATE OPERATOR public.- (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.p6);
CREATE FUNCTION public.p7(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('=(uuid, uuid)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.p7);
CREATE FUNCTION public.p8(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('=(bigint, bigint)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.p8);
CREATE FUNCTION public.p9(a bigint, b bigint) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('<>(bigint, bigint)'); RETURN a <> b; END $$;
CREATE OPERATOR public.<> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.p9);
CREATE FUNCTION public.p10(a text, b text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('=(text, text)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.p10);
CREATE FUNCTION public.p11(a timestamptz, b timestamptz) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('<=(timestamptz, timestamptz)'); RETURN a <= b; END $$;
CREATE OPERATOR public.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = public.p11);
CREATE FUNCTION public.p12(a integer, b integer) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('>(integer, integer)'); RETURN a > b; END $$;
CREATE OPERATOR public.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.p12);
CREATE FUNCTION public.p13(a bigint, b integer) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('<=(bigint, integer)'); RETURN a <= b; END $$;
CREATE OPERATOR public.<= (LEFTARG = bigint, RIGHTARG = integer, FUNCTION = public.p13);
CREATE FUNCTION public.p14(a integer, b integer) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('+(integer, integer)'); RETURN a + b; END $$;
CREATE OPERATOR public.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.p14);
CREATE FUNCTION public.p15(a integer, b integer) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('=(integer, integer)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.p15);
CREATE FUNCTION public.p16(a name, b name) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('=(name, name)'); RETURN a = b; END $$;
CREATE OPERATOR public.= (LEFTARG = name, RIGHTARG = name, FUNCTION = public.p16);

-- functions (exact matches beat the polymorphic unnest(anyarray))
CREATE FUNCTION public.unnest(a bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('unnest(bigint[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a integer[]) RETURNS SETOF integer LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('unnest(integer[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('unnest(text[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a double precision[]) RETURNS SETOF double precision LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('unnest(double precision[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.unnest(a uuid[]) RETURNS SETOF uuid LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('unnest(uuid[])'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$;
CREATE FUNCTION public.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('clock_timestamp()'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION public.to_char(a timestamp, b text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('to_char(timestamp, text)'); RETURN pg_catalog.to_char(a, b); END $$;
CREATE FUNCTION public.timezone(a text, b timestamptz) RETURNS timestamp LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('timezone(text, timestamptz)'); RETURN pg_catalog.timezone(a, b); END $$;
CREATE FUNCTION public.date_part(a text, b interval) RETURNS double precision LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('date_part(text, interval)'); RETURN pg_catalog.date_part(a, b); END $$;
CREATE FUNCTION public.jsonb_build_object(a text, b text, c text, d text, e text, f jsonb) RETURNS jsonb
    LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('jsonb_build_object(text, ...)'); RETURN pg_catalog.jsonb_build_object(a, b, c, d, e, f); END $$;
-- COALESCE is grammar, never a function call: this one can never be reached
CREATE FUNCTION public.coalesce(a integer, b integer) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('coalesce(integer, integer)'); RETURN COALESCE(a, b); END $$;

-- aggregates (row_number() OVER (...) accepts an aggregate as well)
CREATE FUNCTION public.rn_step(s bigint) RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('row_number()'); RETURN s + 1; END $$;
CREATE AGGREGATE public.row_number(*) (SFUNC = public.rn_step, STYPE = bigint, INITCOND = '0');
CREATE FUNCTION public.min_step(s timestamptz, v timestamptz) RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog
    AS $$ BEGIN PERFORM public.mark('min(timestamptz)'); RETURN pg_catalog.least(s, v); END $$;
CREATE AGGREGATE public.min(timestamptz) (SFUNC = public.min_step, STYPE = timestamptz);

-- types: a domain's CHECK runs on every cast to it
CREATE DOMAIN public.uuid AS pg_catalog.uuid CHECK (public.mark('domain uuid'));
CREATE DOMAIN public.int4 AS pg_catalog.int4 CHECK (public.mark('domain int4'));
CREATE DOMAIN public.text AS pg_catalog.text CHECK (public.mark('domain text'));
SQL
$node->safe_psql('postgres', $plants, extra_params => [ '-U', 'planter' ]);
is(sql(q{SELECT (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = 'planter') || ' '
             || (SELECT count(*) FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
                 WHERE n.nspname = 'public' AND pg_get_userbyid(o.oprowner) = 'planter') || ' '
             || (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'public' AND t.typtype = 'd' AND pg_get_userbyid(t.typowner) = 'planter')}),
	'32 16 3', 'the planter planted 32 functions and aggregates, 16 operators and 3 domains in public');
is(sql(q{SELECT pg_has_role('planter', 'execlave_worker', 'MEMBER') OR pg_has_role('planter', 'execlave_admin', 'MEMBER')}),
	'f', 'it holds no execlave role');

# Inside the worker's own transactions: who runs, with which search_path,
# and whether a temporary table may be created (refused in a
# security-restricted operation).  (By pid: pg_stat_activity hides the
# backend type of a session of another user from a role like execlave_worker.)
sql(<<'SQL');
CREATE TABLE public.worker_context (who text, search_path text, temp_table text, pid int);
GRANT INSERT ON public.worker_context TO PUBLIC;
CREATE FUNCTION public.record_worker_context() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t text := 'created';
BEGIN
    BEGIN
        CREATE TEMP TABLE IF NOT EXISTS worker_probe (x int);
    EXCEPTION WHEN OTHERS THEN
        t := SQLERRM;
    END;
    INSERT INTO public.worker_context
    VALUES (current_user, pg_catalog.current_setting('search_path'), t, pg_catalog.pg_backend_pid());
    RETURN NULL;
END $$;
CREATE TRIGGER zz_record_worker_context AFTER UPDATE ON execlave.deliveries
    FOR EACH ROW EXECUTE FUNCTION public.record_worker_context();
SQL

# Deliveries of every kind, to three new endpoints: signed, retried, 410, redelivered.
sub deliveries_flow
{
	my ($round) = @_;
	my $ok = webhook("ok$round", 'ok', q{'agent.paused'});
	my $flaky = webhook("flaky$round", 'flaky', q{'agent.paused'}, '?fail=1');
	my $gone = webhook("gone$round", 'gone', q{'agent.paused'});
	my $ev = emit('agent.paused', qq{{"round": $round}});
	ok(wait_for(sub { sql("SELECT count(*) FROM execlave.deliveries WHERE event_id = $ev AND status IN ('succeeded', 'dead')") eq '3' }),
		"round $round: every delivery has its outcome");
	is(sql("SELECT status || ' ' || attempts FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$ok'"),
		'succeeded 1', "round $round: the delivery succeeded");
	is(sql("SELECT status || ' ' || attempts FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$flaky'"),
		'succeeded 2', "round $round: the failing one succeeded when retried");
	ok(wait_for(sub { sql("SELECT active FROM execlave.webhooks WHERE id = '$gone'") eq 'f' }),
		"round $round: 410 disabled its endpoint");
	like(sql("SELECT disabled_reason FROM execlave.webhooks WHERE id = '$gone'"), qr/410 Gone/,
		"round $round: with the reason");
	my $did = sql("SELECT id FROM execlave.deliveries WHERE event_id = $ev AND webhook_id = '$ok'");
	is(sql("SELECT execlave_redeliver($did)"), 't', "round $round: redeliver");
	ok(wait_for(sub { received("ok$round") >= 2 && sql("SELECT status FROM execlave.deliveries WHERE id = $did") eq 'succeeded' }),
		"round $round: the redelivery arrived");
	my @all = (received("ok$round"), received("flaky$round"), received("gone$round"));
	is(scalar(@all), 5, "round $round: 5 requests (1 + redelivery, 2, 1)");
	is(scalar(grep { $_->{verified} } @all), 5, "round $round: every one signed and verified");
	is(scalar(grep { $_->{id} eq "msg_$did" } received("ok$round")), 2, "round $round: the redelivery kept its webhook-id");
	sql("SELECT execlave_disable_webhook('$ok'), execlave_disable_webhook('$flaky')");
}

sub markers
{
	return sql(q{SELECT coalesce(string_agg(DISTINCT who || ' (pid ' || pid || '): ' || what, E'\n'), '')
	             FROM public.markers WHERE who <> 'planter'});
}

sub worker_context_ok
{
	my ($label) = @_;
	my $w = "pid = " . webhook_worker_pid($node);
	my $rows = sql("SELECT count(*) FROM public.worker_context WHERE $w");
	cmp_ok($rows, '>', 0, "$label: the worker's updates went through the context trigger");
	is(sql("SELECT string_agg(DISTINCT who || ' / ' || search_path, ', ') FROM public.worker_context WHERE $w"),
		'execlave_worker / pg_catalog, pg_temp',
		"$label: the worker's statements run as execlave_worker with search_path pg_catalog, pg_temp");
	like(sql("SELECT string_agg(DISTINCT temp_table, ', ') FROM public.worker_context WHERE $w"),
		qr/^cannot create temporary table within security-restricted operation$/,
		"$label: as a security-restricted operation");
	sql('TRUNCATE public.worker_context');
}

# Round 1: the default search_path ("$user", public: pg_catalog implicitly first).
is(sql('SHOW search_path'), 'pg_catalog,public', "the test's own sessions put pg_catalog first");
deliveries_flow(1);
is(markers(), '', 'default search_path: no plant ran as anyone but the planter');
worker_context_ok('default search_path');

# Round 2: public ahead of pg_catalog for every new session of the database and
# in the configuration file; the worker is restarted to connect under it.
sql(q{ALTER DATABASE postgres SET search_path = public, pg_catalog});
sql(q{ALTER SYSTEM SET search_path = public, pg_catalog});
$node->reload;
usleep(300_000);
deliveries_flow(2);
is(markers(), '', 'public first, after a reload: no plant ran as anyone but the planter');
worker_context_ok('after a reload with public first');
my $pid = webhook_worker_pid($node);
kill 'TERM', $pid;
ok(wait_for(sub { my $p = webhook_worker_pid($node); $p ne '' && $p ne $pid }, 30), 'the worker restarted');
{
	local $ENV{PGOPTIONS} = '';
	is($node->safe_psql('postgres', 'SHOW search_path', extra_params => [ '-U', 'planter' ]), 'public, pg_catalog',
		'a new session of the database has public first');
}
deliveries_flow(3);
is(markers(), '', 'public first from the connection on: no plant ran as anyone but the planter');
worker_context_ok('connected with public first');

# The plants work: run as the planter they fire (so their silence above is not
# that of broken plants).
$node->safe_psql('postgres', q{SET search_path = public, pg_catalog;
	SELECT 1::bigint * interval '1 ms', pg_catalog.count(x) FROM unnest(ARRAY[1::bigint]) x},
	extra_params => [ '-U', 'planter' ]);
is(sql(q{SELECT string_agg(DISTINCT what, ', ' ORDER BY what) FROM public.markers WHERE who = 'planter'}),
	'*(bigint, interval), unnest(bigint[])', 'the plants fire for whoever resolves them');
like(slurp_file($node->logfile), qr/planted \*\(bigint, interval\) ran as planter/, 'and RAISE LOG');

$receiver->kill_kill;
$node->stop;
done_testing();
