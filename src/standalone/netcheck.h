/*
 * netcheck.h
 *		Classification of network addresses for the webhook SSRF guard.
 *
 * Plain C without PostgreSQL dependencies, so it can be tested and fuzzed on
 * its own.  The webhook worker calls it from libcurl's open-socket callback,
 * i.e. on the address actually about to be connected to, after DNS.
 */
#ifndef EXECLAVE_NETCHECK_H
#define EXECLAVE_NETCHECK_H

#include <stdbool.h>
#include <sys/socket.h>

/*
 * NULL when addr is a public unicast address; otherwise a short static
 * description of why it is refused ("loopback", "private (10.0.0.0/8)",
 * "link-local", "multicast", "unspecified", ...).  Addresses of families
 * other than IPv4 and IPv6 are refused.
 */
extern const char *netcheck_refusal(const struct sockaddr *addr, socklen_t len);

/* Same for a raw IPv4 address (4 bytes, network order) or IPv6 (16 bytes). */
extern const char *netcheck_refusal_v4(const unsigned char a[4]);
extern const char *netcheck_refusal_v6(const unsigned char a[16]);

#endif							/* EXECLAVE_NETCHECK_H */
