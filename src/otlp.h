/*
 * otlp.h
 *		OTLP/HTTP trace ingestion: the SQL-callable decoders (protobuf and
 *		OTLP/JSON), the bounded gzip inflation and the export answer.
 */
#ifndef EXECLAVE_OTLP_H
#define EXECLAVE_OTLP_H

#include "postgres.h"

extern void execlave_otlp_init(void);

#endif							/* EXECLAVE_OTLP_H */
