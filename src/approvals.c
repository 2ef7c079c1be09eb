/*
 * approvals.c
 *		What the approval flow (SQL, 0.1.2) needs from C.  The role that
 *		decides: execlave.outer_role(), the role a session acts as (SET ROLE)
 *		whatever SECURITY DEFINER function it is in, so that a decision made
 *		through one is stamped with the deciding role, not the owner.  And
 *		Ed25519 for approval certificates, on libsodium (Debian's
 *		libsodium-dev): a seed from pg_strong_random, the public key of a
 *		seed, a detached signature, its check.  The seed (the private key)
 *		lives in execlave.approval_signing_key, readable by the owner only;
 *		these functions keep no state.  Why libsodium: PostgreSQL 15 has no
 *		Ed25519 of its own (pgcrypto has none, and the server's OpenSSL is not
 *		an interface for extensions), and libsodium's crypto_sign is RFC 8032
 *		Ed25519 with constant-time signing, from the distribution.
 */

#include "postgres.h"

#include <sodium.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "execlave.h"

PG_FUNCTION_INFO_V1(execlave_outer_role);
PG_FUNCTION_INFO_V1(execlave_ed25519_new_seed);
PG_FUNCTION_INFO_V1(execlave_ed25519_public_key);
PG_FUNCTION_INFO_V1(execlave_ed25519_sign);
PG_FUNCTION_INFO_V1(execlave_ed25519_verify);

static void
sodium_ready(void)
{
	static bool done = false;

	if (!done)
	{
		if (sodium_init() < 0)
			ereport(ERROR,
					(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
					 errmsg("libsodium could not be initialized")));
		done = true;
	}
}

static bytea *
make_bytea(const unsigned char *data, size_t len)
{
	bytea	   *b = palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/* The seed argument, which must be exactly crypto_sign_SEEDBYTES long. */
static const unsigned char *
seed_arg(FunctionCallInfo fcinfo, int n)
{
	bytea	   *seed = PG_GETARG_BYTEA_PP(n);

	if (VARSIZE_ANY_EXHDR(seed) != crypto_sign_SEEDBYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an Ed25519 seed is %d bytes, not %zu", crypto_sign_SEEDBYTES,
						(size_t) VARSIZE_ANY_EXHDR(seed))));
	return (const unsigned char *) VARDATA_ANY(seed);
}

/* execlave.outer_role() RETURNS text: the session's current role outside SECURITY DEFINER functions */
Datum
execlave_outer_role(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), true);

	if (name == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}

/* execlave.ed25519_new_seed() RETURNS bytea */
Datum
execlave_ed25519_new_seed(PG_FUNCTION_ARGS)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	bytea	   *b;

	if (!pg_strong_random(seed, sizeof(seed)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes")));
	b = make_bytea(seed, sizeof(seed));
	sodium_memzero(seed, sizeof(seed));
	PG_RETURN_BYTEA_P(b);
}

/* execlave.ed25519_public_key(seed bytea) RETURNS bytea */
Datum
execlave_ed25519_public_key(PG_FUNCTION_ARGS)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];

	sodium_ready();
	crypto_sign_seed_keypair(pk, sk, seed_arg(fcinfo, 0));
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_BYTEA_P(make_bytea(pk, sizeof(pk)));
}

/* execlave.ed25519_sign(seed bytea, message bytea) RETURNS bytea (64 bytes) */
Datum
execlave_ed25519_sign(PG_FUNCTION_ARGS)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char sig[crypto_sign_BYTES];
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);

	sodium_ready();
	crypto_sign_seed_keypair(pk, sk, seed_arg(fcinfo, 0));
	crypto_sign_detached(sig, NULL, (const unsigned char *) VARDATA_ANY(msg),
						 VARSIZE_ANY_EXHDR(msg), sk);
	sodium_memzero(sk, sizeof(sk));
	PG_RETURN_BYTEA_P(make_bytea(sig, sizeof(sig)));
}

/* execlave.ed25519_verify(public_key bytea, message bytea, signature bytea) RETURNS boolean */
Datum
execlave_ed25519_verify(PG_FUNCTION_ARGS)
{
	bytea	   *pk = PG_GETARG_BYTEA_PP(0);
	bytea	   *msg = PG_GETARG_BYTEA_PP(1);
	bytea	   *sig = PG_GETARG_BYTEA_PP(2);

	sodium_ready();
	if (VARSIZE_ANY_EXHDR(pk) != crypto_sign_PUBLICKEYBYTES || VARSIZE_ANY_EXHDR(sig) != crypto_sign_BYTES)
		PG_RETURN_BOOL(false);
	PG_RETURN_BOOL(crypto_sign_verify_detached((const unsigned char *) VARDATA_ANY(sig),
											   (const unsigned char *) VARDATA_ANY(msg),
											   VARSIZE_ANY_EXHDR(msg),
											   (const unsigned char *) VARDATA_ANY(pk)) == 0);
}
