/*
 * policy_config.c
 *		Validation and compilation of policy configs.
 *
 * One function, execlave_policy_compile(), both validates a policy's config
 * and turns it into a CompiledPolicy: the write-time trigger on
 * execlave.policies compiles into a scratch context and throws the result
 * away, the policy cache compiles into its own context.  So a config that
 * was accepted is exactly a config the evaluator understands.
 *
 * Every error is 22023 (invalid_parameter_value) and names the policy type
 * and the offending key; unknown keys list the valid ones in the hint.
 * Numbers are judged by their exact value as well as by the double that is
 * used, and a user's string quoted in a message is clipped.
 */
#include "policy.h"

#include <math.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

const char *const execlave_policy_type_names[POLICY_NUM_TYPES] = {
	"prompt_injection", "pii_detection", "model_allowlist", "token_limit", "tool_access",
	"rate_limit", "cost_limit", "budget_cap"
};

const char *const execlave_policy_mode_names[POLICY_NUM_MODES] = {"log", "flag", "block", "require_approval"};

/* Longest name in an allow or deny list, and most entries in a list. */
#define MAX_RULE_LEN		200
#define MAX_LIST_LEN		1000
#define MAX_CUSTOM_PATTERNS	500

/* Most bytes of a user's string (a value or a key) quoted in a message. */
#define MAX_QUOTED_LEN		200

/* Keys each type accepts, NULL-terminated; used for checks and hints. */
static const char *const keys_prompt_injection[] =
{"threshold", "scan_input", "scan_output", "builtin_patterns", "patterns", NULL};
static const char *const keys_pii_detection[] =
{"types", "scan_input", "scan_output", "mask", NULL};
static const char *const keys_model_allowlist[] =
{"allow", "deny", "require_model", NULL};
static const char *const keys_token_limit[] =
{"max_total_tokens", "max_prompt_tokens", "max_completion_tokens", NULL};
static const char *const keys_tool_access[] =
{"allow", "deny", NULL};

static const char *const keys_rate_limit[] =
{"max_requests_per_minute", "max_requests_per_hour", NULL};
static const char *const keys_cost_limit[] =
{"max_cost_per_trace", "max_cost_per_day", "warning_thresholds", "action", NULL};
static const char *const keys_budget_cap[] =
{"max_cost_per_month", "scope", "warning_thresholds", "action", NULL};

static const char *const *const type_keys[POLICY_NUM_TYPES] = {
	keys_prompt_injection, keys_pii_detection, keys_model_allowlist,
	keys_token_limit, keys_tool_access, keys_rate_limit, keys_cost_limit,
	keys_budget_cap
};

/* Largest cost limit accepted, in USD (keeps nano-USD sums far from overflow). */
#define MAX_COST_USD	1000000000.0

/*
 * s for quoting in a message: as it is, or its first MAX_QUOTED_LEN bytes
 * at most, cut at a character boundary, followed by "...".  So a long
 * string makes no long message and leaves no part of a character.
 */
static const char *
clip(const char *s)
{
	int			len = strlen(s);

	if (len <= MAX_QUOTED_LEN)
		return s;
	return psprintf("%.*s...", pg_mbcliplen(s, len, MAX_QUOTED_LEN), s);
}

/* Policy type from its name; 22023 listing the types when unknown. */
PolicyType
execlave_policy_type(const char *name)
{
	for (int i = 0; i < POLICY_NUM_TYPES; i++)
		if (strcmp(name, execlave_policy_type_names[i]) == 0)
			return (PolicyType) i;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown policy type \"%s\"", name),
			 errhint("Valid types: prompt_injection, pii_detection, model_allowlist, token_limit, tool_access, rate_limit, cost_limit, budget_cap.")));
	return POLICY_PROMPT_INJECTION; /* keep compiler quiet */
}

/*
 * Mode from its name.  The hosted product's older spellings of log
 * (monitor, warn, log_only) are accepted; *alias tells the caller to store
 * the canonical name.
 */
PolicyMode
execlave_policy_mode(const char *name, bool *alias)
{
	*alias = false;
	for (int i = 0; i < POLICY_NUM_MODES; i++)
		if (strcmp(name, execlave_policy_mode_names[i]) == 0)
			return (PolicyMode) i;
	if (strcmp(name, "monitor") == 0 || strcmp(name, "warn") == 0 ||
		strcmp(name, "log_only") == 0)
	{
		*alias = true;
		return MODE_LOG;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown policy mode \"%s\"", name),
			 errhint("Valid modes: log, flag, block, require_approval.")));
	return MODE_LOG;			/* keep compiler quiet */
}

