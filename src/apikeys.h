/*
 * apikeys.h
 *		API key material, the HTTP request's caller, and the actor name that
 *		stamps every change.
 */
#ifndef EXECLAVE_APIKEYS_H
#define EXECLAVE_APIKEYS_H

#include "postgres.h"

extern void execlave_apikeys_init(void);
extern char *execlave_actor_name(void);

#endif							/* EXECLAVE_APIKEYS_H */
