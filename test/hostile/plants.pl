# Hostile-schema plants for test/t/017_hostile_schema.pl (not part of the
# extension).
#
# What it does, at test time, from the sources themselves so that the list
# stays complete as the code changes:
#
#   1. extract(): every function/aggregate name called, every operator symbol
#      used and every type name used in a cast or typed literal, in the
#      install and upgrade scripts (sql/execlave--*.sql, built ones included)
#      and in the SQL that C code embeds (string literals of src/*.c that look
#      like SQL, and the names passed to execlave_call_internal);
#   2. catalog_sql(): one query that fetches, from the test cluster, what
#      pg_catalog has under those names (pg_proc with pg_aggregate,
#      pg_operator, pg_type) and the implicit casts (pg_cast castcontext 'i');
#   3. candidates(): for each pg_catalog object, the objects an unprivileged
#      role can create in a schema it may write that win overload resolution
#      against it once that schema is on the search_path:
#        - polymorphic arguments (anyelement, anyarray, anycompatible..., and
#          "any") replaced by concrete types (@CONCRETE), an exact match
#          always beats a polymorphic candidate;
#        - concrete arguments replaced by the types of @CONCRETE that cast to
#          them implicitly, e.g. *(bigint, interval) for pg_catalog's
#          *(double precision, interval);
#        - variadic "any" functions: VARIADIC text[] (string literals are
#          unknown and prefer text), and for the key/value builders
#          (jsonb_build_object, json_build_object) explicit-arity plants
#          (text, anyelement, ..., text, anycompatible): the text keys make
#          them better than "any";
#        - "shadows" with pg_catalog's own signature (and domains named like
#          the cast types), which win only where the schema comes before
#          pg_catalog in the search_path;
#   4. probe_script(): asks PostgreSQL (psql's \gdesc: parse and describe,
#      nothing runs) what each call resolves to with pg_catalog alone, i.e.
#      the result type the code that makes the call expects;
#   5. finish(): the SQL of each plant.  A plant records a marker
#      (mallory.hostile_mark, see marker_sql) and passes its arguments to the
#      pg_catalog object of the same name, so it returns exactly what the
#      call would without it and the code paths keep working and reach their
#      later statements.  Aggregates get a jsonb state function that marks
#      and collects the arguments and a final function that marks and feeds
#      them to the original (an unprivileged role cannot create an aggregate
#      with an internal state).
#
# Not covered (documented limits): window functions and ordered-set
# aggregates (only C or an internal state can implement them), functions
# with arguments of other pseudo-types (record, internal, cstring, anyrange,
# anyenum, ...), key/value builder calls with more than two distinct value
# types, and heterogeneous calls of other variadic "any" functions (a
# polymorphic plant against "any" would tie and break the call with "is not
# unique" instead of marking).
#
# Standalone: `perl test/hostile/plants.pl [repository root]` prints the
# extracted names with where each is used.
package HostilePlants;

use strict;
use warnings;
use JSON::PP;

# The concrete types plants use for polymorphic and implicitly cast
# arguments, spelled as format_type() spells them.
our @CONCRETE = (
	'text', 'character varying', 'name', 'integer', 'bigint', 'smallint', 'numeric',
	'double precision', 'real', 'boolean', 'uuid', 'jsonb', 'json',
	'timestamp with time zone', 'timestamp without time zone', 'date', 'interval',
	'bytea', 'inet', 'xid8', 'oid', 'regclass',
	'text[]', 'uuid[]', 'bigint[]', 'integer[]', 'jsonb[]', 'double precision[]');

# Variadic "any" functions called with key/value pairs.
our %KV_BUILDERS = map { $_ => 1 } qw(jsonb_build_object json_build_object);

# Most combinations of substituted argument types for one signature; beyond
# it, one argument at a time and all at once.
our $MAX_COMBINATIONS = 64;
# Key/value builder plants up to this many pairs.
our $MAX_KV_PAIRS = 8;

