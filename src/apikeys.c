/*
 * apikeys.c
 *		API key helpers for the HTTP API (execlave_api, served by PostgREST):
 *		random key material, the constant-time key check, and the settings
 *		that carry the caller's identity through one request.
 *
 * A key is "ag_<environment>_<secret>", the secret 40 base62 characters
 * from pg_strong_random.  Only SHA-256 of the whole key is stored, with a
 * display prefix (environment and the secret's first 8 characters) that is
 * also the lookup key.  execlave.api_key_matches() hashes the key it is
 * given and compares the digest with the stored one in time independent of
 * where they differ, and does the same work when there is no stored digest,
 * so the time of a check says nothing about the secret.
 *
 * The identity settings (execlave.api_key_id, api_scope, api_agent_id,
 * api_actor) are superuser-only: execlave_api.pre_request() (SECURITY
 * DEFINER) sets them for the request's transaction, and no client role can
 * forge them.
 */

#include "apikeys.h"

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(execlave_random_base62);
PG_FUNCTION_INFO_V1(execlave_api_key_matches);
PG_FUNCTION_INFO_V1(execlave_api_caller_scope);
PG_FUNCTION_INFO_V1(execlave_api_caller_agent);
PG_FUNCTION_INFO_V1(execlave_actor);

static char *api_key_id = NULL;
static char *api_scope = NULL;
static char *api_agent_id = NULL;
static char *api_actor = NULL;

/* Define the identity settings; called from _PG_init. */
void
execlave_apikeys_init(void)
{
	static const struct
	{
		const char *name;
		const char *desc;
		char	  **var;
	}			settings[] = {
		{"execlave.api_key_id", gettext_noop("Set by execlave_api.pre_request(): the API key of the current HTTP request."), &api_key_id},
		{"execlave.api_scope", gettext_noop("Set by execlave_api.pre_request(): the scope of the request's API key (admin or agent)."), &api_scope},
		{"execlave.api_agent_id", gettext_noop("Set by execlave_api.pre_request(): the agent an agent-scoped API key is bound to."), &api_agent_id},
		{"execlave.api_actor", gettext_noop("Set by execlave_api.pre_request(): who acts in the request (api:<key name>), recorded instead of the database role."), &api_actor},
	};

	for (int i = 0; i < (int) lengthof(settings); i++)
		DefineCustomStringVariable(settings[i].name, settings[i].desc, NULL, settings[i].var, "",
								   PGC_SUSET, GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL,
								   NULL, NULL, NULL);
}

/* execlave.random_base62(n) RETURNS text: n characters [0-9A-Za-z] from pg_strong_random. */
Datum
execlave_random_base62(PG_FUNCTION_ARGS)
{
	static const char alphabet[] =
		"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	int32		n = PG_GETARG_INT32(0);
	char	   *out;
	int			have = 0;

	if (n < 1 || n > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("length must be between 1 and 1024")));
	out = palloc(n + 1);
	while (have < n)
	{
		uint8		buf[64];

		if (!pg_strong_random(buf, sizeof(buf)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random bytes")));
		/* 248 = 4 * 62: bytes below it map uniformly onto the alphabet */
		for (int i = 0; i < (int) sizeof(buf) && have < n; i++)
			if (buf[i] < 248)
				out[have++] = alphabet[buf[i] % 62];
	}
	out[n] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * execlave.api_key_matches(stored bytea, key text) RETURNS boolean: is
 * SHA-256(key) equal to stored?  Constant time with respect to the key; a
 * NULL or malformed stored digest is compared against zeros and fails.
 */
Datum
execlave_api_key_matches(PG_FUNCTION_ARGS)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	uint8		expected[PG_SHA256_DIGEST_LENGTH];
	bool		have_stored = false;
	text	   *key;
	pg_cryptohash_ctx *ctx;
	uint8		diff = 0;

	memset(expected, 0, sizeof(expected));
	if (!PG_ARGISNULL(0))
	{
		bytea	   *stored = PG_GETARG_BYTEA_PP(0);

		if (VARSIZE_ANY_EXHDR(stored) == PG_SHA256_DIGEST_LENGTH)
		{
			memcpy(expected, VARDATA_ANY(stored), PG_SHA256_DIGEST_LENGTH);
			have_stored = true;
		}
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_BOOL(false);
	key = PG_GETARG_TEXT_PP(1);

	ctx = pg_cryptohash_create(PG_SHA256);
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute SHA-256: %s", ctx ? pg_cryptohash_error(ctx) : "out of memory")));
	pg_cryptohash_free(ctx);

	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		diff |= digest[i] ^ expected[i];
	PG_RETURN_BOOL(have_stored && diff == 0);
}

/* Who acts: api:<key name> in an HTTP API request, else the current role. */
char *
execlave_actor_name(void)
{
	if (api_actor != NULL && api_actor[0] != '\0')
		return pstrdup(api_actor);
	return GetUserNameFromId(GetUserId(), true);
}

/*
 * The caller of the current HTTP request, read from the C variables.  SQL
 * must read it through these functions, not current_setting(): calling
 * them loads the library, and loading defines the settings as
 * superuser-only, which discards any value a client set earlier in the
 * session as a placeholder (possible only while the library was not yet
 * loaded in it).
 */

/* execlave_api.caller_scope() RETURNS text: 'admin', 'agent' or '' (no request). */
Datum
execlave_api_caller_scope(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(api_scope ? api_scope : ""));
}

/* execlave.api_caller_agent() RETURNS uuid: the agent of an agent-scoped key, or NULL. */
Datum
execlave_api_caller_agent(PG_FUNCTION_ARGS)
{
	if (api_agent_id == NULL || api_agent_id[0] == '\0')
		PG_RETURN_NULL();
	PG_RETURN_DATUM(DirectFunctionCall1(uuid_in, CStringGetDatum(api_agent_id)));
}

/* execlave.actor() RETURNS text: api:<key name> in an HTTP request, else current_user. */
Datum
execlave_actor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(execlave_actor_name()));
}
