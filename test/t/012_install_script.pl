# Static checks of the install script (no server): it never adopts objects
# somebody else may have created (no CREATE OR REPLACE, no CREATE ... IF NOT
# EXISTS), and @extschema@ appears only outside quoted strings (never inside
# '...' or a dollar-quoted function body).
use strict;
use warnings;
use Test::More;

my @scripts = glob('sql/execlave--*.sql');
ok(@scripts > 0, 'install scripts found: ' . join(', ', @scripts));
for my $file (@scripts)
{
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
	unlike($code, qr/\bCREATE\s+OR\s+REPLACE\b/i, "$file: no CREATE OR REPLACE");
	unlike($code, qr/\bCREATE\s+(?:\w+\s+)*?(?:TABLE|SCHEMA|INDEX|SEQUENCE|VIEW|TYPE|ROLE|FUNCTION)\s+IF\s+NOT\s+EXISTS\b/i,
		"$file: no CREATE ... IF NOT EXISTS");
	unlike($quoted, qr/\@extschema\@/, "$file: no \@extschema\@ inside quoted strings or function bodies");
	like($code, qr/\@extschema\@/, "$file: (the check sees the \@extschema\@ uses outside strings)");
	# function bodies do create roles conditionally, but only roles it documents
	my @roles = $quoted =~ /CREATE\s+ROLE\s+(\w+)/gi;
	is_deeply([ sort @roles ], [ sort qw(execlave_admin execlave_api_anon execlave_app execlave_reader) ],
		"$file: the only roles it creates (when absent) are its own four");
}
done_testing();