/* Context for error messages. */
typedef struct ConfigCtx
{
	PolicyType	type;
	const char *key;			/* key being read */
} ConfigCtx;

static void config_error(const ConfigCtx *c, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

/*
 * Raise 22023: invalid <type> policy config: key "<key>" <message>.  The
 * message is formatted whole (a user's string in it goes through clip()).
 */
static void
config_error(const ConfigCtx *c, const char *fmt,...)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		va_list		ap;
		int			needed;

		va_start(ap, fmt);
		needed = appendStringInfoVA(&buf, fmt, ap);
		va_end(ap);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s policy config: key \"%s\" %s",
					execlave_policy_type_names[c->type], c->key, buf.data)));
}

/* Name of a JSON value's type, for messages. */
static const char *
json_kind(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "a string";
		case jbvNumeric:
			return "a number";
		case jbvBool:
			return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default:
			return "a JSON value";
	}
}

static bool
read_bool(const ConfigCtx *c, const JsonbValue *v)
{
	if (v->type != jbvBool)
		config_error(c, "must be true or false, not %s", json_kind(v));
	return v->val.boolean;
}

/* A finite number. */
static double
read_number(const ConfigCtx *c, const JsonbValue *v)
{
	double		d;

	if (v->type != jbvNumeric)
		config_error(c, "must be a number, not %s", json_kind(v));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || isinf(d))
		config_error(c, "must be a finite number");
	return d;
}

/* Sign of n - bound, on the exact value. */
static int
cmp_exact(Numeric n, int64 bound)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
											 NumericGetDatum(int64_to_numeric(bound))));
}

/* Is n exactly a whole number? */
static bool
is_whole(Numeric n)
{
	Datum		t = DirectFunctionCall2(numeric_trunc, NumericGetDatum(n), Int32GetDatum(0));

	return DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n), t)) == 0;
}

/*
 * Is the number a whole one from lo to hi (at most 2^53)?  Judged on d, the
 * double the caller uses, and on n, the exact value: a number within
 * rounding of a whole one is a whole double (2.0000000000000001 is 2.0),
 * and one just outside the range can round onto its end.
 */
static bool
whole_in_range(double d, Numeric n, int64 lo, int64 hi)
{
	return d >= (double) lo && d <= (double) hi && d == floor(d) &&
		cmp_exact(n, lo) >= 0 && cmp_exact(n, hi) <= 0 && is_whole(n);
}

/*
 * Is the number greater than 0 and at most 1, both as the double d that is
 * used and exactly (1.00000000000000001 is 1.0 as a double, 1e-400 is 0.0)?
 */
static bool
is_fraction(double d, Numeric n)
{
	return d > 0 && d <= 1 && cmp_exact(n, 0) > 0 && cmp_exact(n, 1) <= 0;
}

/* A non-negative integer (at most 2^53, exactly representable). */
static int64
read_limit(const ConfigCtx *c, const JsonbValue *v)
{
	double		d = read_number(c, v);

	/* -1e-400 is -0.0 as a double */
	if (d < 0 || cmp_exact(v->val.numeric, 0) < 0)
		config_error(c, "must not be negative (got %g)", d);
	if (!whole_in_range(d, v->val.numeric, 0, INT64CONST(9007199254740992)))
		config_error(c, "must be a whole number of tokens (got %g)", d);
	return (int64) d;
}

