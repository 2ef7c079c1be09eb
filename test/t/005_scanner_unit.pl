# Unit tests of the content scanners (src/standalone/pii.c and injection.c), which have no server
# dependency: compile test/scanner/scanner_test.c with the system compiler,
# run it, and report each of its TAP lines as a test here.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;

my $tmp = PostgreSQL::Test::Utils::tempdir;
my $bin = "$tmp/scanner_test";
my $cc = $ENV{CC} // 'cc';

my ($cc_out, $cc_err);
my $built = IPC::Run::run(
	[ $cc, '-std=gnu99', '-O2', '-Wall', '-Wextra', '-Werror', '-Isrc/standalone',
	  'test/scanner/scanner_test.c', 'src/standalone/pii.c', 'src/standalone/injection.c', '-o', $bin ],
	'>', \$cc_out, '2>', \$cc_err);
ok($built, 'scanner unit tests compile without warnings') or diag($cc_err);

SKIP:
{
	skip 'scanner_test did not compile', 1 unless $built;
	my ($out, $err);
	my $ran = IPC::Run::run([$bin], '>', \$out, '2>', \$err);
	my $count = 0;
	for my $line (split /\n/, $out)
	{
		next unless $line =~ /^(not )?ok \d+ - (.*)$/;
		ok(!defined $1, "scanner: $2");
		$count++;
	}
	ok($ran && $count > 100, "scanner_test ran $count checks and exited 0") or diag($err);
}

done_testing();
