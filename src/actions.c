/*
 * actions.c
 *		The agent-to-agent action vocabulary and its validation.
 *
 * Actions are held as bits of a uint8 everywhere in C (the grant cache, the
 * authorize check) and as text[] in execlave.grants.  The order of
 * execlave_action_names is the canonical order of stored arrays.
 */

#include "actions.h"

#include "catalog/pg_type_d.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(execlave_canonical_actions);
PG_FUNCTION_INFO_V1(execlave_actions_valid);

const char *const execlave_action_names[EXECLAVE_NUM_ACTIONS] = {
	"execute", "read", "write", "delete", "invoke", "query", "subscribe", "delegate"
};

/* Bit number of the action spelled by name[0..len), or -1 if there is none. */
int
execlave_action_bit(const char *name, int len)
{
	for (int i = 0; i < EXECLAVE_NUM_ACTIONS; i++)
	{
		const char *a = execlave_action_names[i];

		if (a[0] == name[0] && strncmp(a, name, len) == 0 && a[len] == '\0')
			return i;
	}
	return -1;
}

/* "execute, read, ..." for error details. */
static char *
valid_action_list(void)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < EXECLAVE_NUM_ACTIONS; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", execlave_action_names[i]);
	return buf.data;
}

/* Raise the unknown-action error (22023) listing the valid actions. */
void
execlave_unknown_action(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown action \"%s\"", name),
			 errdetail("Valid actions: %s.", valid_action_list())));
}

/*
 * Bit mask of a text[] of action names.  With raise, a NULL or empty array,
 * a NULL element, an unknown name or a duplicate is an error; without it,
 * any of those returns 0.
 */
uint8
execlave_actions_mask(ArrayType *arr, bool raise)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	uint8		mask = 0;

	if (ARR_NDIM(arr) > 1)
	{
		if (raise)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actions must be a one-dimensional array")));
		return 0;
	}
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	if (n == 0)
	{
		if (raise)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("actions must not be empty"),
					 errdetail("Valid actions: %s.", valid_action_list())));
		return 0;
	}
	for (int i = 0; i < n; i++)
	{
		text	   *t;
		int			bit;

		if (nulls[i])
		{
			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("actions must not contain NULL")));
			return 0;
		}
		t = DatumGetTextPP(elems[i]);
		bit = VARSIZE_ANY_EXHDR(t) > 0 ?
			execlave_action_bit(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)) : -1;
		if (bit < 0)
		{
			if (raise)
				execlave_unknown_action(text_to_cstring(t));
			return 0;
		}
		if (mask & (1 << bit))
		{
			if (raise)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("action \"%s\" is listed more than once", execlave_action_names[bit])));
			return 0;
		}
		mask |= 1 << bit;
	}
	return mask;
}

/* text[] of the actions in mask, in canonical order. */
ArrayType *
execlave_actions_array(uint8 mask)
{
	Datum		elems[EXECLAVE_NUM_ACTIONS];
	int			n = 0;

	for (int i = 0; i < EXECLAVE_NUM_ACTIONS; i++)
		if (mask & (1 << i))
			elems[n++] = CStringGetTextDatum(execlave_action_names[i]);
	return construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT);
}

/* execlave.canonical_actions(text[]) RETURNS text[]: validate, sort canonically. */
Datum
execlave_canonical_actions(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("actions must not be NULL")));
	PG_RETURN_ARRAYTYPE_P(execlave_actions_array(execlave_actions_mask(PG_GETARG_ARRAYTYPE_P(0), true)));
}

/* execlave.actions_valid(text[]) RETURNS boolean: the CHECK of execlave.grants. */
Datum
execlave_actions_valid(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(execlave_actions_mask(PG_GETARG_ARRAYTYPE_P(0), false) != 0);
}
