/*
 * fuzz_webhook_url.c
 *		libFuzzer harness for the webhook URL check of src/standalone/webhook_check.c.
 *
 *	clang-14 -g -O1 -Wall -Wextra -fsanitize=fuzzer,address,undefined \
 *		-fno-sanitize-recover=all -Isrc/standalone test/fuzz/fuzz_webhook_url.c \
 *		src/standalone/webhook_check.c -lcurl -o /tmp/fuzz_webhook_url
 *
 * Input: byte 0 is a selector.  Bit 0 clear: the URL is bytes 1 and on.
 * Bit 0 set: the URL is bytes 3 and on with copies of byte 1 inserted at
 * offset byte 2 (modulo the length) to make it 2030 + (selector >> 1) % 40
 * bytes long, so lengths on both sides of the 2048-byte limit, before and
 * after normalization, are common.  The URL is copied to a heap block of
 * exactly its length, without a terminating NUL, so ASan sees any read past
 * it; both output buffers are pre-filled with 0xA5.  libcurl is not
 * instrumented: classes of its outcomes are fed back to libFuzzer as extra
 * counters (see feature()).
 *
 * Checked, aborting on the first violation (so libFuzzer reports a crash):
 *	- the status is a WebhookUrlStatus; normalized and detail are strings
 *	  inside their WEBHOOK_URL_BUFSIZE buffers; normalized is "" unless the
 *	  URL is accepted, detail is "" unless the status is WEBHOOK_URL_PARSE,
 *	  WEBHOOK_URL_SCHEME or WEBHOOK_URL_UNSTABLE;
 *	- WEBHOOK_URL_LENGTH exactly when the URL is empty, longer than 2048
 *	  bytes or has a NUL byte; otherwise WEBHOOK_URL_CHARACTER exactly when
 *	  it has a byte outside 0x21-0x7E;
 *	- WEBHOOK_URL_PARSE: detail is one of libcurl's curl_url_strerror()
 *	  messages (other than the one for CURLUE_OK);
 *	- WEBHOOK_URL_SCHEME: detail is not http or https in any case, and the
 *	  URL starts with it and ":" (ignoring ASCII case);
 *	- WEBHOOK_URL_CREDENTIALS: the URL has an "@";
 *	  WEBHOOK_URL_NORMALIZED_CHARACTER: the URL has a "%" (only decoding the
 *	  host can bring in such a byte); WEBHOOK_URL_UNSTABLE: the URL has a
 *	  "%" (libcurl decodes the host after rewriting numeric hosts, see
 *	  webhook_check.c) and detail has the shape of an accepted normalized
 *	  form (below); WEBHOOK_URL_NO_MEMORY never happens;
 *	- accepted (WEBHOOK_URL_OK):
 *	  - the URL starts with "http:" or "https:" (ignoring ASCII case);
 *	  - the normalized form is 1 to 2048 bytes of 0x21-0x7E, starts with the
 *		same scheme in lower case and "://", then an authority (up to the
 *		first "/", "?" or "#") without "@" whose host is not empty (an IPv6
 *		address in brackets not empty between them), and whose port, if it
 *		has ":" and a port, is decimal 0-65535 without a leading zero;
 *	  - libcurl parses the normalized form and finds no user and no password
 *		in it;
 *	  - the normalized form is accepted again and normalizes to itself
 *		(idempotence: what is stored passes the check on the next write).
 *		libcurl alone is not idempotent ("http://0x%41/" normalizes to
 *		"http://0xA/", and that to "http://0.0.0.10/"); webhook_url_check
 *		refuses such URLs as WEBHOOK_URL_UNSTABLE, so this must hold.
 * LLVMFuzzerInitialize asserts the exact outcome for the URLs of the
 * regression tests (expected/webhooks.out, expected/bad_input.out) and a few
 * more (upper-case schemes, port "080", a user without a password and a
 * password without a user, percent-encoded non-ASCII in the host, URLs of
 * 2047 to 2049 bytes that normalize to up to 2052 bytes, unstable
 * normalizations); a failure there aborts before fuzzing starts.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "webhook_check.h"

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Length the padding mode aims at: 2030 + (selector >> 1) % 40 */
#define PAD_BASE 2030
#define PAD_SPAN 40

