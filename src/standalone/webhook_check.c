/*
 * webhook_check.c
 *		Which URLs a webhook endpoint may have (see webhook_check.h).
 *
 * The URL must be 1 to WEBHOOK_URL_MAX_LEN bytes of printable ASCII without
 * spaces (anything else must be percent-encoded), an absolute URL libcurl's
 * URL API parses, with scheme http or https and a host, and without a user
 * name or password (receivers authenticate deliveries by their signature).
 * What is stored is libcurl's normalized form, which must obey the same
 * rules and normalize to itself, as the check runs again on every write of
 * the row: libcurl adds a "/" path and rewrites numeric IPv4 hosts
 * ("0x7f.1" to "127.0.0.1"), which can make the URL longer than the limit;
 * it decodes percent-encoded bytes of the host, which can leave a non-ASCII
 * byte in it; and it does so after rewriting numeric hosts, so "0x%41"
 * becomes "0xA", which the next normalization rewrites to "0.0.0.10".
 * Such URLs are refused, each with a status of its own, rather than stored
 * in a form that would change or be refused on the next write.
 */
#include "webhook_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

/* Does s equal the lower-case ASCII word, ignoring ASCII case? */
static bool
ascii_case_equal(const char *s, const char *word)
{
	for (; *word; s++, word++)
	{
		char		c = *s;

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != *word)
			return false;
	}
	return *s == '\0';
}

/* Are the len bytes at s printable ASCII other than space? */
static bool
printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] <= ' ' || (unsigned char) s[i] >= 0x7F)
			return false;
	return true;
}

/* All but the stability check of webhook_url_check(). */
static WebhookUrlStatus
check_url(const char *url, size_t len, char *normalized, char *detail)
{
	char		buf[WEBHOOK_URL_BUFSIZE];
	CURLU	   *u;
	CURLUcode	rc;
	char	   *scheme = NULL,
			   *host = NULL,
			   *user = NULL,
			   *full = NULL;
	WebhookUrlStatus status = WEBHOOK_URL_OK;

	normalized[0] = '\0';
	detail[0] = '\0';
	if (len == 0 || len > WEBHOOK_URL_MAX_LEN || memchr(url, '\0', len) != NULL)
		return WEBHOOK_URL_LENGTH;
	if (!printable_ascii(url, len))
		return WEBHOOK_URL_CHARACTER;
	memcpy(buf, url, len);
	buf[len] = '\0';

	u = curl_url();
	if (u == NULL)
		return WEBHOOK_URL_NO_MEMORY;
	rc = curl_url_set(u, CURLUPART_URL, buf, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc != CURLUE_OK)
	{
		snprintf(detail, WEBHOOK_URL_BUFSIZE, "%s", curl_url_strerror(rc));
		status = WEBHOOK_URL_PARSE;
	}
	else if (!ascii_case_equal(scheme, "http") && !ascii_case_equal(scheme, "https"))
	{
		snprintf(detail, WEBHOOK_URL_BUFSIZE, "%s", scheme);
		status = WEBHOOK_URL_SCHEME;
	}
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host == NULL || host[0] == '\0')
		status = WEBHOOK_URL_NO_HOST;
	else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK && user != NULL)
		status = WEBHOOK_URL_CREDENTIALS;
	else if (curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK || full == NULL)
		memcpy(normalized, buf, len + 1);	/* keep the URL as given */
	else if (strlen(full) > WEBHOOK_URL_MAX_LEN)
		status = WEBHOOK_URL_NORMALIZED_LENGTH;
	else if (!printable_ascii(full, strlen(full)))
		status = WEBHOOK_URL_NORMALIZED_CHARACTER;
	else
		memcpy(normalized, full, strlen(full) + 1);
	curl_free(full);
	curl_free(user);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return status;
}

WebhookUrlStatus
webhook_url_check(const char *url, size_t len, char *normalized, char *detail)
{
	char		again[WEBHOOK_URL_BUFSIZE];
	char		scratch[WEBHOOK_URL_BUFSIZE];
	WebhookUrlStatus status;

	status = check_url(url, len, normalized, detail);
	if (status != WEBHOOK_URL_OK)
		return status;
	status = check_url(normalized, strlen(normalized), again, scratch);
	if (status == WEBHOOK_URL_NO_MEMORY)
	{
		normalized[0] = '\0';
		return status;
	}
	if (status != WEBHOOK_URL_OK || strcmp(again, normalized) != 0)
	{
		memcpy(detail, normalized, strlen(normalized) + 1);
		normalized[0] = '\0';
		return WEBHOOK_URL_UNSTABLE;
	}
	return WEBHOOK_URL_OK;
}
