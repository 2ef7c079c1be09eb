/*
 * money.c
 *		USD amounts as int64 nano-USD (exact sums, clamped to 2^62) and back
 *		to text.
 */

#include "money.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* Numeric USD -> nano-USD, rounded; clamped to [-2^62, 2^62]; NaN is 0. */
int64
execlave_numeric_to_nanos(Numeric n)
{
	static Numeric scale = NULL;
	static Numeric limit = NULL;
	static Numeric neg_limit = NULL;
	Datum		scaled;

	if (numeric_is_nan(n))
		return 0;
	if (scale == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
		Numeric		s1 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(NANOS_PER_USD)));
		Numeric		l1 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(INT64CONST(1) << 62)));
		Numeric		l2 = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(-(INT64CONST(1) << 62))));

		MemoryContextSwitchTo(old);
		limit = l1;
		neg_limit = l2;
		scale = s1;				/* last: the others are ready when it is set */
	}
	scaled = DirectFunctionCall2(numeric_mul, NumericGetDatum(n), NumericGetDatum(scale));
	if (DatumGetBool(DirectFunctionCall2(numeric_gt, scaled, NumericGetDatum(limit))))
		return INT64CONST(1) << 62;
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, scaled, NumericGetDatum(neg_limit))))
		return -(INT64CONST(1) << 62);
	scaled = DirectFunctionCall2(numeric_round, scaled, Int32GetDatum(0));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, scaled));
}

/* "12.500000000" style text of a nano-USD amount, trailing zeros trimmed to 2 decimals */
char *
execlave_usd_text(int64 nanos)
{
	char		buf[64];
	int			len;
	bool		neg = nanos < 0;
	uint64		a = neg ? -(uint64) nanos : (uint64) nanos;

	len = snprintf(buf, sizeof(buf), "%s" UINT64_FORMAT ".%09d", neg ? "-" : "",
				   a / NANOS_PER_USD, (int) (a % NANOS_PER_USD));
	while (len > 3 && buf[len - 1] == '0' && buf[len - 3] != '.')
		buf[--len] = '\0';
	return pstrdup(buf);
}
