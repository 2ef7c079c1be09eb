/*
 * policy_eval.h
 *		Evaluation of every active policy that applies to a request.
 */
#ifndef EXECLAVE_POLICY_EVAL_H
#define EXECLAVE_POLICY_EVAL_H

#include "policy.h"

extern void execlave_policy_evaluate(const PolicyRequest *req, PolicyOutcome *out);

#endif							/* EXECLAVE_POLICY_EVAL_H */
