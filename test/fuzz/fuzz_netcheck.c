/*
 * fuzz_netcheck.c
 *		libFuzzer harness for the SSRF address classifier of src/standalone/netcheck.c.
 *
 *	clang-14 -g -O1 -fsanitize=fuzzer,address,undefined \
 *		-fno-sanitize-recover=all -Isrc/standalone test/fuzz/fuzz_netcheck.c \
 *		src/standalone/netcheck.c -o /tmp/fuzz_netcheck
 *
 * Input: byte 0 is a selector, bytes 1-16 an address (zero-padded when the
 * input is shorter), any further bytes fill the rest of a socket address.
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- netcheck_refusal_v4 on bytes 1-4 and netcheck_refusal_v6 on bytes 1-16
 *	  refuse exactly the addresses that a table-driven reference built from
 *	  the ranges listed in the header comment of netcheck.c refuses (IPv6
 *	  addresses carrying an IPv4 address as ::ffff:a.b.c.d,
 *	  ::ffff:0:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d or 2002:aabb:ccdd::
 *	  (6to4) judged as that IPv4 address), and every refusal is a non-empty
 *	  string;
 *	- netcheck_refusal on a socket address whose family (selector bits 0-1:
 *	  AF_INET, AF_INET6, AF_UNSPEC, or any 16-bit value from the input) and
 *	  length (bits 2-3: exact, sizeof(struct sockaddr_storage), one to eight
 *	  bytes short, or anything up to sizeof(struct sockaddr_storage)) come
 *	  from the input gives the same answer as netcheck_refusal_v4/_v6 on its
 *	  address when the family is IPv4/IPv6 and the length is enough, and a
 *	  refusal otherwise (also when the length does not even cover the family
 *	  field).  The socket address is copied into a heap block of exactly its
 *	  length, so ASan sees any read past the length.
 * LLVMFuzzerInitialize asserts the reasons for a few known addresses
 * (127.0.0.1 loopback, 10.x private, 169.254.x link-local, ::1, fe80::,
 * ::ffff:127.0.0.1, 64:ff9b::10.0.0.1, ...), public addresses accepted, and
 * the NULL and non-IP cases; a failure there aborts before fuzzing starts.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "netcheck.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_netcheck: invariant violated: "
#include "fuzz_fail.h"

/* ------------------------------------------------------------ reference */

/* A refused range: the first bits bits of pfx */
typedef struct Range
{
	unsigned char pfx[16];
	int			bits;
} Range;

/* IPv4 ranges refused, from the header comment of netcheck.c */
static const Range v4_refused[] = {
	{{0}, 8},					/* unspecified, "this network" */
	{{10}, 8},
	{{100, 64}, 10},			/* carrier-grade NAT */
	{{127}, 8},
	{{169, 254}, 16},
	{{172, 16}, 12},
	{{192, 0, 0}, 24},
	{{192, 0, 2}, 24},			/* documentation */
	{{192, 88, 99}, 24},		/* former 6to4 relays */
	{{192, 168}, 16},
	{{198, 18}, 15},			/* benchmarking */
	{{198, 51, 100}, 24},		/* documentation */
	{{203, 0, 113}, 24},		/* documentation */
	{{224}, 4},					/* multicast */
	{{240}, 4}					/* reserved, broadcast */
};

/* IPv6 ranges refused outright */
static const Range v6_refused[] = {
	{{0}, 128},					/* :: */
	{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},	/* ::1 */
	{{0, 0x64, 0xff, 0x9b, 0, 1}, 48},	/* local-use NAT64 */
	{{0x01}, 64},				/* discard-only 100::/64 */
	{{0x20, 0x01, 0, 0}, 32},	/* Teredo */
	{{0x20, 0x01, 0, 0x02, 0, 0}, 48},	/* benchmarking */
	{{0x20, 0x01, 0, 0x10}, 28},	/* ORCHID */
	{{0x20, 0x01, 0, 0x20}, 28},	/* ORCHIDv2 */
	{{0x20, 0x01, 0x0d, 0xb8}, 32}, /* documentation */
	{{0x3f, 0xff}, 20},			/* documentation */
	{{0xfc}, 7},				/* unique local */
	{{0xfe, 0x80}, 10},			/* link-local */
	{{0xfe, 0xc0}, 10},			/* site-local */
	{{0xff}, 8}					/* multicast */
};