static const char *const status_names[] = {
	"OK", "LENGTH", "CHARACTER", "PARSE", "SCHEME", "NO_HOST", "CREDENTIALS",
	"NORMALIZED_LENGTH", "NORMALIZED_CHARACTER", "UNSTABLE", "NO_MEMORY"
};

#define NUM_STATUS ((int) (sizeof(status_names) / sizeof(status_names[0])))

/* fail(fmt, ...): report a broken invariant and abort (fuzz_fail.h) */
#define FUZZ_FAIL_PREFIX "fuzz_webhook_url: invariant violated: "
#include "fuzz_fail.h"

static const char *
status_name(WebhookUrlStatus s)
{
	return (int) s >= 0 && (int) s < NUM_STATUS ? status_names[s] : "?";
}

/*
 * libcurl is not instrumented, so libFuzzer sees none of its branches.  Each
 * outcome class (status, libcurl's message, the kind of host, port, query,
 * fragment, how normalization changed the length, and so on) sets a
 * counter in libFuzzer's extra-counters section, which it treats as
 * coverage: inputs that make libcurl behave in a new way are kept.  The
 * classes are coarse and a counter is only ever 0 or 1, which keeps the
 * corpus small.
 */
#define NUM_FEATURES 4096
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t features[NUM_FEATURES];

static void
feature(unsigned kind, unsigned value)
{
	uint32_t	h = (kind * 0x9E3779B1u) ^ (value * 0x85EBCA77u);

	h ^= h >> 15;
	features[h % NUM_FEATURES] = 1;
}

/* ------------------------------------------------------------ reference */

static bool
has_byte(const char *s, size_t len, char c)
{
	return memchr(s, c, len) != NULL;
}

static bool
all_graphic(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7E)
			return false;
	return true;
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* Do the len bytes at s start with word (lower case), ignoring ASCII case? */
static bool
starts_with_nocase(const char *s, size_t len, const char *word)
{
	size_t		n = strlen(word);
	size_t		i;

	if (len < n)
		return false;
	for (i = 0; i < n; i++)
		if (ascii_lower(s[i]) != word[i])
			return false;
	return true;
}

/* The CURLUcode whose curl_url_strerror() message s is, or 0 */
static int
curl_message_code(const char *s)
{
	int			c;

	for (c = 1; c < CURLUE_LAST; c++)
		if (strcmp(s, curl_url_strerror((CURLUcode) c)) == 0)
			return c;
	return 0;
}