/* Text of a JSON string, NUL-terminated, in the current context. */
static char *
string_value(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* Open an array value for iteration; error if v is not an array. */
static JsonbIterator *
open_array(const ConfigCtx *c, const JsonbValue *v, int *count)
{
	JsonbIterator *it;
	JsonbValue	elem;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		config_error(c, "must be an array, not %s", json_kind(v));
	*count = JsonContainerSize(v->val.binary.data);
	it = JsonbIteratorInit(v->val.binary.data);
	(void) JsonbIteratorNext(&it, &elem, true); /* WJB_BEGIN_ARRAY */
	return it;
}

/* A positive whole number of requests. */
static int64
read_requests(const ConfigCtx *c, const JsonbValue *v)
{
	double		d = read_number(c, v);

	if (!whole_in_range(d, v->val.numeric, 1, INT64CONST(1000000000000)))
		config_error(c, "must be a whole number of requests from 1 to 10^12 (got %g)", d);
	return (int64) d;
}

/* A cost in USD, at least 0 and at most MAX_COST_USD, as nano-USD. */
static int64
read_cost(const ConfigCtx *c, const JsonbValue *v)
{
	double		d = read_number(c, v);

	if (d < 0 || cmp_exact(v->val.numeric, 0) < 0)
		config_error(c, "must not be negative (got %g)", d);
	if (d > MAX_COST_USD || cmp_exact(v->val.numeric, (int64) MAX_COST_USD) > 0)
		config_error(c, "must be at most %.0f USD (got %g)", MAX_COST_USD, d);
	return execlave_numeric_to_nanos(v->val.numeric);
}

/* warning_thresholds: distinct whole percentages 1..100, stored ascending. */
static void
read_thresholds(const ConfigCtx *c, const JsonbValue *v, CompiledPolicy *p)
{
	int			n;
	JsonbIterator *it = open_array(c, v, &n);
	JsonbValue	e;
	JsonbIteratorToken tok;

	if (n > MAX_COST_THRESHOLDS)
		config_error(c, "has %d entries; at most %d", n, MAX_COST_THRESHOLDS);
	p->nthresholds = 0;
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		double		d;
		int			k;

		if (tok != WJB_ELEM)
			continue;
		if (e.type != jbvNumeric)
			config_error(c, "entries must be numbers, not %s", json_kind(&e));
		d = read_number(c, &e);
		if (!whole_in_range(d, e.val.numeric, 1, 100))
			config_error(c, "entries must be whole percentages from 1 to 100 (got %g)", d);
		/* insertion sort, ignoring repeats */
		for (k = 0; k < p->nthresholds && p->thresholds[k] < (int) d; k++)
			;
		if (k < p->nthresholds && p->thresholds[k] == (int) d)
			continue;
		memmove(&p->thresholds[k + 1], &p->thresholds[k], sizeof(int) * (p->nthresholds - k));
		p->thresholds[k] = (int) d;
		p->nthresholds++;
	}
}

/* One of a fixed set of strings; returns its index. */
static int
read_choice(const ConfigCtx *c, const JsonbValue *v, const char *const *choices, const char *hint)
{
	char	   *str;

	if (v->type != jbvString)
		config_error(c, "must be a string (%s), not %s", hint, json_kind(v));
	str = string_value(v);
	for (int i = 0; choices[i] != NULL; i++)
		if (strcmp(str, choices[i]) == 0)
			return i;
	config_error(c, "must be %s (got \"%s\")", hint, clip(str));
	return 0;					/* keep compiler quiet */
}

static const char *const limit_action_names[] = {"block", "warn", "pause_agent", NULL};
static const char *const budget_scope_names[] = {"agent", "policy", NULL};

/*
 * An allow or deny list of names: strings of 1 to 200 bytes, exact or with
 * a trailing '*' for a prefix.
 */
static void
read_name_list(const ConfigCtx *c, const JsonbValue *v, NameList *list)
{
	int			count;
	JsonbIterator *it = open_array(c, v, &count);
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			i = 0;

	if (count > MAX_LIST_LEN)
		config_error(c, "has %d entries (at most %d)", count, MAX_LIST_LEN);
	list->n = 0;
	list->rules = palloc0(sizeof(NameRule) * Max(count, 1));
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		NameRule   *r;
		char	   *star;

		if (tok != WJB_ELEM)
			continue;
		i++;
		if (elem.type != jbvString)
			config_error(c, "element %d must be a string, not %s", i, json_kind(&elem));
		if (elem.val.string.len == 0 || elem.val.string.len > MAX_RULE_LEN)
			config_error(c, "element %d must be 1 to %d bytes long", i, MAX_RULE_LEN);
		r = &list->rules[list->n++];
		r->name = string_value(&elem);
		r->len = elem.val.string.len;
		if (strlen(r->name) != (size_t) r->len)
			config_error(c, "element %d contains a NUL character", i);
		star = strchr(r->name, '*');
		if (star != NULL)
		{
			if (star != r->name + r->len - 1)
				config_error(c, "element %d: '*' is allowed only at the end (a prefix match)", i);
			r->prefix = true;
			r->len--;
			r->name[r->len] = '\0';
		}
	}
}

/* Allocator for the injection matcher: palloc in the policy's context. */
static void *
matcher_alloc(Size size, void *arg)
{
	return MemoryContextAllocZero((MemoryContext) arg, size);
}

