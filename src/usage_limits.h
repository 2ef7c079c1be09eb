/*
 * usage_limits.h
 *		The windowed policies (rate_limit, cost_limit, budget_cap): checked and
 *		counted atomically against the shared usage (windows.c), with their
 *		cost.threshold events and pause_agent follow-ups.
 */
#ifndef EXECLAVE_USAGE_LIMITS_H
#define EXECLAVE_USAGE_LIMITS_H

#include "policy.h"

extern void execlave_limits_init(void);
extern void execlave_limits_evaluate(const PolicyRequest *req, const CompiledPolicy **ps, int n,
									 PolicyOutcome *out);
extern void execlave_limits_after_accept(const PolicyRequest *req);

#endif							/* EXECLAVE_USAGE_LIMITS_H */