static size_t
count_byte(const char *s, size_t len, char c)
{
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/* A few classes of bytes, for features */
static unsigned
byte_class(char c)
{
	const char *special = "/%:.[]@?#";
	const char *p = c != '\0' ? strchr(special, c) : NULL;

	if (p != NULL)
		return 1 + (unsigned) (p - special);
	if (c >= '0' && c <= '9')
		return 10;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 11;
	return c == '\0' ? 0 : 12;
}

/* A number in a few buckets: exact up to 8, then by powers of two */
static unsigned
bucket(size_t n)
{
	unsigned	b = 8;

	if (n < 8)
		return (unsigned) n;
	while (n >= 16 && b < 30)
		n >>= 1, b++;
	return b;
}

/* Clamp v to -limit..limit and shift it to 0..2 * limit. */
static unsigned
clamp(long v, long limit)
{
	return (unsigned) ((v < -limit ? -limit : v > limit ? limit : v) + limit);
}

/* Record the outcome class of a check (see feature()). */
static void
record_features(const char *url, size_t len, WebhookUrlStatus s,
				const char *normalized, const char *detail)
{
	const char *norm = s == WEBHOOK_URL_OK ? normalized : detail;
	size_t		nlen = strlen(norm);
	size_t		i;
	const char *auth;
	size_t		authlen;
	unsigned	shape = 0;

	feature(1, s);
	if (s == WEBHOOK_URL_PARSE)
		feature(2, (unsigned) curl_message_code(detail));
	if (s == WEBHOOK_URL_SCHEME)
		feature(3, bucket(nlen));
	for (i = 0; i < len && i < 16 && url[i] != ':'; i++)
		;
	if (i < len && url[i] == ':')
		feature(4, (unsigned) count_byte(url + i + 1, len - i - 1 < 4 ? len - i - 1 : 4, '/') |
				(unsigned) s << 4);
	if (s != WEBHOOK_URL_OK && s != WEBHOOK_URL_UNSTABLE)
		return;

	/* the normalized form: what changed, and its shape */
	feature(5, clamp((long) nlen - (long) len, 16) | (unsigned) s << 8);
	feature(6, nlen >= 2030 ? (unsigned) (nlen - 2030) : 1000 + bucket(nlen));
	for (i = 0; i < len && i < nlen && url[i] == norm[i]; i++)
		;
	feature(7, bucket(i) << 8 | byte_class(i < nlen ? norm[i] : '\0') << 4 |
			byte_class(i < len ? url[i] : '\0'));
	feature(8, clamp((long) count_byte(url, len, '%') - (long) count_byte(norm, nlen, '%'), 8) |
			(unsigned) s << 8);
	auth = strstr(norm, "://");
	if (auth == NULL)
		return;
	auth += 3;
	authlen = strcspn(auth, "/?#");
	shape |= auth[0] == '[' ? 1 : 0;
	shape |= authlen > 0 && strspn(auth, "0123456789.:") == authlen ? 2 : 0;
	shape |= memchr(auth, ':', authlen) != NULL && auth[0] != '[' ? 4 : 0;
	shape |= strchr(auth, '?') != NULL ? 8 : 0;
	shape |= strchr(auth, '#') != NULL ? 16 : 0;
	shape |= strstr(auth, "%25") != NULL ? 32 : 0;
	shape |= norm[4] == 's' ? 64 : 0;
	feature(9, shape | (unsigned) s << 8);
}

/*
 * The shape an accepted URL's normalized form must have; the scheme the
 * input starts with is http or https (is_https tells which).
 */
static void
check_normalized_shape(const char *url, size_t len, const char *norm, bool is_https)
{
	size_t		nlen = strlen(norm);
	const char *prefix = is_https ? "https://" : "http://";
	const char *auth;
	const char *end;
	const char *host_end;
	const char *port;

	if (nlen == 0 || nlen > WEBHOOK_URL_MAX_LEN || !all_graphic(norm, nlen))
		fail("\"%.*s\" accepted as \"%s\" (%zu bytes): not 1-2048 bytes of printable ASCII",
			 (int) len, url, norm, nlen);
	if (strncmp(norm, prefix, strlen(prefix)) != 0)
		fail("\"%.*s\" accepted as \"%s\": does not start with %s", (int) len, url, norm, prefix);
	auth = norm + strlen(prefix);
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t) (end - auth)) != NULL)
		fail("\"%.*s\" accepted as \"%s\": credentials in the authority", (int) len, url, norm);
	if (auth[0] == '[')
	{
		host_end = memchr(auth, ']', (size_t) (end - auth));
		if (host_end == NULL || host_end == auth + 1)
			fail("\"%.*s\" accepted as \"%s\": empty or unterminated IPv6 host",
				 (int) len, url, norm);
		host_end++;
	}
	else
	{
		host_end = memchr(auth, ':', (size_t) (end - auth));
		if (host_end == NULL)
			host_end = end;
		if (host_end == auth)
			fail("\"%.*s\" accepted as \"%s\": empty host", (int) len, url, norm);
	}
	if (host_end < end)
	{
		long		value = 0;
		const char *p;

		if (*host_end != ':')
			fail("\"%.*s\" accepted as \"%s\": junk after the host", (int) len, url, norm);
		port = host_end + 1;
		if (port == end || end - port > 5 || (port[0] == '0' && end - port > 1))
			fail("\"%.*s\" accepted as \"%s\": bad port", (int) len, url, norm);
		for (p = port; p < end; p++)
		{
			if (*p < '0' || *p > '9')
				fail("\"%.*s\" accepted as \"%s\": bad port", (int) len, url, norm);
			value = value * 10 + (*p - '0');
		}
		if (value > 65535)
			fail("\"%.*s\" accepted as \"%s\": port out of range", (int) len, url, norm);
	}
}

