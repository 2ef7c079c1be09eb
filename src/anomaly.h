/*
 * anomaly.h
 *		trace.anomaly: an accepted trace folded into its agent's running
 *		statistics, and the signal when a metric spikes.
 */
#ifndef EXECLAVE_ANOMALY_H
#define EXECLAVE_ANOMALY_H

#include "policy.h"

extern bool execlave_anomaly_detection;

extern void execlave_anomaly_init(void);
extern bool execlave_anomaly_active(void);
extern void execlave_anomaly_observe(const PolicyRequest *req, double duration_ms, bool is_error);

#endif							/* EXECLAVE_ANOMALY_H */
