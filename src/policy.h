/*
 * policy.h
 *		The policy model: compiled policies, evaluation requests and their
 *		outcomes, and what policy_config.c (validation and compilation of a
 *		config) exports.  The modules of the engine (policy_cache, policy_eval,
 *		violations, limits, anomaly, enforce, policy_trigger) build on it.
 */
#ifndef EXECLAVE_POLICY_H
#define EXECLAVE_POLICY_H

#include "execlave.h"
#include "money.h"
#include "pii.h"
#include "injection.h"

#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

typedef enum PolicyType
{
	POLICY_PROMPT_INJECTION = 0,
	POLICY_PII_DETECTION,
	POLICY_MODEL_ALLOWLIST,
	POLICY_TOKEN_LIMIT,
	POLICY_TOOL_ACCESS,
	POLICY_RATE_LIMIT,			/* windowed types (usage_limits.c) from here on */
	POLICY_COST_LIMIT,
	POLICY_BUDGET_CAP,
	POLICY_NUM_TYPES
} PolicyType;

#define POLICY_IS_WINDOWED(t) ((t) >= POLICY_RATE_LIMIT && (t) < POLICY_NUM_TYPES)

/* What a cost policy does on reaching 100% of a cap. */
typedef enum LimitAction
{
	LIMIT_BLOCK = 0,			/* the policy's mode decides */
	LIMIT_WARN,					/* never refuse: recorded as a log violation */
	LIMIT_PAUSE_AGENT			/* the mode decides, and the agent is paused */
} LimitAction;

#define MAX_COST_THRESHOLDS 8

typedef enum PolicyMode
{
	MODE_LOG = 0,
	MODE_FLAG,
	MODE_BLOCK,
	MODE_REQUIRE_APPROVAL		/* enforce: a human approves; ingestion: as flag */
} PolicyMode;

#define POLICY_NUM_MODES 4

/* Life of an approval request (require_approval), in seconds: default, bounds. */
#define APPROVAL_TIMEOUT_DEFAULT	1800
#define APPROVAL_TIMEOUT_MAX		604800

/* One entry of an allow or deny list: an exact name, or a prefix ("gpt-4*"). */
typedef struct NameRule
{
	char	   *name;
	int			len;
	bool		prefix;
} NameRule;

typedef struct NameList
{
	int			n;
	NameRule   *rules;
} NameList;

/*
 * A policy ready to evaluate.  Everything hangs off the memory context the
 * policy was compiled in.
 */
typedef struct CompiledPolicy
{
	pg_uuid_t	id;
	char	   *name;
	PolicyType	type;
	PolicyMode	mode;
	int			approval_timeout;	/* seconds (require_approval) */
	int			nagents;		/* 0: every agent */
	pg_uuid_t  *agents;			/* sorted */

	bool		scan_input;		/* prompt_injection, pii_detection */
	bool		scan_output;

	/* prompt_injection */
	double		threshold;
	InjMatcher *matcher;
	int			nphrases;
	int		   *phrase_family;	/* phrase index -> family index */
	int			nfamilies;
	const char **family_names;
	double	   *family_weights;

	/* pii_detection */
	unsigned	pii_types;
	bool		mask;

	/* model_allowlist, tool_access */
	NameList	allow;
	NameList	deny;
	bool		require_model;

	/* token_limit: -1 when not set */
	int64		max_total;
	int64		max_prompt;
	int64		max_completion;

	/* rate_limit: -1 when not set */
	int64		max_per_minute;
	int64		max_per_hour;
	/* cost_limit, budget_cap: nano-USD, -1 when not set */
	int64		max_cost_trace;
	int64		max_cost_day;
	int64		max_cost_month;
	bool		budget_per_policy;	/* budget_cap scope "policy": one cap shared */
	uint32		scope_version;	/* hash of the agent list (scope "policy") */
	int			nthresholds;
	int			thresholds[MAX_COST_THRESHOLDS];	/* percent, ascending */
	LimitAction action;
} CompiledPolicy;

/* What is evaluated: a trace being ingested or a pre-execution request. */
typedef struct PolicyRequest
{
	bool		ingestion;		/* else pre_execution */
	pg_uuid_t	agent_id;
	char		agent_key[EXECLAVE_MAX_KEY_LEN + 1];
	const char *trace_id;		/* ingestion only */
	const char *input;			/* NULL when absent */
	size_t		input_len;
	const char *output;
	size_t		output_len;
	const char *model;			/* NULL when absent */
	int			ntools;
	char	  **tools;
	int64		prompt_tokens;	/* -1 when unknown */
	int64		completion_tokens;
	int64		total_tokens;
	int64		cost_nanos;		/* actual (ingestion) or estimated cost; -1 unknown */
} PolicyRequest;

/* A span of text to mask (byte offsets). */
typedef struct MaskSpan
{
	size_t		start;
	size_t		len;
	PiiType		type;
} MaskSpan;

/* One violation, with copies of the policy fields it needs. */
typedef struct PolicyViolation
{
	pg_uuid_t	policy_id;
	char	   *policy_name;
	PolicyType	type;
	PolicyMode	mode;
	char	   *message;
	char	   *details;		/* JSON object text */
	char	   *pause_reason;	/* pause the agent when recorded (cost policies) */
	int			approval_timeout;	/* seconds, for require_approval */
} PolicyViolation;

typedef struct PolicyOutcome
{
	List	   *violations;		/* of PolicyViolation * */
	List	   *warnings;		/* of char * */
	bool		blocked;		/* some violation is in block mode */
	bool		flagged;		/* some violation is in flag mode */
	bool		needs_approval; /* some violation is in require_approval mode */
	bool		windowed;		/* windowed policies were evaluated (usage_limits.c) */
	List	   *input_masks;	/* of MaskSpan *, from masking policies */
	List	   *output_masks;
} PolicyOutcome;

/* policy_config.c */
extern const char *const execlave_policy_type_names[POLICY_NUM_TYPES];
extern const char *const execlave_policy_mode_names[POLICY_NUM_MODES];
extern PolicyType execlave_policy_type(const char *name);
extern PolicyMode execlave_policy_mode(const char *name, bool *alias);
extern void execlave_policy_compile(CompiledPolicy *p, PolicyType type, Jsonb *config,
									MemoryContext cxt);

#endif							/* EXECLAVE_POLICY_H */
