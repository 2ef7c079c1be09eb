/*
 * violations.c
 *		What a policy outcome holds and what becomes of it: a violation added
 *		to the outcome (with copies of the policy fields it needs, and a
 *		warning for log and flag modes), the JSON of violation records, their
 *		recording through execlave.record_violations() (sqlcall.c) in the
 *		caller's transaction (blocked requests: recorder.c commits them in a
 *		separate one), and the masking of PII spans in stored traces.
 */

#include "violations.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/uuid.h"

#include "apikeys.h"
#include "pii.h"
#include "policy.h"
#include "sqlcall.h"



/* Append one violation of p, with the given mode, to the outcome. */
void
execlave_add_violation(PolicyOutcome *out, const CompiledPolicy *p, PolicyMode mode,
					   char *message, char *details)
{
	PolicyViolation *v = palloc0(sizeof(PolicyViolation));

	memcpy(&v->policy_id, &p->id, sizeof(pg_uuid_t));
	v->policy_name = pstrdup(p->name);
	v->type = p->type;
	v->mode = mode;
	v->message = message;
	v->details = details;
	v->approval_timeout = p->approval_timeout;
	out->violations = lappend(out->violations, v);
	if (mode == MODE_BLOCK)
		out->blocked = true;
	else
	{
		if (mode == MODE_FLAG)
			out->flagged = true;
		else if (mode == MODE_REQUIRE_APPROVAL)
			out->needs_approval = true;
		out->warnings = lappend(out->warnings,
								psprintf("policy \"%s\" (%s, %s): %s", p->name,
										 execlave_policy_type_names[p->type],
										 execlave_policy_mode_names[mode], message));
	}
}

/* ---------------------------------------------------------------------
 * Masking
 * ---------------------------------------------------------------------
 */
static int
mask_span_cmp(const ListCell *a, const ListCell *b)
{
	const MaskSpan *x = lfirst(a);
	const MaskSpan *y = lfirst(b);

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->len > y->len ? -1 : (x->len < y->len);
}

/*
 * text with every span replaced by its [TYPE_REDACTED] token; overlapping
 * spans (from several policies) merge, the first one's token standing.
 */
char *
execlave_apply_masks(const char *text, size_t len, List *spans, size_t *newlen)
{
	StringInfoData buf;
	size_t		pos = 0;
	ListCell   *lc;

	list_sort(spans, mask_span_cmp);
	initStringInfo(&buf);
	foreach(lc, spans)
	{
		const MaskSpan *m = lfirst(lc);

		if (m->start + m->len <= pos)
			continue;			/* inside the previous span */
		if (m->start >= pos)
		{
			appendBinaryStringInfo(&buf, text + pos, m->start - pos);
			appendStringInfoString(&buf, pii_mask_tokens[m->type]);
		}
		pos = m->start + m->len;
	}
	appendBinaryStringInfo(&buf, text + pos, len - pos);
	*newlen = buf.len;
	return buf.data;
}

/* JSON array of violation records for execlave.record_violations(). */
char *
execlave_violations_json(const PolicyRequest *req, List *violations)
{
	StringInfoData buf;
	ListCell   *lc;
	char	   *agent_id = DatumGetCString(DirectFunctionCall1(uuid_out,
															   UUIDPGetDatum(&req->agent_id)));
	char	   *role = execlave_actor_name();

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, violations)
	{
		PolicyViolation *v = lfirst(lc);
		pg_uuid_t	pid = v->policy_id;

		appendStringInfo(&buf, "%s{\"policy_id\": \"%s\", \"policy_name\": ",
						 foreach_current_index(lc) > 0 ? ", " : "",
						 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(&pid))));
		escape_json(&buf, v->policy_name);
		appendStringInfo(&buf, ", \"policy_type\": \"%s\", \"mode\": \"%s\", \"agent_id\": \"%s\", \"agent_key\": ",
						 execlave_policy_type_names[v->type], execlave_policy_mode_names[v->mode],
						 agent_id);
		escape_json(&buf, req->agent_key);
		appendStringInfoString(&buf, ", \"trace_id\": ");
		if (req->trace_id != NULL)
			escape_json(&buf, req->trace_id);
		else
			appendStringInfoString(&buf, "null");
		appendStringInfo(&buf, ", \"phase\": \"%s\", \"message\": ",
						 req->ingestion ? "ingestion" : "pre_execution");
		escape_json(&buf, v->message);
		appendStringInfo(&buf, ", \"details\": %s, \"recorded_by\": ", v->details);
		escape_json(&buf, role ? role : "unknown");
		if (v->pause_reason != NULL)
		{
			appendStringInfoString(&buf, ", \"pause_reason\": ");
			escape_json(&buf, v->pause_reason);
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * Record violations (a JSON array for execlave.record_violations) in the
 * current transaction: log and flag outcomes, and the recorder's commit of a
 * blocked request's.
 */
void
execlave_record_violations(const char *json)
{
	execlave_sql_record_violations(json);
}