/*
 * prompt_injection patterns: strings (weight 1) or objects
 * {"pattern": text, "weight": number in (0, 1]}.
 */
static void
read_patterns(const ConfigCtx *c, const JsonbValue *v, List **phrases, List **weights)
{
	int			count;
	JsonbIterator *it = open_array(c, v, &count);
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			i = 0;

	if (count > MAX_CUSTOM_PATTERNS)
		config_error(c, "has %d patterns (at most %d)", count, MAX_CUSTOM_PATTERNS);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		double		weight = 1.0;
		char	   *phrase = NULL;

		if (tok != WJB_ELEM)
			continue;
		i++;
		if (elem.type == jbvString)
			phrase = string_value(&elem);
		else if (elem.type == jbvBinary && JsonContainerIsObject(elem.val.binary.data))
		{
			JsonbIterator *oit = JsonbIteratorInit(elem.val.binary.data);
			JsonbValue	k,
						val;
			JsonbIteratorToken otok;

			while ((otok = JsonbIteratorNext(&oit, &k, true)) != WJB_DONE)
			{
				char	   *kname;

				if (otok != WJB_KEY)
					continue;
				kname = string_value(&k);
				(void) JsonbIteratorNext(&oit, &val, true);
				if (strcmp(kname, "pattern") == 0)
				{
					if (val.type != jbvString)
						config_error(c, "element %d: \"pattern\" must be a string, not %s",
									 i, json_kind(&val));
					phrase = string_value(&val);
				}
				else if (strcmp(kname, "weight") == 0)
				{
					weight = read_number(c, &val);
					if (!is_fraction(weight, val.val.numeric))
						config_error(c, "element %d: \"weight\" must be greater than 0 and at most 1", i);
				}
				else
					config_error(c, "element %d has unknown key \"%s\" (valid: pattern, weight)",
								 i, clip(kname));
			}
			if (phrase == NULL)
				config_error(c, "element %d has no \"pattern\"", i);
		}
		else
			config_error(c, "element %d must be a string or an object {\"pattern\", \"weight\"}, not %s",
						 i, json_kind(&elem));
		if (phrase[0] == '\0')
			config_error(c, "element %d: pattern is empty", i);
		*phrases = lappend(*phrases, phrase);
		{
			double	   *w = palloc(sizeof(double));

			*w = weight;
			*weights = lappend(*weights, w);
		}
	}
}

/* pii_detection types: names from pii.h. */
static unsigned
read_pii_types(const ConfigCtx *c, const JsonbValue *v)
{
	int			count;
	JsonbIterator *it = open_array(c, v, &count);
	JsonbValue	elem;
	JsonbIteratorToken tok;
	unsigned	mask = 0;
	int			i = 0;

	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		int			t;

		if (tok != WJB_ELEM)
			continue;
		i++;
		if (elem.type != jbvString)
			config_error(c, "element %d must be a string, not %s", i, json_kind(&elem));
		t = pii_type_from_name(elem.val.string.val, elem.val.string.len);
		if (t < 0)
			config_error(c, "element %d: unknown PII type \"%s\" (valid: email, phone, ssn, credit_card, ip_address, iban, api_key)",
						 i, clip(string_value(&elem)));
		mask |= PII_BIT(t);
	}
	if (mask == 0)
		config_error(c, "must name at least one PII type");
	return mask;
}

/* Keys every type accepts. */
static const char *const keys_common[] = {"approval_timeout_seconds", NULL};