/* IPv6 prefixes that carry an IPv4 address to judge, and where it is */
typedef struct Embedding
{
	Range		range;
	int			offset;
} Embedding;

static const Embedding v6_embedding[] = {
	{{{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, 96}, 12},	/* ::ffff:a.b.c.d */
	{{{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0}, 96}, 12},	/* ::ffff:0:a.b.c.d */
	{{{0}, 96}, 12},			/* ::a.b.c.d */
	{{{0, 0x64, 0xff, 0x9b}, 96}, 12},	/* 64:ff9b::a.b.c.d */
	{{{0x20, 0x02}, 16}, 2}		/* 6to4: 2002:aabb:ccdd:: */
};

static bool
in_range(const unsigned char *a, const Range *r)
{
	int			full = r->bits / 8;
	int			rest = r->bits % 8;

	if (memcmp(a, r->pfx, (size_t) full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[full] ^ r->pfx[full]) & (0xFF << (8 - rest)) & 0xFF) == 0;
}

static bool
ref_refused_v4(const unsigned char a[4])
{
	size_t		k;

	for (k = 0; k < sizeof(v4_refused) / sizeof(v4_refused[0]); k++)
		if (in_range(a, &v4_refused[k]))
			return true;
	return false;
}

static bool
ref_refused_v6(const unsigned char a[16])
{
	size_t		k;

	for (k = 0; k < sizeof(v6_refused) / sizeof(v6_refused[0]); k++)
		if (in_range(a, &v6_refused[k]))
			return true;
	for (k = 0; k < sizeof(v6_embedding) / sizeof(v6_embedding[0]); k++)
		if (in_range(a, &v6_embedding[k].range))
			return ref_refused_v4(a + v6_embedding[k].offset);
	return false;
}

static void
format_addr(int af, const unsigned char *a, char *buf, size_t size)
{
	if (inet_ntop(af, a, buf, (socklen_t) size) == NULL)
		snprintf(buf, size, "?");
}

static void
check_v4(const unsigned char a[4])
{
	const char *why = netcheck_refusal_v4(a);
	char		buf[INET_ADDRSTRLEN];

	if ((why != NULL) != ref_refused_v4(a) || (why != NULL && why[0] == '\0'))
	{
		format_addr(AF_INET, a, buf, sizeof(buf));
		fail("IPv4 %s: netcheck says %s, reference says %s", buf,
			 why ? why : "public", ref_refused_v4(a) ? "refused" : "public");
	}
}

static void
check_v6(const unsigned char a[16])
{
	const char *why = netcheck_refusal_v6(a);
	char		buf[INET6_ADDRSTRLEN];

	if ((why != NULL) != ref_refused_v6(a) || (why != NULL && why[0] == '\0'))
	{
		format_addr(AF_INET6, a, buf, sizeof(buf));
		fail("IPv6 %s: netcheck says %s, reference says %s", buf,
			 why ? why : "public", ref_refused_v6(a) ? "refused" : "public");
	}
}

/* ------------------------------------------------------- known addresses */

/*
 * The reason netcheck gives for text (an IPv4 or IPv6 address) must be
 * expect (NULL: accepted), through the raw and the sockaddr interfaces.
 */
static void
expect_reason(const char *text, const char *expect)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const char *raw;
	const char *viasock;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, text, &sin.sin_addr) == 1)
	{
		sin.sin_family = AF_INET;
		raw = netcheck_refusal_v4((const unsigned char *) &sin.sin_addr);
		viasock = netcheck_refusal((const struct sockaddr *) &sin, sizeof(sin));
		check_v4((const unsigned char *) &sin.sin_addr);
	}
	else if (inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1)
	{
		sin6.sin6_family = AF_INET6;
		raw = netcheck_refusal_v6((const unsigned char *) &sin6.sin6_addr);
		viasock = netcheck_refusal((const struct sockaddr *) &sin6, sizeof(sin6));
		check_v6((const unsigned char *) &sin6.sin6_addr);
	}
	else
	{
		fail("sanity check: cannot parse %s", text);
		return;
	}
	if (raw != viasock)
		fail("sanity check: %s: raw \"%s\", via sockaddr \"%s\"", text,
			 raw ? raw : "(accepted)", viasock ? viasock : "(accepted)");
	if ((raw == NULL) != (expect == NULL) ||
		(raw != NULL && strcmp(raw, expect) != 0))
		fail("sanity check: %s: got \"%s\", expected \"%s\"", text,
			 raw ? raw : "(accepted)", expect ? expect : "(accepted)");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in sin;
	struct sockaddr_un sun;

	(void) argc;
	(void) argv;

	expect_reason("127.0.0.1", "loopback");
	expect_reason("127.255.255.254", "loopback");
	expect_reason("10.0.0.1", "private (10.0.0.0/8)");
	expect_reason("10.255.255.255", "private (10.0.0.0/8)");
	expect_reason("169.254.169.254", "link-local");
	expect_reason("172.16.0.1", "private (172.16.0.0/12)");
	expect_reason("172.31.255.255", "private (172.16.0.0/12)");
	expect_reason("192.168.1.1", "private (192.168.0.0/16)");
	expect_reason("100.64.0.1", "shared address space (100.64.0.0/10)");
	expect_reason("198.19.255.255", "reserved (198.18.0.0/15)");
	expect_reason("192.0.0.8", "reserved (192.0.0.0/24)");
	expect_reason("0.0.0.0", "unspecified");
	expect_reason("0.1.2.3", "reserved (0.0.0.0/8)");
	expect_reason("224.0.0.1", "multicast");
	expect_reason("255.255.255.255", "reserved (240.0.0.0/4)");
	expect_reason("192.0.2.1", "documentation (192.0.2.0/24)");
	expect_reason("198.51.100.7", "documentation (198.51.100.0/24)");
	expect_reason("203.0.113.255", "documentation (203.0.113.0/24)");
	expect_reason("192.88.99.1", "reserved (192.88.99.0/24)");
	expect_reason("8.8.8.8", NULL);
	expect_reason("1.1.1.1", NULL);
	expect_reason("172.32.0.1", NULL);
	expect_reason("100.128.0.1", NULL);
	expect_reason("169.255.0.1", NULL);
	expect_reason("192.0.1.1", NULL);
	expect_reason("198.20.0.1", NULL);
	expect_reason("223.255.255.255", NULL);

	expect_reason("::", "unspecified");
	expect_reason("::1", "loopback");
	expect_reason("fe80::", "link-local");
	expect_reason("fe80::1", "link-local");
	expect_reason("febf:ffff::1", "link-local");
	expect_reason("fec0::1", "site-local (fec0::/10)");
	expect_reason("fc00::1", "unique local (fc00::/7)");
	expect_reason("fd12:3456::1", "unique local (fc00::/7)");
	expect_reason("ff02::1", "multicast");
	expect_reason("::ffff:127.0.0.1", "loopback");
	expect_reason("::ffff:10.1.2.3", "private (10.0.0.0/8)");
	expect_reason("::ffff:169.254.169.254", "link-local");
	expect_reason("::127.0.0.1", "loopback");
	expect_reason("64:ff9b::10.0.0.1", "private (10.0.0.0/8)");
	expect_reason("64:ff9b::7f00:1", "loopback");
	expect_reason("::ffff:0:10.0.0.1", "private (10.0.0.0/8)");
	expect_reason("2002:7f00:1::1", "loopback");
	expect_reason("2002:c0a8:101::", "private (192.168.0.0/16)");
	expect_reason("2002:808:808::1", NULL);
	expect_reason("64:ff9b:1::8.8.8.8", "local-use NAT64 (64:ff9b:1::/48)");
	expect_reason("100::1", "discard-only (100::/64)");
	expect_reason("100:0:0:1::1", NULL);
	expect_reason("2001::1", "Teredo (2001::/32)");
	expect_reason("2001:2::1", "benchmarking (2001:2::/48)");
	expect_reason("2001:10::1", "ORCHID (2001:10::/28)");
	expect_reason("2001:2f::1", "ORCHID (2001:20::/28)");
	expect_reason("2001:db8::1", "documentation (2001:db8::/32)");
	expect_reason("3fff:fff::1", "documentation (3fff::/20)");
	expect_reason("3fff:1000::1", NULL);
	expect_reason("2001:30::1", NULL);
	expect_reason("::ffff:8.8.8.8", NULL);
	expect_reason("64:ff9b::8.8.8.8", NULL);
	expect_reason("2606:4700:4700::1111", NULL);
	expect_reason("2001:4860:4860::8888", NULL);
	expect_reason("fe00::1", NULL);

	if (netcheck_refusal(NULL, 0) == NULL)
		fail("sanity check: NULL address accepted");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (netcheck_refusal((const struct sockaddr *) &sun, sizeof(sun)) == NULL)
		fail("sanity check: AF_UNIX address accepted");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "8.8.8.8", &sin.sin_addr);
	if (netcheck_refusal((const struct sockaddr *) &sin, sizeof(sin) - 1) == NULL)
		fail("sanity check: truncated AF_INET address accepted");
	if (netcheck_refusal((const struct sockaddr *) &sin, sizeof(sin)) != NULL)
		fail("sanity check: 8.8.8.8 refused via sockaddr");
	return 0;
}

