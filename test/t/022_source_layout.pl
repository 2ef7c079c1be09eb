# Static checks of the C sources (no server): one module per concern with
# dependencies that point one way (no include cycle among src/ modules), the
# server-free units of src/standalone/ free of server headers, a header
# comment at the top of every file, SPI only where the rules allow it, and
# every setting documented in README's settings table.
use strict;
use warnings;
use File::Basename;
use Test::More;

my @files = (glob('src/*.[ch]'), glob('src/standalone/*.[ch]'));
ok(@files > 40, scalar(@files) . ' source files');

sub slurp { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; local $/; my $t = <$fh>; close $fh; return $t; }
sub code_only
{
	my ($t) = @_;
	$t =~ s{/\*.*?\*/}{}gs;
	$t =~ s{"(?:[^"\\\n]|\\.)*"}{""}g;
	return $t;
}

my %exists = map { (basename($_) =~ s/\.[ch]$//r) => 1 } @files;

# --- the module graph: X -> Y when X.c or X.h includes Y.h (execlave.c, the
#     entry point that calls every module's init, is the root, not a module)
my %edges;
for my $f (@files)
{
	my $m = basename($f) =~ s/\.[ch]$//r;
	$m = '_PG_init' if $f eq 'src/execlave.c';
	for my $inc (slurp($f) =~ /^#include "([^"]+)\.h"/mg)
	{
		next if $inc eq $m || !$exists{$inc};
		$edges{$m}{$inc} = 1;
	}
}
my (%state, @cycles);
sub visit
{
	my ($u, @path) = @_;
	$state{$u} = 1;
	for my $v (sort keys %{ $edges{$u} // {} })
	{
		if (($state{$v} // 0) == 1)
		{
			my ($i) = grep { $path[$_] eq $v } 0 .. $#path;
			push @cycles, join(' -> ', (defined $i ? @path[$i .. $#path] : ($u)), $v);
		}
		elsif (!$state{$v}) { visit($v, @path, $v); }
	}
	$state{$u} = 2;
}
visit($_, $_) for grep { !$state{$_} } sort keys %edges;
is_deeply(\@cycles, [], 'no include cycle among the src/ modules')
  or diag(join("\n", map { "$_ -> " . join(' ', sort keys %{ $edges{$_} }) } sort keys %edges));

# the direction the layout promises: the ingestion and enforcement entry
# points depend on evaluation, evaluation on the cache, the cache on the
# policy model, the model on the scanners, and never the other way
my %reach;
sub reach
{
	my ($u) = @_;
	return $reach{$u} if $reach{$u};
	my %r;
	for my $v (keys %{ $edges{$u} // {} }) { $r{$v} = 1; $r{$_} = 1 for keys %{ reach($v) }; }
	return $reach{$u} = \%r;
}
for my $pair ([qw(traces policy_eval)], [qw(enforce policy_eval)], [qw(policy_eval policy_cache)],
	[qw(policy_cache policy)], [qw(policy pii)], [qw(policy injection)], [qw(usage_limits windows)],
	[qw(anomaly windows)], [qw(windows stats)])
{
	my ($from, $to) = @$pair;
	ok(reach($from)->{$to} && !reach($to)->{$from}, "$from depends on $to, not the other way");
}

# --- no header named like a system header: -Isrc would make <name.h> find
#     ours (a src/limits.h once replaced <limits.h> in every file)
for my $h (grep { /\.h$/ } @files)
{
	my $name = basename($h);
	my @system = grep { -e "$_/$name" } ('/usr/include', '/usr/include/x86_64-linux-gnu', glob('/usr/lib/gcc/*/*/include'));
	is_deeply(\@system, [], "$h is not named like a system header");
}

# --- src/standalone/: no server dependency (src/common's HMAC and base64 only)
for my $f (glob('src/standalone/*.[ch]'))
{
	my @bad = grep { !m{^(postgres\.h|postgres_fe\.h|common/[\w.]+)$} && !$exists{s/\.h$//r} }
	  slurp($f) =~ /^#include "([^"]+)"/mg;
	is_deeply(\@bad, [], "$f includes no server header");
}

# --- a header comment naming the file, first thing in every file
for my $f (@files)
{
	my $name = basename($f);
	like(slurp($f), qr{\A/\*\n \* \Q$name\E\n \*\t\t\S}, "$f starts with its header comment");
}

# --- SPI: the counters' rebuild (its statements in sqlcall.c) and the
#     background processes, which pin their search_path once
my %spi_ok = map { $_ => 1 } qw(src/windows.c src/webhook_worker.c src/recorder.c);
for my $f (grep { /\.c$/ } @files)
{
	my $uses = code_only(slurp($f)) =~ /\bSPI_(?:execute|exec|prepare|cursor_open)\w*\s*\(/;
	ok(!$uses || $spi_ok{$f}, "$f runs SPI only where allowed") if $uses || $spi_ok{$f};
}
unlike(code_only(slurp('src/windows.c')), qr/SPI_execute\w*\(\s*""/, 'windows.c runs only the statements of sqlcall.c');

# --- every setting is in README's settings table
my $readme = slurp('README.md');
my ($settings) = $readme =~ /^### Settings\n(.*?)^### /ms;
my @gucs = map { slurp($_) =~ /(?:DefineCustom\w+Variable|define_days)\("(execlave\.\w+)"/g } grep { /\.c$/ } @files;
ok(@gucs > 30, scalar(@gucs) . ' settings defined');
my @undocumented = grep { my $g = $_ =~ s/^execlave\.//r; $settings !~ /`(?:execlave\.)?\Q$g\E`/ } @gucs;
is_deeply(\@undocumented, [], 'every setting is in README');

done_testing();