/* Is key one of the type's keys? */
static bool
key_known(PolicyType type, const char *key)
{
	for (const char *const *k = keys_common; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return true;
	for (const char *const *k = type_keys[type]; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return true;
	return false;
}

/* "a, b, c" for a hint. */
static char *
key_list(PolicyType type)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (const char *const *k = type_keys[type]; *k != NULL; k++)
		appendStringInfo(&buf, "%s%s", buf.len > 0 ? ", " : "", *k);
	for (const char *const *k = keys_common; *k != NULL; k++)
		appendStringInfo(&buf, ", %s", *k);
	return buf.data;
}

/* Build the injection matcher from the built-in and custom patterns. */
static void
build_matcher(const ConfigCtx *c, CompiledPolicy *p, bool builtins, List *custom,
			  List *custom_weights, MemoryContext cxt)
{
	int			nb = builtins ? inj_num_builtins : 0;
	int			n = nb + list_length(custom);
	const char **phrases = palloc(sizeof(char *) * Max(n, 1));
	size_t	   *lens = palloc(sizeof(size_t) * Max(n, 1));
	int			bad = -1;
	const char *err = NULL;
	int			i;

	p->nphrases = n;
	p->phrase_family = MemoryContextAlloc(cxt, sizeof(int) * Max(n, 1));
	p->family_names = MemoryContextAlloc(cxt, sizeof(char *) * Max(n, 1));
	p->family_weights = MemoryContextAlloc(cxt, sizeof(double) * Max(n, 1));
	p->nfamilies = 0;

	for (i = 0; i < nb; i++)
	{
		const InjBuiltin *b = &inj_builtins[i];

		phrases[i] = b->phrase;
		lens[i] = strlen(b->phrase);
		/* builtins of one family are adjacent in the table */
		if (p->nfamilies == 0 || strcmp(p->family_names[p->nfamilies - 1], b->name) != 0)
		{
			p->family_names[p->nfamilies] = b->name;
			p->family_weights[p->nfamilies] = b->weight;
			p->nfamilies++;
		}
		p->phrase_family[i] = p->nfamilies - 1;
	}
	i = nb;
	for (int j = 0; j < list_length(custom); j++, i++)
	{
		phrases[i] = list_nth(custom, j);
		lens[i] = strlen(phrases[i]);
		p->family_names[p->nfamilies] = MemoryContextStrdup(cxt, psprintf("custom_%d", j + 1));
		p->family_weights[p->nfamilies] = *(double *) list_nth(custom_weights, j);
		p->phrase_family[i] = p->nfamilies++;
	}
	if (n == 0)
	{
		ConfigCtx	pc = {.type = c->type,.key = "patterns"};

		config_error(&pc, "is empty while builtin_patterns is false: the policy would check nothing");
	}
	p->matcher = inj_build(phrases, lens, n, matcher_alloc, cxt, &bad, &err);
	if (p->matcher == NULL)
	{
		ConfigCtx	pc = {.type = c->type,.key = "patterns"};

		if (bad >= nb)
			config_error(&pc, "element %d: %s", bad - nb + 1, err ? err : "invalid pattern");
		elog(ERROR, "built-in injection pattern %d is invalid: %s", bad, err ? err : "?");
	}
}

/*
 * Validate config for type and fill in p (allocated by the caller) in
 * context cxt.  Raises 22023 naming the bad key.
 */
void
execlave_policy_compile(CompiledPolicy *p, PolicyType type, Jsonb *config, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ConfigCtx	c = {.type = type,.key = ""};
	JsonbIterator *it;
	JsonbValue	k,
				v;
	JsonbIteratorToken tok;
	bool		builtins = true;
	List	   *custom = NIL;
	List	   *custom_weights = NIL;
	bool		have_list = false;

	p->type = type;
	p->scan_input = true;
	p->scan_output = (type == POLICY_PII_DETECTION);
	p->threshold = 0.8;
	p->pii_types = PII_ALL;
	p->mask = false;
	p->require_model = false;
	p->max_total = p->max_prompt = p->max_completion = -1;
	p->allow.n = p->deny.n = 0;
	p->max_per_minute = p->max_per_hour = -1;
	p->max_cost_trace = p->max_cost_day = p->max_cost_month = -1;
	p->budget_per_policy = false;
	p->nthresholds = 2;
	p->thresholds[0] = 80;
	p->thresholds[1] = 100;
	p->action = LIMIT_BLOCK;
	p->approval_timeout = APPROVAL_TIMEOUT_DEFAULT;

	if (!JB_ROOT_IS_OBJECT(config) || JB_ROOT_IS_SCALAR(config))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s policy config: must be a JSON object",
						execlave_policy_type_names[type])));

	it = JsonbIteratorInit(&config->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = string_value(&k);
		(void) JsonbIteratorNext(&it, &v, true);
		c.key = key;
		if (!key_known(type, key))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s policy config: unknown key \"%s\"",
							execlave_policy_type_names[type], clip(key)),
					 errhint("Valid keys: %s.", key_list(type))));

		if (strcmp(key, "scan_input") == 0)
			p->scan_input = read_bool(&c, &v);
		else if (strcmp(key, "scan_output") == 0)
			p->scan_output = read_bool(&c, &v);
		else if (strcmp(key, "threshold") == 0)
		{
			p->threshold = read_number(&c, &v);
			if (!is_fraction(p->threshold, v.val.numeric))
				config_error(&c, "must be greater than 0 and at most 1 (got %g)", p->threshold);
		}
		else if (strcmp(key, "builtin_patterns") == 0)
			builtins = read_bool(&c, &v);
		else if (strcmp(key, "patterns") == 0)
			read_patterns(&c, &v, &custom, &custom_weights);
		else if (strcmp(key, "types") == 0)
			p->pii_types = read_pii_types(&c, &v);
		else if (strcmp(key, "mask") == 0)
			p->mask = read_bool(&c, &v);
		else if (strcmp(key, "require_model") == 0)
			p->require_model = read_bool(&c, &v);
		else if (strcmp(key, "allow") == 0)
		{
			read_name_list(&c, &v, &p->allow);
			have_list = true;
		}
		else if (strcmp(key, "deny") == 0)
		{
			read_name_list(&c, &v, &p->deny);
			have_list = true;
		}
		else if (strcmp(key, "max_total_tokens") == 0)
			p->max_total = read_limit(&c, &v);
		else if (strcmp(key, "max_prompt_tokens") == 0)
			p->max_prompt = read_limit(&c, &v);
		else if (strcmp(key, "max_completion_tokens") == 0)
			p->max_completion = read_limit(&c, &v);
		else if (strcmp(key, "max_requests_per_minute") == 0)
			p->max_per_minute = read_requests(&c, &v);
		else if (strcmp(key, "max_requests_per_hour") == 0)
			p->max_per_hour = read_requests(&c, &v);
		else if (strcmp(key, "max_cost_per_trace") == 0)
			p->max_cost_trace = read_cost(&c, &v);
		else if (strcmp(key, "max_cost_per_day") == 0)
			p->max_cost_day = read_cost(&c, &v);
		else if (strcmp(key, "max_cost_per_month") == 0)
			p->max_cost_month = read_cost(&c, &v);
		else if (strcmp(key, "warning_thresholds") == 0)
			read_thresholds(&c, &v, p);
		else if (strcmp(key, "action") == 0)
			p->action = (LimitAction) read_choice(&c, &v, limit_action_names,
												  "\"block\", \"warn\" or \"pause_agent\"");
		else if (strcmp(key, "approval_timeout_seconds") == 0)
		{
			double		d = read_number(&c, &v);

			if (!whole_in_range(d, v.val.numeric, 1, APPROVAL_TIMEOUT_MAX))
				config_error(&c, "must be a whole number of seconds from 1 to %d (got %g)",
							 APPROVAL_TIMEOUT_MAX, d);
			p->approval_timeout = (int) d;
		}
		else if (strcmp(key, "scope") == 0)
			p->budget_per_policy = read_choice(&c, &v, budget_scope_names,
											   "\"agent\" or \"policy\"") == 1;
	}

	/* Whole-config rules. */
	switch (type)
	{
		case POLICY_PROMPT_INJECTION:
			build_matcher(&c, p, builtins, custom, custom_weights, cxt);
			/* fall through */
		case POLICY_PII_DETECTION:
			if (!p->scan_input && !p->scan_output)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid %s policy config: scan_input and scan_output are both false",
								execlave_policy_type_names[type]),
						 errhint("Scan the input, the output or both.")));
			break;
		case POLICY_MODEL_ALLOWLIST:
		case POLICY_TOOL_ACCESS:
			if (!have_list || (p->allow.n == 0 && p->deny.n == 0))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid %s policy config: give a non-empty \"allow\" or \"deny\" list",
								execlave_policy_type_names[type]),
						 errhint("Entries are exact names or prefixes ending in '*', e.g. {\"allow\": [\"gpt-4o\", \"claude-*\"]}.")));
			break;
		case POLICY_TOKEN_LIMIT:
			if (p->max_total < 0 && p->max_prompt < 0 && p->max_completion < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid token_limit policy config: give max_total_tokens, max_prompt_tokens or max_completion_tokens")));
			break;
		case POLICY_RATE_LIMIT:
			if (p->max_per_minute < 0 && p->max_per_hour < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid rate_limit policy config: give max_requests_per_minute or max_requests_per_hour")));
			break;
		case POLICY_COST_LIMIT:
			if (p->max_cost_trace < 0 && p->max_cost_day < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid cost_limit policy config: give max_cost_per_trace or max_cost_per_day")));
			break;
		case POLICY_BUDGET_CAP:
			if (p->max_cost_month < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid budget_cap policy config: max_cost_per_month is required")));
			break;
		case POLICY_NUM_TYPES:
			break;
	}
	MemoryContextSwitchTo(old);
}
