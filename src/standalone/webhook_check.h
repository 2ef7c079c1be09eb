/*
 * webhook_check.h
 *		Validation and normalization of webhook URLs.
 *
 * Plain C without PostgreSQL dependencies (libc and libcurl only), so it can
 * be tested and fuzzed on its own.  execlave.check_webhook_url() in
 * webhooks.c turns each status into its error message.
 */
#ifndef EXECLAVE_WEBHOOK_CHECK_H
#define EXECLAVE_WEBHOOK_CHECK_H

#include <stddef.h>

/* Longest URL accepted, in bytes, before and after normalization. */
#define WEBHOOK_URL_MAX_LEN 2048

/* Size of the buffers webhook_url_check() fills. */
#define WEBHOOK_URL_BUFSIZE (WEBHOOK_URL_MAX_LEN + 1)

typedef enum WebhookUrlStatus
{
	WEBHOOK_URL_OK = 0,
	WEBHOOK_URL_LENGTH,			/* empty, longer than WEBHOOK_URL_MAX_LEN, or
								 * with a NUL byte */
	WEBHOOK_URL_CHARACTER,		/* a space, a control or a non-ASCII byte */
	WEBHOOK_URL_PARSE,			/* libcurl refuses it; detail is
								 * curl_url_strerror()'s message */
	WEBHOOK_URL_SCHEME,			/* not http or https; detail is the scheme */
	WEBHOOK_URL_NO_HOST,		/* libcurl found no host */
	WEBHOOK_URL_CREDENTIALS,	/* a user name or a password */
	WEBHOOK_URL_NORMALIZED_LENGTH,	/* libcurl's normalized form is longer
									 * than WEBHOOK_URL_MAX_LEN */
	WEBHOOK_URL_NORMALIZED_CHARACTER,	/* libcurl's normalized form has a
										 * space, a control or a non-ASCII
										 * byte (decoded from the host) */
	WEBHOOK_URL_UNSTABLE,		/* libcurl's normalized form is not accepted
								 * or normalizes differently; detail is the
								 * normalized form */
	WEBHOOK_URL_NO_MEMORY		/* curl_url() failed */
} WebhookUrlStatus;

/*
 * Check the len bytes at url (no terminating NUL needed): 1 to
 * WEBHOOK_URL_MAX_LEN bytes of printable ASCII (no space), an absolute URL
 * libcurl parses, scheme http or https (any case), a host, no credentials.
 *
 * normalized and detail are buffers of WEBHOOK_URL_BUFSIZE bytes.  On
 * WEBHOOK_URL_OK, normalized receives libcurl's normalized form of the URL
 * (or the URL itself if libcurl cannot produce one), which passes this check
 * again with itself as its normalized form, and detail "".  Otherwise
 * normalized receives "" and detail, for WEBHOOK_URL_PARSE,
 * WEBHOOK_URL_SCHEME and WEBHOOK_URL_UNSTABLE, the detail (a static message
 * of libcurl, the scheme, the normalized form); for the others "".
 */
extern WebhookUrlStatus webhook_url_check(const char *url, size_t len,
										  char *normalized, char *detail);

#endif							/* EXECLAVE_WEBHOOK_CHECK_H */