/* libcurl must find no user or password in the normalized form. */
static void
check_no_credentials(const char *norm)
{
	CURLU	   *u = curl_url();
	char	   *part = NULL;
	CURLUcode	rc;

	if (u == NULL)
		abort();
	rc = curl_url_set(u, CURLUPART_URL, norm, 0);
	if (rc != CURLUE_OK)
		fail("libcurl does not parse the normalized \"%s\": %s", norm, curl_url_strerror(rc));
	if (curl_url_get(u, CURLUPART_USER, &part, 0) != CURLUE_NO_USER)
		fail("normalized \"%s\" has a user \"%s\"", norm, part ? part : "");
	if (curl_url_get(u, CURLUPART_PASSWORD, &part, 0) != CURLUE_NO_PASSWORD)
		fail("normalized \"%s\" has a password \"%s\"", norm, part ? part : "");
	curl_url_cleanup(u);
}

/* ------------------------------------------------------------ the check */

/*
 * Run webhook_url_check on the len bytes at url (copied to an exactly sized
 * heap block) and check everything that does not need the fuzzer's input.
 * The normalized form is copied to norm_out (WEBHOOK_URL_BUFSIZE bytes).
 */
static WebhookUrlStatus
run_check(const char *url, size_t len, char *norm_out, char *detail_out)
{
	char	   *copy = malloc(len > 0 ? len : 1);
	char	   *normalized = malloc(WEBHOOK_URL_BUFSIZE);
	char	   *detail = malloc(WEBHOOK_URL_BUFSIZE);
	WebhookUrlStatus s;
	bool		len_ok;

	if (copy == NULL || normalized == NULL || detail == NULL)
		abort();
	memcpy(copy, url, len);
	memset(normalized, 0xA5, WEBHOOK_URL_BUFSIZE);
	memset(detail, 0xA5, WEBHOOK_URL_BUFSIZE);
	s = webhook_url_check(copy, len, normalized, detail);

	if ((int) s < 0 || (int) s >= NUM_STATUS)
		fail("\"%.*s\": status %d out of range", (int) len, url, (int) s);
	if (memchr(normalized, '\0', WEBHOOK_URL_BUFSIZE) == NULL ||
		memchr(detail, '\0', WEBHOOK_URL_BUFSIZE) == NULL)
		fail("\"%.*s\": %s: an output buffer is not a string", (int) len, url, status_name(s));
	if ((s == WEBHOOK_URL_OK) != (normalized[0] != '\0'))
		fail("\"%.*s\": %s with normalized \"%s\"", (int) len, url, status_name(s), normalized);
	if ((s == WEBHOOK_URL_PARSE || s == WEBHOOK_URL_SCHEME || s == WEBHOOK_URL_UNSTABLE) !=
		(detail[0] != '\0'))
		fail("\"%.*s\": %s with detail \"%s\"", (int) len, url, status_name(s), detail);

	len_ok = len >= 1 && len <= WEBHOOK_URL_MAX_LEN && !has_byte(url, len, '\0');
	if ((s == WEBHOOK_URL_LENGTH) != !len_ok)
		fail("\"%.*s\" (%zu bytes): %s", (int) len, url, len, status_name(s));
	if (len_ok && (s == WEBHOOK_URL_CHARACTER) != !all_graphic(url, len))
		fail("\"%.*s\": %s", (int) len, url, status_name(s));

	switch (s)
	{
		case WEBHOOK_URL_PARSE:
			if (curl_message_code(detail) == 0)
				fail("\"%.*s\": PARSE with \"%s\", not a libcurl message", (int) len, url, detail);
			break;
		case WEBHOOK_URL_SCHEME:
			{
				size_t		dlen = strlen(detail);
				size_t		i;

				if (starts_with_nocase(detail, dlen, "http") && (dlen == 4 ||
																 (dlen == 5 && ascii_lower(detail[4]) == 's')))
					fail("\"%.*s\": scheme \"%s\" refused", (int) len, url, detail);
				if (len <= dlen || url[dlen] != ':')
					fail("\"%.*s\": scheme \"%s\" is not its prefix", (int) len, url, detail);
				for (i = 0; i < dlen; i++)
					if (ascii_lower(url[i]) != ascii_lower(detail[i]))
						fail("\"%.*s\": scheme \"%s\" is not its prefix", (int) len, url, detail);
				break;
			}
		case WEBHOOK_URL_CREDENTIALS:
			if (!has_byte(url, len, '@'))
				fail("\"%.*s\": credentials without an @", (int) len, url);
			break;
		case WEBHOOK_URL_NORMALIZED_CHARACTER:
			if (!has_byte(url, len, '%'))
				fail("\"%.*s\": bad character after normalization without a %%", (int) len, url);
			break;
		case WEBHOOK_URL_UNSTABLE:
			if (!has_byte(url, len, '%'))
				fail("\"%.*s\": unstable normalization \"%s\" without a %%", (int) len, url, detail);
			check_normalized_shape(url, len, detail, starts_with_nocase(url, len, "https:"));
			break;
		case WEBHOOK_URL_NO_MEMORY:
			fail("\"%.*s\": out of memory", (int) len, url);
			break;
		case WEBHOOK_URL_OK:
			{
				bool		is_https = starts_with_nocase(url, len, "https:");

				if (!is_https && !starts_with_nocase(url, len, "http:"))
					fail("\"%.*s\" accepted as \"%s\": not an http: or https: URL",
						 (int) len, url, normalized);
				check_normalized_shape(url, len, normalized, is_https);
				check_no_credentials(normalized);
				break;
			}
		default:
			break;
	}

	record_features(url, len, s, normalized, detail);
	memcpy(norm_out, normalized, WEBHOOK_URL_BUFSIZE);
	memcpy(detail_out, detail, WEBHOOK_URL_BUFSIZE);
	free(detail);
	free(normalized);
	free(copy);
	return s;
}

