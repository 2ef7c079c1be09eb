/*
 * webhooks.h
 *		The webhook worker's settings and wake-up, and the retry schedule.
 */
#ifndef EXECLAVE_WEBHOOKS_H
#define EXECLAVE_WEBHOOKS_H

#include "postgres.h"

struct Latch;

#define EXECLAVE_MAX_RETRIES	50

extern char *execlave_database;
extern int	execlave_webhook_batch_size;
extern int	execlave_webhook_concurrency;
extern int	execlave_webhook_endpoint_concurrency;
extern int	execlave_webhook_timeout_ms;
extern int	execlave_webhook_lease_ms;
extern int	execlave_webhook_poll_interval_ms;
extern char *execlave_webhook_retry_schedule;
extern bool execlave_webhook_allow_private;
extern bool execlave_am_webhook_worker;

extern void execlave_webhooks_init(void);
extern void execlave_webhook_publish(struct Latch *latch, Oid dbid);
extern int	execlave_parse_schedule(const char *spec, double *out, int max, const char **bad);

#endif							/* EXECLAVE_WEBHOOKS_H */
