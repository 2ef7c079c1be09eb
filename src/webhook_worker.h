/*
 * webhook_worker.h
 *		The webhook worker's entry point (registered by webhooks.c).
 */
#ifndef EXECLAVE_WEBHOOK_WORKER_H
#define EXECLAVE_WEBHOOK_WORKER_H

#include "postgres.h"

PGDLLEXPORT extern void execlave_webhook_worker_main(Datum arg);

#endif							/* EXECLAVE_WEBHOOK_WORKER_H */
