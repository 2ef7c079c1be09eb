/*
 * netcheck.c
 *		Which addresses a webhook may not be delivered to.
 *
 * Refused by default (see netcheck.h): every range of the IANA IPv4 and
 * IPv6 special-purpose address registries that is not globally reachable,
 * plus multicast:
 *	IPv4 0.0.0.0/8 (unspecified and "this network"), 10.0.0.0/8,
 *	100.64.0.0/10 (carrier-grade NAT), 127.0.0.0/8, 169.254.0.0/16,
 *	172.16.0.0/12, 192.0.0.0/24, 192.0.2.0/24, 192.88.99.0/24 (former 6to4
 *	relays), 192.168.0.0/16, 198.18.0.0/15 (benchmarking), 198.51.100.0/24,
 *	203.0.113.0/24 (the three documentation networks), 224.0.0.0/4
 *	(multicast), 240.0.0.0/4 (reserved, broadcast);
 *	IPv6 ::, ::1, 64:ff9b:1::/48 (local-use NAT64), 100::/64 (discard),
 *	2001::/32 (Teredo), 2001:2::/48 (benchmarking), 2001:10::/28 and
 *	2001:20::/28 (ORCHID), 2001:db8::/32 and 3fff::/20 (documentation),
 *	fc00::/7 (unique local), fe80::/10 (link-local), fec0::/10
 *	(site-local), ff00::/8 (multicast);
 *	and IPv4 addresses carried in IPv6 as ::ffff:a.b.c.d (mapped),
 *	::ffff:0:a.b.c.d (translated), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d
 *	(NAT64) or 2002:aabb:ccdd::/48 (6to4), which are judged as the IPv4
 *	address they carry.
 */
#include "netcheck.h"

#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

/* Why an IPv4 address is refused, or NULL. */
const char *
netcheck_refusal_v4(const unsigned char a[4])
{
	if (a[0] == 0)
		return a[1] == 0 && a[2] == 0 && a[3] == 0 ? "unspecified" : "reserved (0.0.0.0/8)";
	if (a[0] == 10)
		return "private (10.0.0.0/8)";
	if (a[0] == 100 && (a[1] & 0xC0) == 64)
		return "shared address space (100.64.0.0/10)";
	if (a[0] == 127)
		return "loopback";
	if (a[0] == 169 && a[1] == 254)
		return "link-local";
	if (a[0] == 172 && (a[1] & 0xF0) == 16)
		return "private (172.16.0.0/12)";
	if (a[0] == 192 && a[1] == 0 && a[2] == 0)
		return "reserved (192.0.0.0/24)";
	if (a[0] == 192 && a[1] == 0 && a[2] == 2)
		return "documentation (192.0.2.0/24)";
	if (a[0] == 192 && a[1] == 88 && a[2] == 99)
		return "reserved (192.88.99.0/24)";
	if (a[0] == 192 && a[1] == 168)
		return "private (192.168.0.0/16)";
	if (a[0] == 198 && (a[1] & 0xFE) == 18)
		return "reserved (198.18.0.0/15)";
	if (a[0] == 198 && a[1] == 51 && a[2] == 100)
		return "documentation (198.51.100.0/24)";
	if (a[0] == 203 && a[1] == 0 && a[2] == 113)
		return "documentation (203.0.113.0/24)";
	if ((a[0] & 0xF0) == 224)
		return "multicast";
	if ((a[0] & 0xF0) == 240)
		return "reserved (240.0.0.0/4)";
	return NULL;
}

/* Why an IPv6 address is refused, or NULL. */
const char *
netcheck_refusal_v6(const unsigned char a[16])
{
	static const unsigned char zero[16] = {0};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	static const unsigned char translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0};
	static const unsigned char nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char nat64_local[6] = {0, 0x64, 0xFF, 0x9B, 0, 1};
	static const unsigned char discard[8] = {0x01, 0, 0, 0, 0, 0, 0, 0};

	if (memcmp(a, zero, 16) == 0)
		return "unspecified";
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return "loopback";
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 ||
		memcmp(a, nat64, 12) == 0 || memcmp(a, zero, 12) == 0)
		return netcheck_refusal_v4(a + 12);
	if (a[0] == 0x20 && a[1] == 0x02)
		return netcheck_refusal_v4(a + 2);	/* 6to4 */
	if (memcmp(a, nat64_local, 6) == 0)
		return "local-use NAT64 (64:ff9b:1::/48)";
	if (memcmp(a, discard, 8) == 0)
		return "discard-only (100::/64)";
	if (a[0] == 0x20 && a[1] == 0x01)
	{
		if (a[2] == 0 && a[3] == 0)
			return "Teredo (2001::/32)";
		if (a[2] == 0 && a[3] == 2 && a[4] == 0 && a[5] == 0)
			return "benchmarking (2001:2::/48)";
		if (a[2] == 0 && (a[3] & 0xF0) == 0x10)
			return "ORCHID (2001:10::/28)";
		if (a[2] == 0 && (a[3] & 0xF0) == 0x20)
			return "ORCHID (2001:20::/28)";
		if (a[2] == 0x0D && a[3] == 0xB8)
			return "documentation (2001:db8::/32)";
	}
	if (a[0] == 0x3F && a[1] == 0xFF && (a[2] & 0xF0) == 0)
		return "documentation (3fff::/20)";
	if ((a[0] & 0xFE) == 0xFC)
		return "unique local (fc00::/7)";
	if (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)
		return "link-local";
	if (a[0] == 0xFE && (a[1] & 0xC0) == 0xC0)
		return "site-local (fec0::/10)";
	if (a[0] == 0xFF)
		return "multicast";
	return NULL;
}

/* Why a socket address is refused, or NULL. */
const char *
netcheck_refusal(const struct sockaddr *addr, socklen_t len)
{
	if (addr == NULL ||
		len < (socklen_t) (offsetof(struct sockaddr, sa_family) + sizeof(addr->sa_family)))
		return "no address";
	if (addr->sa_family == AF_INET && len >= (socklen_t) sizeof(struct sockaddr_in))
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) addr;

		return netcheck_refusal_v4((const unsigned char *) &in->sin_addr);
	}
	if (addr->sa_family == AF_INET6 && len >= (socklen_t) sizeof(struct sockaddr_in6))
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) addr;

		return netcheck_refusal_v6((const unsigned char *) &in6->sin6_addr);
	}
	return "not an IP address";
}
