# Static checks of the install and upgrade scripts (no server): they never
# adopt objects somebody else may have created (no CREATE OR REPLACE, no
# CREATE ... IF NOT EXISTS; an upgrade script may CREATE OR REPLACE only a
# function an earlier script, or an earlier part of its own, created), and
# @extschema@ appears only outside
# quoted strings (never inside '...' or a dollar-quoted function body).  The
# first release's install script is never edited.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use Test::More;

# sql/execlave--0.1.0.sql as released (the Makefile builds it from sql/parts/execlave--0.1.0/); see "Versions and upgrades" in docs/ARCHITECTURE.md
my $first_release_sha256 = '6a4bb631fa96e28b548f27be8bc6bbcfdddac1c2b944ff32a6d7507d542a0c60';

my @scripts = sort { version_key($a) cmp version_key($b) } glob('sql/execlave--*.sql');
ok(@scripts > 0, 'install scripts found: ' . join(', ', @scripts));

# order: the install script, then the upgrade scripts by target version
sub version_key
{
	my ($f) = @_;
	my @v = $f =~ /(\d+)\.(\d+)\.(\d+)\.sql$/;
	return sprintf('%05d%05d%05d', @v);
}

my %created;	# functions created by the scripts seen so far (name only)
for my $file (@scripts)
{
	my $upgrade = $file =~ /--[\d.]+--[\d.]+\.sql$/;
	open my $fh, '<', $file or die "$file: $!";
	local $/;
	my $sql = <$fh>;
	close $fh;

	# Split the script into code and quoted parts (comments dropped).
	my ($code, $quoted) = ('', '');
	my $i = 0;
	my $n = length $sql;
	while ($i < $n)
	{
		my $rest = substr($sql, $i);
		if ($rest =~ /^--[^\n]*/)
		{
			$i += length $&;
		}
		elsif ($rest =~ /^(\$[A-Za-z_]*\$)/)
		{
			my $tag = $1;
			my $end = index($sql, $tag, $i + length $tag);
			die "$file: unterminated $tag" if $end < 0;
			$quoted .= substr($sql, $i, $end + length($tag) - $i) . "\n";
			$i = $end + length $tag;
		}
		elsif ($rest =~ /^'(?:[^']|'')*'/)
		{
			$quoted .= $& . "\n";
			$i += length $&;
		}
		else
		{
			$code .= substr($sql, $i, 1);
			$i++;
		}
	}
	if ($upgrade)
	{
		unlike($code, qr/\bCREATE\s+OR\s+REPLACE\s+(?!FUNCTION\b)/i, "$file: CREATE OR REPLACE only of functions");
		# in order: a later part of a script may replace what an earlier part created
		my (@foreign, %mine);
		while ($code =~ /\bCREATE\s+(OR\s+REPLACE\s+)?FUNCTION\s+([\w.\@]+)/gi)
		{
			my ($replace, $name) = ($1, lc $2);
			push @foreign, $name if $replace && !$created{$name} && !$mine{$name};
			$mine{$name} = 1;
		}
		is_deeply(\@foreign, [], "$file: CREATE OR REPLACE only of functions an earlier script (or part) created");
	}
	else
	{
		unlike($code, qr/\bCREATE\s+OR\s+REPLACE\b/i, "$file: no CREATE OR REPLACE");
	}
	$created{lc $_} = 1 for $code =~ /\bCREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+([\w.\@]+)/gi;
	unlike($code, qr/\bCREATE\s+(?:\w+\s+)*?(?:TABLE|SCHEMA|INDEX|SEQUENCE|VIEW|TYPE|ROLE|FUNCTION)\s+IF\s+NOT\s+EXISTS\b/i,
		"$file: no CREATE ... IF NOT EXISTS");
	unlike($quoted, qr/\@extschema\@/, "$file: no \@extschema\@ inside quoted strings or function bodies");
	next if $upgrade;
	is(sha256_hex($sql), $first_release_sha256, "$file: the first release's install script is unchanged")
	  if $file eq 'sql/execlave--0.1.0.sql';
	like($code, qr/\@extschema\@/, "$file: (the check sees the \@extschema\@ uses outside strings)");
	# function bodies do create roles conditionally, but only roles it documents
	my @roles = $quoted =~ /CREATE\s+ROLE\s+(\w+)/gi;
	is_deeply([ sort @roles ], [ sort qw(execlave_admin execlave_api_anon execlave_app execlave_reader) ],
		"$file: the only roles it creates (when absent) are its own four");
}
done_testing();