/* Check url and, when it is accepted, that its normalized form is stable. */
static WebhookUrlStatus
check_url(const char *url, size_t len, char *norm_out, char *detail_out)
{
	WebhookUrlStatus s = run_check(url, len, norm_out, detail_out);

	if (s == WEBHOOK_URL_OK)
	{
		char		again[WEBHOOK_URL_BUFSIZE];
		char		detail[WEBHOOK_URL_BUFSIZE];
		WebhookUrlStatus s2 = run_check(norm_out, strlen(norm_out), again, detail);

		if (s2 != WEBHOOK_URL_OK)
			fail("\"%.*s\" normalizes to \"%s\", which is refused: %s %s",
				 (int) len, url, norm_out, status_name(s2), detail);
		if (strcmp(again, norm_out) != 0)
			fail("\"%.*s\" normalizes to \"%s\", which normalizes to \"%s\"",
				 (int) len, url, norm_out, again);
	}
	return s;
}

/* ------------------------------------------------------- known URLs */

/* Write prefix followed by "a"s to buf, len bytes in all. */
static void
long_url(char *buf, const char *prefix, size_t len)
{
	size_t		n = strlen(prefix);

	memcpy(buf, prefix, n);
	memset(buf + n, 'a', len - n);
	buf[len] = '\0';
}