/* ---------------------------------------------------------------- entry */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char addr[16];
	unsigned char sel;
	const size_t storage = sizeof(struct sockaddr_storage);
	const size_t fam_end = offsetof(struct sockaddr, sa_family) + sizeof(sa_family_t);
	size_t		need = 0;
	size_t		len;
	unsigned char *buf;
	sa_family_t family;
	const char *why;
	const char *expect;
	bool		may_accept;
	size_t		k;

	if (size == 0)
		return 0;
	sel = data[0];
	memset(addr, 0, sizeof(addr));
	memcpy(addr, data + 1, size - 1 < 16 ? size - 1 : 16);

	check_v4(addr);
	check_v6(addr);

	/* a socket address built from the input */
	switch (sel & 3)
	{
		case 0:
			family = AF_INET;
			need = sizeof(struct sockaddr_in);
			break;
		case 1:
			family = AF_INET6;
			need = sizeof(struct sockaddr_in6);
			break;
		case 2:
			family = AF_UNSPEC;
			need = sizeof(struct sockaddr);
			break;
		default:
			family = (sa_family_t) (size > 18 ? data[17] | (data[18] << 8) : AF_UNIX);
			need = family == AF_INET ? sizeof(struct sockaddr_in) :
				family == AF_INET6 ? sizeof(struct sockaddr_in6) :
				sizeof(struct sockaddr);
			break;
	}
	switch ((sel >> 2) & 3)
	{
		case 0:
			len = need;
			break;
		case 1:
			len = storage;
			break;
		case 2:
			len = need - 1 - ((sel >> 4) & 7);
			break;
		default:
			len = (size > 19 ? data[19] : sel) % (storage + 1);
			break;
	}
	buf = malloc(len > 0 ? len : 1);
	if (buf == NULL)
		abort();
	/* fill with the input bytes after the address, then place the fields */
	for (k = 0; k < len; k++)
		buf[k] = 17 + k < size ? data[17 + k] : (unsigned char) k;
	if (len >= fam_end)
		memcpy(buf + offsetof(struct sockaddr, sa_family), &family, sizeof(family));
	if (family == AF_INET && len >= offsetof(struct sockaddr_in, sin_addr) + 4)
		memcpy(buf + offsetof(struct sockaddr_in, sin_addr), addr, 4);
	if (family == AF_INET6 && len >= offsetof(struct sockaddr_in6, sin6_addr) + 16)
		memcpy(buf + offsetof(struct sockaddr_in6, sin6_addr), addr, 16);

	why = netcheck_refusal((const struct sockaddr *) buf, (socklen_t) len);
	may_accept = false;
	expect = NULL;
	if (family == AF_INET && len >= sizeof(struct sockaddr_in))
	{
		expect = netcheck_refusal_v4(addr);
		may_accept = true;
	}
	else if (family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
	{
		expect = netcheck_refusal_v6(addr);
		may_accept = true;
	}
	if (may_accept ? why != expect : (why == NULL || why[0] == '\0'))
		fail("netcheck_refusal(family %u, len %zu) = \"%s\", expected \"%s\"",
			 (unsigned) family, len, why ? why : "(accepted)",
			 may_accept ? (expect ? expect : "(accepted)") : "a refusal");
	free(buf);
	return 0;
}
