/*
 * netcheck.c
 *		Which addresses a webhook may not be delivered to.
 *
 * Refused by default (see netcheck.h): IPv4 0.0.0.0/8 (unspecified and
 * "this network"), 10.0.0.0/8, 100.64.0.0/10 (carrier-grade NAT),
 * 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.0.0.0/24, 192.168.0.0/16,
 * 198.18.0.0/15 (benchmarking), 224.0.0.0/4 (multicast), 240.0.0.0/4
 * (reserved, broadcast); IPv6 ::, ::1, fc00::/7 (unique local),
 * fe80::/10 (link-local), fec0::/10 (site-local), ff00::/8 (multicast), and
 * IPv4 addresses embedded as ::ffff:a.b.c.d, ::a.b.c.d or 64:ff9b::a.b.c.d,
 * which are judged as the IPv4 address they carry.
 */
#include "netcheck.h"

#include <netinet/in.h>
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
	if (a[0] == 192 && a[1] == 168)
		return "private (192.168.0.0/16)";
	if (a[0] == 198 && (a[1] & 0xFE) == 18)
		return "reserved (198.18.0.0/15)";
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
	static const unsigned char nat64[12] = {0, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0};

	if (memcmp(a, zero, 16) == 0)
		return "unspecified";
	if (memcmp(a, zero, 15) == 0 && a[15] == 1)
		return "loopback";
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0 || memcmp(a, zero, 12) == 0)
		return netcheck_refusal_v4(a + 12);
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
	if (addr == NULL)
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