static void
expect(const char *url, size_t len, WebhookUrlStatus want, const char *want_text)
{
	char		norm[WEBHOOK_URL_BUFSIZE];
	char		detail[WEBHOOK_URL_BUFSIZE];
	WebhookUrlStatus s = check_url(url, len, norm, detail);
	const char *got = s == WEBHOOK_URL_OK ? norm : detail;

	if (s != want || strcmp(got, want_text ? want_text : "") != 0)
		fail("sanity check: \"%.60s\" (%zu bytes): %s \"%.60s\", expected %s \"%.60s\"",
			 url, len, status_name(s), got, status_name(want), want_text ? want_text : "");
}

static void
expect_str(const char *url, WebhookUrlStatus want, const char *want_text)
{
	expect(url, strlen(url), want, want_text);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char buf[3 * WEBHOOK_URL_MAX_LEN];
	static char want[3 * WEBHOOK_URL_MAX_LEN];

	(void) argc;
	(void) argv;

	/* expected/webhooks.out and expected/bad_input.out */
	expect_str("ftp://example.com/x", WEBHOOK_URL_SCHEME, "ftp");
	expect_str("file:///etc/passwd", WEBHOOK_URL_SCHEME, "file");
	expect_str("gopher://x", WEBHOOK_URL_SCHEME, "gopher");
	expect_str("https://", WEBHOOK_URL_PARSE, "No host part in the URL");
	expect_str("http://", WEBHOOK_URL_PARSE, "No host part in the URL");
	expect_str("example.com/no-scheme", WEBHOOK_URL_PARSE, "Bad scheme");
	expect_str("javascript:alert(1)", WEBHOOK_URL_PARSE, "Unsupported URL scheme");
	expect_str("https://exa mple.com/", WEBHOOK_URL_CHARACTER, NULL);
	expect_str("https://example.com/\nx", WEBHOOK_URL_CHARACTER, NULL);
	expect_str("not a url", WEBHOOK_URL_CHARACTER, NULL);
	expect_str("https://user:secret@example.com/", WEBHOOK_URL_CREDENTIALS, NULL);
	expect_str("https://user:pw@example.com/", WEBHOOK_URL_CREDENTIALS, NULL);
	expect_str("", WEBHOOK_URL_LENGTH, NULL);
	snprintf(buf, sizeof(buf), "https://example.com/%03000d", 0);
	expect_str(buf, WEBHOOK_URL_LENGTH, NULL);
	expect_str("https://hooks.example.com/star", WEBHOOK_URL_OK, "https://hooks.example.com/star");
	expect_str("http://127.0.0.1:5432/ok/x", WEBHOOK_URL_OK, "http://127.0.0.1:5432/ok/x");
	expect_str("http://[::1]:5432/ok/x", WEBHOOK_URL_OK, "http://[::1]:5432/ok/x");
	expect_str("http://127.0.0.1:5432/slow/crash?ms=20", WEBHOOK_URL_OK,
			   "http://127.0.0.1:5432/slow/crash?ms=20");

	/* more */
	expect_str("HTTPS://Example.COM", WEBHOOK_URL_OK, "https://Example.COM/");
	expect_str("HtTp://x.com:080", WEBHOOK_URL_OK, "http://x.com:80/");
	expect_str("http://x.com/a/../b?q#f", WEBHOOK_URL_OK, "http://x.com/b?q#f");
	expect_str("http://u@x.com/", WEBHOOK_URL_CREDENTIALS, NULL);
	expect_str("http://:pw@x.com/", WEBHOOK_URL_CREDENTIALS, NULL);
	expect_str("http://@x.com/", WEBHOOK_URL_CREDENTIALS, NULL);
	expect_str("http://x.com:99999/", WEBHOOK_URL_PARSE,
			   curl_url_strerror(CURLUE_BAD_PORT_NUMBER));
	expect_str("http://a%FFb/", WEBHOOK_URL_NORMALIZED_CHARACTER, NULL);
	expect_str("http://%C3%A9.com/", WEBHOOK_URL_NORMALIZED_CHARACTER, NULL);
	expect_str("http://a%7Fb/", WEBHOOK_URL_NORMALIZED_CHARACTER, NULL);
	expect("https://x.com\0/", 15, WEBHOOK_URL_LENGTH, NULL);
	expect("https://x.com/\x80", 15, WEBHOOK_URL_CHARACTER, NULL);

	/* 2048 bytes, normalized with a "/" added: 2049, refused */
	long_url(buf, "http://", WEBHOOK_URL_MAX_LEN);
	expect_str(buf, WEBHOOK_URL_NORMALIZED_LENGTH, NULL);
	/* 2047 bytes: normalized to 2048, accepted */
	long_url(buf, "http://", WEBHOOK_URL_MAX_LEN - 1);
	snprintf(want, sizeof(want), "%s/", buf);
	expect_str(buf, WEBHOOK_URL_OK, want);
	/* 2048 bytes with a path: accepted as is */
	long_url(buf, "http://x/", WEBHOOK_URL_MAX_LEN);
	expect_str(buf, WEBHOOK_URL_OK, buf);
	/* 2049 bytes */
	long_url(buf, "http://x/", WEBHOOK_URL_MAX_LEN + 1);
	expect_str(buf, WEBHOOK_URL_LENGTH, NULL);
	/* numeric hosts are rewritten: 2046 bytes, normalized to 2052 */
	long_url(buf, "http://1/", WEBHOOK_URL_MAX_LEN - 2);
	expect_str(buf, WEBHOOK_URL_NORMALIZED_LENGTH, NULL);

	/* percent-decoded hosts are not rewritten again */
	expect_str("http://0x%41/", WEBHOOK_URL_UNSTABLE, "http://0xA/");
	expect_str("http://1%2e2/", WEBHOOK_URL_UNSTABLE, "http://1.2/");
	expect_str("http://1%2e2%2e3%2e4/", WEBHOOK_URL_OK, "http://1.2.3.4/");
	expect_str("http://a%2eb/", WEBHOOK_URL_OK, "http://a.b/");
	/* 2047 bytes, normalized to 2045, which normalizes to 2049 */
	long_url(buf, "http://1%2e2/", WEBHOOK_URL_MAX_LEN - 1);
	memcpy(want, buf, WEBHOOK_URL_MAX_LEN - 1 + 1);
	memmove(want + 10, want + 12, WEBHOOK_URL_MAX_LEN - 1 - 12 + 1);
	memcpy(want + 7, "1.2", 3);
	expect_str(buf, WEBHOOK_URL_UNSTABLE, want);
	return 0;
}

/* ---------------------------------------------------------------- entry */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		norm[WEBHOOK_URL_BUFSIZE];
	char		detail[WEBHOOK_URL_BUFSIZE];

	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0 || size < 3)
		check_url((const char *) data + 1, size - 1, norm, detail);
	else
	{
		size_t		target = PAD_BASE + (size_t) (data[0] >> 1) % PAD_SPAN;
		size_t		m = size - 3;
		size_t		pos = data[2] % (m + 1);
		size_t		fill = m < target ? target - m : 0;
		char	   *url = malloc(m + fill);

		if (url == NULL)
			abort();
		memcpy(url, data + 3, pos);
		memset(url + pos, data[1], fill);
		memcpy(url + pos + fill, data + 3 + pos, m - pos);
		check_url(url, m + fill, norm, detail);
		free(url);
	}
	return 0;
}
