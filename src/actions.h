/*
 * actions.h
 *		The eight agent-to-agent grant actions as bits.
 */
#ifndef EXECLAVE_ACTIONS_H
#define EXECLAVE_ACTIONS_H

#include "postgres.h"

#include "utils/array.h"

#define EXECLAVE_NUM_ACTIONS	8
extern const char *const execlave_action_names[EXECLAVE_NUM_ACTIONS];
extern int	execlave_action_bit(const char *name, int len);
extern uint8 execlave_actions_mask(ArrayType *arr, bool raise);
extern ArrayType *execlave_actions_array(uint8 mask);
extern void execlave_unknown_action(const char *name) pg_attribute_noreturn();

#endif							/* EXECLAVE_ACTIONS_H */
