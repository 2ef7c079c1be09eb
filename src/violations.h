/*
 * violations.h
 *		Violations: added to an outcome, turned into the JSON that
 *		execlave.record_violations() takes, recorded; masking of PII spans.
 */
#ifndef EXECLAVE_VIOLATIONS_H
#define EXECLAVE_VIOLATIONS_H

#include "policy.h"

extern void execlave_add_violation(PolicyOutcome *out, const CompiledPolicy *p, PolicyMode mode,
								   char *message, char *details);
extern char *execlave_violations_json(const PolicyRequest *req, List *violations);
extern void execlave_record_violations(const char *json);
extern void execlave_insert_violations(const PolicyRequest *req, List *violations);
extern Datum execlave_answer_jsonb(const char *json);
extern char *execlave_apply_masks(const char *text, size_t len, List *spans, size_t *newlen);

#endif							/* EXECLAVE_VIOLATIONS_H */