my $OPCHARS = qr{[+\-*/<>=~!\@#%^&|`?]};

# ---------------------------------------------------------------------------
# 1. Names used by the sources
# ---------------------------------------------------------------------------

# The source files: install and upgrade scripts (built included), C files.
sub source_files
{
	my ($root) = @_;
	my @sql = sort glob("$root/sql/execlave--*.sql");
	my @c = sort glob("$root/src/*.c");
	return (\@sql, \@c);
}

sub _slurp
{
	my ($f) = @_;
	open my $fh, '<', $f or die "$f: $!";
	local $/;
	my $t = <$fh>;
	close $fh;
	return $t;
}

# Remove SQL comments, keeping line numbers (newlines stay).
sub _strip_sql_comments
{
	my ($t) = @_;
	$t =~ s{/\*.*?\*/}{ my $c = $&; $c =~ tr/\n//cd; $c }gse;
	$t =~ s{--[^\n]*}{}g;
	return $t;
}

# The SQL strings of a C file: runs of adjacent string literals (a macro
# between two literals ends a run) that contain an SQL keyword, each with the
# line it starts on.
sub _c_sql_literals
{
	my ($t) = @_;
	$t =~ s{/\*.*?\*/}{ my $c = $&; $c =~ tr/\n//cd; $c }gse;
	$t =~ s{//[^\n]*}{}g;
	my @out;
	my ($run, $line, $end) = (undef, 0, -1);
	while ($t =~ /"((?:[^"\\\n]|\\.)*)"/g)
	{
		my ($lit, $start, $stop) = ($1, $-[0], $+[0]);
		my $between = $end >= 0 ? substr($t, $end, $start - $end) : '';
		if (defined $run && $between =~ /^\s*$/)
		{
			$run .= $lit;
		}
		else
		{
			push @out, [ $run, $line ] if defined $run;
			$run = $lit;
			$line = 1 + (substr($t, 0, $start) =~ tr/\n//);
		}
		$end = $stop;
	}
	push @out, [ $run, $line ] if defined $run;
	for (@out) { $_->[0] =~ s/\\"/"/g; $_->[0] =~ s/\\n/ /g; $_->[0] =~ s/\\t/ /g; }
	return grep { $_->[0] =~ /\b(?:SELECT|INSERT|UPDATE|DELETE|WITH)\b/ } @out;
}

# Blank out the single-quoted strings of SQL text (same length, newlines
# kept); returns the code and the strings' contents with their offsets.
# Dollar quotes are transparent: function bodies are scanned as code.
sub _split_strings
{
	my ($text) = @_;
	(my $code = $text) =~ s/\$[A-Za-z_]*\$/ my $m = $&; ' ' x length($m) /ge;
	my @strings;
	$code =~ s{'((?:[^']|'')*)'}{
		push @strings, [ $1, $-[0] ];
		my $c = $&; $c =~ s/[^\n]/ /g; $c
	}ge;
	return ($code, @strings);
}

# Names used in one piece of SQL text starting at line $line0 of $file.
# Functions are looked for everywhere (strings included: EXECUTE runs
# some); operators and casts in the code and in the strings that are SQL
# statements themselves (EXECUTE format('...')), not in messages and
# regular expressions.
sub _scan
{
	my ($names, $text, $file, $line0, $offset) = @_;
	$offset //= 0;
	my $where = sub {
		my ($pos) = @_;
		return "$file:" . ($line0 + (substr($text, 0, $pos) =~ tr/\n//));
	};
	my ($code, @strings) = _split_strings($text);
	# function and aggregate calls: name( or schema.name(
	while ($text =~ /(?<![\w."])(?:("?[A-Za-z_][A-Za-z0-9_]*"?)\s*\.\s*)?("?[A-Za-z_][A-Za-z0-9_]*"?)\s*\(/g)
	{
		my ($schema, $name, $pos) = ($1, $2, $-[0]);
		next if substr($text, 0, $pos) =~ /::\s*$/;		# a type modifier
		($name = lc $name) =~ s/"//g;
		$names->{functions}{$name}{ $where->($pos) } = 1;
	}
	# operators: maximal runs of operator characters, as the SQL lexer cuts them
	while ($code =~ /($OPCHARS+)/g)
	{
		my ($op, $pos) = ($1, $-[0]);
		# a multi-character operator ends in + or - only if it has one of ~!@#%^&|`?
		while (length($op) > 1 && $op =~ /[+\-]$/ && $op !~ /[~!\@#%^&|`?]/) { chop $op; }
		$op = '<>' if $op eq '!=';
		next if $op eq '=>';		# named argument notation
		$names->{operators}{$op}{ $where->($pos) } = 1;
	}
	# operators the parser makes from keywords
	my %kw = ('\bNOT\s+LIKE\b' => ['!~~'], '\bNOT\s+ILIKE\b' => ['!~~*'],
		'\bLIKE\b' => ['~~'], '\bILIKE\b' => ['~~*'],
		'\bBETWEEN\b' => [ '>=', '<=' ], '\bNOT\s+IN\s*\(' => ['<>'], '\bIN\s*\(' => ['='],
		'\bDISTINCT\s+FROM\b' => ['='], '\bNULLIF\s*\(' => ['='], '\bCASE\b' => ['='],
		'\bSIMILAR\s+TO\b' => ['~']);
	for my $re (sort keys %kw)
	{
		while ($code =~ /$re/gi)
		{
			my $pos = $-[0];
			$names->{operators}{$_}{ $where->($pos) } = 1 for @{ $kw{$re} };
		}
	}
	# types in casts (x::type, CAST(x AS type)) and typed literals (type 'x')
	while ($code =~ /::\s*(?:"?[A-Za-z_][A-Za-z0-9_]*"?\s*\.\s*)?("?[A-Za-z_][A-Za-z0-9_]*"?)/g)
	{
		(my $t = lc $1) =~ s/"//g;
		$names->{types}{$t}{ $where->($-[0]) } = 1;
	}
	while ($code =~ /\bCAST\s*\([^;]*?\bAS\s+(?:[A-Za-z_][A-Za-z0-9_]*\s*\.\s*)?([A-Za-z_][A-Za-z0-9_]*)/gi)
	{
		$names->{types}{ lc $1 }{ $where->($-[0]) } = 1;
	}
	while ($text =~ /\b([A-Za-z_][A-Za-z0-9_]*)\s+'/g)
	{
		$names->{types}{ lc $1 }{ $where->($-[0]) } = 1;
	}
	# strings that are statements of their own
	for my $s (@strings)
	{
		my ($str, $pos) = @$s;
		next unless $str =~ /\b(?:SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|WITH)\b/;
		$str =~ s/''/'/g;
		_scan($names, $str, $file, $line0 + (substr($text, 0, $pos) =~ tr/\n//));
	}
	return;
}

# {functions|operators|types} => {name => {"file:line" => 1}}
sub extract
{
	my ($root) = @_;
	my ($sql, $c) = source_files($root);
	die "no install script under $root/sql" unless @$sql;
	my %names = (functions => {}, operators => {}, types => {});
	for my $f (@$sql)
	{
		(my $rel = $f) =~ s{^\Q$root\E/}{};
		_scan(\%names, _strip_sql_comments(_slurp($f)), $rel, 1);
	}
	for my $f (@$c)
	{
		(my $rel = $f) =~ s{^\Q$root\E/}{};
		my $t = _slurp($f);
		_scan(\%names, $_->[0], $rel, $_->[1]) for _c_sql_literals($t);
		while ($t =~ /execlave_call_internal\s*\(\s*"([^"]+)"/g)
		{
			$names{functions}{ lc $1 }{"$rel:" . (1 + (substr($t, 0, $-[0]) =~ tr/\n//))} = 1;
		}
	}
	return \%names;
}

# ---------------------------------------------------------------------------
# 2. What pg_catalog has under those names
# ---------------------------------------------------------------------------

sub _sql_array
{
	my (@v) = @_;
	return 'ARRAY[' . join(', ', map { my $x = $_; $x =~ s/'/''/g; "'$x'" } @v) . ']::pg_catalog.text[]';
}

# One query (run with search_path = pg_catalog) returning a JSON document:
# procs, ops, types, casts, concrete.
sub catalog_sql
{
	my ($names) = @_;
	my $fn = _sql_array(sort keys %{ $names->{functions} });
	my $op = _sql_array(sort keys %{ $names->{operators} });
	my $ty = _sql_array(sort keys %{ $names->{types} });
	my $concrete = _sql_array(@CONCRETE);
	return <<"SQL";
SET search_path = pg_catalog, pg_temp;
SELECT jsonb_build_object(
  'procs', (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'name', p.proname, 'kind', p.prokind, 'aggkind', a.aggkind,
        'nargs', p.pronargs, 'ndefaults', p.pronargdefaults,
        'intypes', (SELECT coalesce(jsonb_agg(format_type(t, NULL) ORDER BY o), '[]') FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o)),
        'alltypes', (SELECT jsonb_agg(format_type(t, NULL) ORDER BY o) FROM unnest(p.proallargtypes) WITH ORDINALITY u(t, o)),
        'modes', to_jsonb(p.proargmodes::text[]), 'argnames', to_jsonb(p.proargnames),
        'defaults', (SELECT jsonb_agg(pg_get_function_arg_default(p.oid, i) ORDER BY i)
                     FROM generate_series(1, coalesce(array_length(p.proallargtypes, 1), p.pronargs)) i),
        'variadic', p.provariadic <> 0, 'retset', p.proretset, 'rettype', format_type(p.prorettype, NULL),
        'sig', p.oid::regprocedure::text) ORDER BY p.proname, p.oid), '[]')
      FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
      WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.proname = ANY ($fn)),
  'ops', (SELECT coalesce(jsonb_agg(jsonb_build_object(
        'name', o.oprname, 'kind', o.oprkind,
        'left', CASE WHEN o.oprleft <> 0 THEN format_type(o.oprleft, NULL) END,
        'right', format_type(o.oprright, NULL), 'result', format_type(o.oprresult, NULL),
        'sig', o.oid::regoperator::text) ORDER BY o.oprname, o.oid), '[]')
      FROM pg_operator o
      WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprname = ANY ($op) AND o.oprcode <> 0),
  'types', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', t.typname, 'type', format_type(t.oid, NULL)) ORDER BY t.typname), '[]')
      FROM pg_type t
      WHERE t.typnamespace = 'pg_catalog'::regnamespace AND t.typname = ANY ($ty)
        AND t.typtype IN ('b', 'e') AND t.typelem = 0 AND t.typname !~ '^_' AND t.typisdefined),
  'casts', (SELECT coalesce(jsonb_agg(jsonb_build_array(format_type(c.castsource, NULL), format_type(c.casttarget, NULL))), '[]')
      FROM pg_cast c WHERE c.castcontext = 'i' AND c.castsource <> c.casttarget),
  'concrete', (SELECT jsonb_agg(jsonb_build_object('type', format_type(t.oid, NULL),
        'array', CASE WHEN t.typarray <> 0 THEN format_type(t.typarray, NULL) END,
        'isarray', t.typelem <> 0 AND t.typlen = -1) ORDER BY x.o)
      FROM unnest($concrete) WITH ORDINALITY x(n, o) JOIN pg_type t ON t.oid = x.n::regtype))
SQL
}

# ---------------------------------------------------------------------------
# 3. The plants
# ---------------------------------------------------------------------------

my %FAMILY_A = map { $_ => 1 } qw(anyelement anyarray anynonarray);
my %FAMILY_B = map { $_ => 1 } qw(anycompatible anycompatiblearray anycompatiblenonarray);
my %SUPPORTED_PSEUDO = (%FAMILY_A, %FAMILY_B, '"any"' => 1);

sub _q { my ($s) = @_; $s =~ s/'/''/g; return "'$s'"; }
sub _qi { my ($s) = @_; $s =~ s/"/""/g; return "\"$s\""; }

# A pseudo-type other than the polymorphic ones we substitute?
sub _unsupported
{
	my ($t) = @_;
	return 0 if $SUPPORTED_PSEUDO{$t};
	return 1 if $t =~ /^(?:any\w*|internal|cstring|record|trigger|event_trigger|language_handler|fdw_handler|index_am_handler|table_am_handler|tsm_handler|unknown|void|opaque|pg_ddl_command)$/;
	return 1 if $t =~ /\[\]$/ && _unsupported(substr($t, 0, -2));
	return 0;
}

# Cartesian product of lists of choices, capped: beyond $MAX_COMBINATIONS,
# each position's choices with the others at their first choice, and every
# position at its i-th choice together.
sub _combinations
{
	my (@choices) = @_;
	my $n = 1;
	$n *= scalar(@$_) for @choices;
	if ($n <= $MAX_COMBINATIONS)
	{
		my @out = ([]);
		for my $c (@choices)
		{
			@out = map { my $p = $_; map { [ @$p, $_ ] } @$c } @out;
		}
		return @out;
	}
	my @out;
	for my $i (0 .. $#choices)
	{
		for my $alt (@{ $choices[$i] })
		{
			push @out, [ map { $_ == $i ? $alt : $choices[$_][0] } 0 .. $#choices ];
		}
	}
	my $max = 0;
	for (@choices) { $max = @$_ if @$_ > $max; }
	for my $k (0 .. $max - 1)
	{
		push @out, [ map { $_->[ $k < @$_ ? $k : 0 ] } @choices ];
	}
	return @out;
}

# The candidate plants for the catalog document $cat (decoded JSON) in
# schema $schema, without their SQL (see probe_script and finish): a list of
# {schema, kind, name, args, variadic, argnames, defaults, outs, of, class,
# kv}.  class is 'beats' (wins against the pg_catalog object $of wherever
# the schema is on the search_path) or 'shadow' (pg_catalog's own signature
# or type name: wins only where the schema comes before pg_catalog).
sub candidates
{
	my ($cat, $schema) = @_;
	my %implicit;    # target => [sources in @CONCRETE]
	my %concrete_info = map { $_->{type} => $_ } @{ $cat->{concrete} };
	my @base = grep { !$concrete_info{$_}{isarray} } map { $_->{type} } @{ $cat->{concrete} };
	my @arrays = grep { $concrete_info{$_}{isarray} } map { $_->{type} } @{ $cat->{concrete} };
	for my $c (@{ $cat->{casts} })
	{
		push @{ $implicit{ $c->[1] } }, $c->[0] if $concrete_info{ $c->[0] };
	}
	my (%seen, @plants, %existing);
	for my $p (@{ $cat->{procs} })
	{
		$existing{"f $p->{name}(" . join(',', @{ $p->{intypes} }) . ')'} = 1;
	}
	for my $o (@{ $cat->{ops} })
	{
		$existing{"o $o->{name}(" . join(',', $o->{left} // 'NONE', $o->{right}) . ')'} = 1;
	}

	# The choices for one concrete argument of a pg_catalog signature: its
	# own type if it is one of @CONCRETE (a shadow), and the types of
	# @CONCRETE that cast to it implicitly.
	my $choices = sub {
		my ($t) = @_;
		return [ ($concrete_info{$t} ? ($t) : ()), grep { $_ ne $t } @{ $implicit{$t} // [] } ];
	};
	# Polymorphic substitutions: a list of {polymorphic type => concrete type}.
	my $poly_maps = sub {
		my (@types) = @_;
		my %has = map { $_ => 1 } @types;
		my @fam;
		for my $fam ([ \%FAMILY_A, 'anyelement', 'anyarray', 'anynonarray' ],
			[ \%FAMILY_B, 'anycompatible', 'anycompatiblearray', 'anycompatiblenonarray' ])
		{
			my ($set, $elem, $arr, $nonarr) = @$fam;
			next unless grep { $set->{$_} } @types;
			# an element that is itself an array only where nothing says array or non-array
			my @elems = ($has{$arr} || $has{$nonarr}) ? @base : (@base, @arrays);
			push @fam, [ $elem, $arr, $nonarr, \@elems ];
		}
		return ({}) unless @fam;
		my @maps = ({});
		for my $f (@fam)
		{
			my ($elem, $arr, $nonarr, $elems) = @$f;
			@maps = map {
				my $m = $_;
				map {
					my $a = $concrete_info{$_}{array};
					(!defined $a && $has{$arr}) ? () : { %$m, $elem => $_, $nonarr => $_, (defined $a ? ($arr => $a) : ()) }
				} @$elems
			} @maps;
		}
		# both families: the same element only
		@maps = grep { $_->{anyelement} eq $_->{anycompatible} } @maps if @fam == 2;
		return @maps;
	};
	my $add = sub {
		my ($plant) = @_;
		my $key = "$plant->{kind} $plant->{name}(" . join(',', map { $_ // 'NONE' } @{ $plant->{args} }) . ')';
		return if $seen{$key}++;
		my $ekey = ($plant->{kind} eq 'operator' ? 'o ' : 'f ') . "$plant->{name}(" . join(',', map { $_ // 'NONE' } @{ $plant->{args} }) . ')';
		$plant->{class} = $existing{$ekey} ? 'shadow' : 'beats';
		$plant->{schema} = $schema;
		push @plants, $plant;
	};

	# --- functions and aggregates ---
	for my $p (@{ $cat->{procs} })
	{
		next unless $p->{kind} eq 'f' || ($p->{kind} eq 'a' && ($p->{aggkind} // '') eq 'n');
		my @in = @{ $p->{intypes} };
		next if grep { _unsupported($_) } @in;
		my @all = @{ $p->{alltypes} // \@in };
		my @modes = @{ $p->{modes} // [ ('i') x @in ] };
		my @argnames = @{ $p->{argnames} // [] };
		my @defaults = @{ $p->{defaults} // [] };
		my @out_idx = grep { $modes[$_] =~ /^[ot]$/ } 0 .. $#all;
		next if @out_idx && (!$p->{retset} || $p->{kind} eq 'a');
		next if $p->{rettype} eq 'record' && !@out_idx;		# needs a column definition list
		next if $p->{rettype} =~ /^(?:trigger|event_trigger|internal|cstring|language_handler|fdw_handler|index_am_handler|table_am_handler|tsm_handler)$/;
		my @in_idx = grep { $modes[$_] !~ /^[ot]$/ } 0 .. $#all;
		my $poly = grep { /^any/ || $_ eq '"any"' } @in;
		my $variadic_any = $p->{variadic} && @in && $in[-1] eq '"any"';
		my @variants;    # [ [arg types], {poly map}, kv ]
		for my $m ($poly_maps->(@in))
		{
			my @per = map {
				my $t = $in[$_];
				$t eq '"any"' ? (($variadic_any && $_ == $#in) ? ['text[]'] : [ @base, @arrays ])
				  : exists $m->{$t} ? [ $m->{$t} ]
				  : ($poly && $concrete_info{$t}) ? [$t]    # the substituted argument already wins
				  : $choices->($t)
			} 0 .. $#in;
			next if grep { !@$_ } @per;
			push @variants, [ $_, $m ] for _combinations(@per);
		}
		# explicit-arity key/value plants of the builders: the text keys beat "any"
		if ($variadic_any && $KV_BUILDERS{ $p->{name} } && @in == 1)
		{
			for my $pairs (1 .. $MAX_KV_PAIRS)
			{
				my @vals = $pairs == 1 ? ('anyelement') : (('anyelement') x ($pairs - 1), 'anycompatible');
				push @variants, [ [ map { ('text', $_) } @vals ], {}, 1 ];
			}
		}
		for my $v (@variants)
		{
			my ($types, $map, $kv) = @$v;
			my (@names, @defs);
			for my $i (0 .. $#$types)
			{
				my $ai = $kv ? undef : $in_idx[$i];
				push @names, (defined $ai && defined $argnames[$ai] && $argnames[$ai] ne '') ? $argnames[$ai] : undef;
				push @defs, defined $ai ? $defaults[$ai] : undef;
			}
			my @outs = map { [ $argnames[$_], $map->{ $all[$_] } // $all[$_] ] } @out_idx;
			next if grep { _unsupported($_->[1]) } @outs;
			$add->({ kind => $p->{kind} eq 'a' ? 'aggregate' : 'function', name => $p->{name}, args => $types,
					variadic => ($p->{variadic} && !$kv) ? 1 : 0, argnames => \@names, defaults => \@defs, outs => \@outs,
					retset => $p->{retset}, kv => $kv, kv_ret => $p->{rettype}, of => $p->{sig} });
		}
	}

	# --- operators ---
	for my $o (@{ $cat->{ops} })
	{
		my @in = grep { defined } ($o->{left}, $o->{right});
		next if grep { _unsupported($_) } @in;
		my $poly = grep { /^any/ } @in;
		for my $m ($poly_maps->(@in))
		{
			my @per = map { exists $m->{$_} ? [ $m->{$_} ] : ($poly && $concrete_info{$_}) ? [$_] : $choices->($_) } @in;
			next if grep { !@$_ } @per;
			for my $types (_combinations(@per))
			{
				$add->({ kind => 'operator', name => $o->{name}, args => [ defined $o->{left} ? @$types : (undef, @$types) ],
						of => $o->{sig} });
			}
		}
	}

	# --- types used in casts: a domain of the same name whose check marks ---
	for my $t (@{ $cat->{types} })
	{
		$add->({ kind => 'domain', name => $t->{name}, args => [], of => "type $t->{type}" });
		$plants[-1]{class} = 'shadow' if @plants && $plants[-1]{kind} eq 'domain' && $plants[-1]{name} eq $t->{name};
	}
	return @plants;
}

# The expression a plant stands in for, with typed NULLs as arguments: what
# the call resolves to with pg_catalog alone.
sub _probe_expr
{
	my ($p) = @_;
	my $name = _qi($p->{name});
	if ($p->{kind} eq 'operator')
	{
		my ($l, $r) = @{ $p->{args} };
		return (defined $l ? "NULL::$l " : '') . "OPERATOR(pg_catalog.$p->{name}) NULL::$r";
	}
	my @a = map { "NULL::$_" } @{ $p->{args} };
	$a[-1] = "VARIADIC $a[-1]" if $p->{variadic} && @a;
	return "pg_catalog.$name(" . (@a ? join(', ', @a) : $p->{kind} eq 'aggregate' ? '*' : '') . ')';
}

# A psql script (run with search_path = pg_catalog) that prints, for each
# distinct candidate, "hp<n>|<type>": the result type of what the call
# resolves to without any plant (\gdesc parses and describes, nothing is
# planned or executed).  A call pg_catalog cannot resolve prints nothing.
sub probe_script
{
	my (@plants) = @_;
	my (%n, @out);
	push @out, "SET search_path = pg_catalog, pg_temp;\n";
	for my $p (@plants)
	{
		next if $p->{kind} eq 'domain' || $p->{kv};
		my $e = _probe_expr($p);
		next if exists $n{$e};
		$n{$e} = scalar(keys %n) + 1;
		push @out, "SELECT $e AS hp$n{$e} \\gdesc\n";
	}
	return (join('', @out), \%n);
}

# Complete the candidates with their SQL, given the probe's output ($probed:
# the "hp<n>|<type>" lines) and the numbering probe_script returned; drops
# those pg_catalog does not resolve.  Each plant forwards its arguments, as
# they are, to the pg_catalog object of the same name, so it returns exactly
# what the call would have without it.
sub finish
{
	my ($probed, $numbers, @plants) = @_;
	my %type;
	for my $line (split /\n/, $probed)
	{
		$type{$1} = $2 if $line =~ /^hp(\d+)\|(.+)$/;
	}
	my (@out, $n);
	for my $p (@plants)
	{
		my $s = _qi($p->{schema});
		my $name = _qi($p->{name});
		my @args = @{ $p->{args} };
		$n++;
		if ($p->{kind} eq 'domain')
		{
			$p->{sig} = "$p->{schema}.$p->{name} [domain over pg_catalog.$p->{name}]";
			$p->{sql} = [ "CREATE DOMAIN $s.$name AS pg_catalog.$name CHECK (mallory.hostile_check(" . _q($p->{sig}) . '))' ];
			push @out, $p;
			next;
		}
		my $ret = $p->{kv} ? $p->{kv_ret} : $type{ $numbers->{ _probe_expr($p) } // '' };
		next unless defined $ret && $ret ne '';
		my @shown = map { $_ // 'NONE' } @args;
		$shown[-1] = "VARIADIC $shown[-1]" if $p->{variadic} && @shown;
		my $sig = "$p->{schema}.$p->{name}(" . join(', ', @shown) . ')';
		my @sql;
		if ($p->{kind} eq 'operator')
		{
			my ($l, $r) = @args;
			my $fn = "$s.hostile_op_$n";
			$sig .= ' [operator]';
			my $expr = defined $l ? "\$1 OPERATOR(pg_catalog.$p->{name}) \$2" : "OPERATOR(pg_catalog.$p->{name}) \$1";
			push @sql,
			  "CREATE FUNCTION $fn(" . join(', ', grep { defined } @args) . ") RETURNS $ret\n"
			  . "LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$plant\$\n"
			  . "BEGIN\n    PERFORM mallory.hostile_mark(" . _q($sig) . ");\n    RETURN $expr;\nEND\n\$plant\$",
			  "CREATE OPERATOR $s.$p->{name} (" . (defined $l ? "LEFTARG = $l, " : '') . "RIGHTARG = $r, FUNCTION = $fn)";
		}
		elsif ($p->{kind} eq 'aggregate')
		{
			my $sf = "$s.hostile_sf_$n";
			my $ff = "$s.hostile_ff_$n";
			$sig .= ' [aggregate]';
			my $collect = @args
			  ? 'pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array(' . join(', ', map { '$' . ($_ + 2) . '::pg_catalog.text' } 0 .. $#args) . '))'
			  : "'[[]]'::pg_catalog.jsonb";
			my $back = @args ? join(', ', map { "(e.v OPERATOR(pg_catalog.->>) $_)::$args[$_]" } 0 .. $#args) . ' ORDER BY e.n' : '*';
			push @sql,
			  "CREATE FUNCTION $sf(pg_catalog.jsonb" . join('', map { ", $_" } @args) . ") RETURNS pg_catalog.jsonb\n"
			  . "LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$plant\$\n"
			  . "BEGIN\n    PERFORM mallory.hostile_mark(" . _q("$sig state") . ");\n"
			  . "    RETURN \$1 OPERATOR(pg_catalog.||) $collect;\nEND\n\$plant\$",
			  "CREATE FUNCTION $ff(pg_catalog.jsonb) RETURNS $ret\n"
			  . "LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$plant\$\n"
			  . "DECLARE r $ret;\nBEGIN\n    PERFORM mallory.hostile_mark(" . _q("$sig final") . ");\n"
			  . "    SELECT pg_catalog.$name($back) INTO r FROM pg_catalog.jsonb_array_elements(\$1) WITH ORDINALITY e(v, n);\n"
			  . "    RETURN r;\nEND\n\$plant\$",
			  "CREATE AGGREGATE $s.$name(" . (@args ? join(', ', @args) : '*') . ")\n"
			  . "    (SFUNC = $sf, STYPE = pg_catalog.jsonb, INITCOND = '[]', FINALFUNC = $ff)";
		}
		else
		{
			my (@decl, @fwd);
			for my $i (0 .. $#args)
			{
				my $var = ($p->{variadic} && $i == $#args) ? 'VARIADIC ' : '';
				my $nm = defined $p->{argnames}[$i] ? _qi($p->{argnames}[$i]) . ' ' : '';
				my $def = defined $p->{defaults}[$i] ? " DEFAULT $p->{defaults}[$i]" : '';
				push @decl, "$var$nm$args[$i]$def";
				push @fwd, $var . '$' . ($i + 1);
			}
			my @outs = @{ $p->{outs} // [] };
			my $call = "pg_catalog.$name(" . join(', ', @fwd) . ')';
			my ($returns, $body);
			if ($p->{retset})
			{
				# OUT parameters: the function returns their row (or the one's type)
				$returns = @outs > 1 ? 'SETOF record' : @outs ? "SETOF $outs[0][1]" : "SETOF $ret";
				$body = "    RETURN QUERY SELECT * FROM $call;\n";
				push @decl, map { 'OUT ' . (defined $_->[0] ? _qi($_->[0]) . ' ' : '') . $_->[1] } @outs;
			}
			elsif ($ret eq 'void')
			{
				($returns, $body) = ('void', "    PERFORM $call;\n");
			}
			else
			{
				($returns, $body) = ($ret, "    RETURN $call;\n");
			}
			push @sql,
			  "CREATE FUNCTION $s.$name(" . join(', ', @decl) . ") RETURNS $returns\n"
			  . "LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$plant\$\n"
			  . "BEGIN\n    PERFORM mallory.hostile_mark(" . _q($sig) . ");\n$body" . "END\n\$plant\$";
		}
		$p->{sig} = $sig;
		$p->{sql} = \@sql;
		push @out, $p;
	}
	return @out;
}

# The SQL that creates the marker table and the marking functions in schema
# mallory (run as mallory).  A marker names the object, current_user,
# session_user, the step (hostile.step, a placeholder setting the test sets
# in its sessions), the backend type and application name, and the time; it
# is inserted into mallory.markers (INSERT granted to PUBLIC; skipped where
# it cannot be written, e.g. in a read-only transaction) and written to the
# server log with a fixed prefix, which survives a rollback.
sub marker_sql
{
	return <<'SQL';
SET search_path = pg_catalog, pg_temp;
CREATE TABLE mallory.markers (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    object       text NOT NULL,
    cur_user     text NOT NULL,
    sess_user    text NOT NULL,
    step         text,
    backend_type text,
    app          text,
    at           timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
GRANT INSERT ON mallory.markers TO PUBLIC;

CREATE FUNCTION mallory.hostile_mark(object text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    bt text := (SELECT a.backend_type FROM pg_catalog.pg_stat_activity a WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid());
    st text := pg_catalog.current_setting('hostile.step', true);
    app text := pg_catalog.current_setting('application_name', true);
BEGIN
    RAISE LOG 'hostile plant fired: %', pg_catalog.jsonb_build_object(
        'object', object, 'current_user', CURRENT_USER::text, 'session_user', SESSION_USER::text,
        'step', st, 'backend_type', bt, 'app', app, 'pid', pg_catalog.pg_backend_pid(),
        'at', pg_catalog.clock_timestamp(), 'epoch', EXTRACT(epoch FROM pg_catalog.clock_timestamp()))::text;
    BEGIN
        INSERT INTO mallory.markers (object, cur_user, sess_user, step, backend_type, app)
        VALUES (object, CURRENT_USER, SESSION_USER, st, bt, app);
    EXCEPTION WHEN OTHERS THEN
        NULL;               -- e.g. a read-only transaction: the log line stays
    END;
END
$$;
GRANT EXECUTE ON FUNCTION mallory.hostile_mark(text) TO PUBLIC;

CREATE FUNCTION mallory.hostile_check(object text) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM mallory.hostile_mark(object);
    RETURN true;
END
$$;
GRANT EXECUTE ON FUNCTION mallory.hostile_check(text) TO PUBLIC;
SQL
}

# The whole planting script for the given plants (psql; each statement on
# its own, so that one that PostgreSQL refuses does not stop the others).
sub plant_script
{
	my (@plants) = @_;
	my @out = ("SET search_path = pg_catalog, pg_temp;\n\\set ON_ERROR_ROLLBACK on\nBEGIN;\n");
	for my $p (@plants)
	{
		push @out, "-- $p->{sig} ($p->{class}; derived from pg_catalog's $p->{of})\n", map { "$_;\n" } @{ $p->{sql} };
	}
	push @out, "COMMIT;\n";
	return join('', @out);
}

# standalone: print the names
unless (caller)
{
	my $root = shift // '.';
	my $names = extract($root);
	for my $kind (qw(functions operators types))
	{
		my $h = $names->{$kind};
		printf "%s (%d):\n", $kind, scalar(keys %$h);
		for my $k (sort keys %$h)
		{
			my @w = sort keys %{ $h->{$k} };
			printf "  %-28s %s%s\n", $k, join(' ', @w[ 0 .. ($#w < 2 ? $#w : 2) ]), @w > 3 ? ' ...' : '';
		}
	}
}

1;
