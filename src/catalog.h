/*
 * catalog.h
 *		Catalog access for the caches: index and heap scans of execlave's
 *		tables under the latest snapshot, OIDs and column numbers by name.
 */
#ifndef EXECLAVE_CATALOG_H
#define EXECLAVE_CATALOG_H

#include "postgres.h"

#include "access/htup.h"
#include "access/skey.h"
#include "access/tupdesc.h"

typedef void (*execlave_tuple_fn) (HeapTuple tup, TupleDesc desc, void *arg);
extern void execlave_index_scan(Oid relid, Oid indexid, int nkeys, ScanKeyData *keys,
								execlave_tuple_fn fn, void *arg);
extern void execlave_heap_scan(Oid relid, execlave_tuple_fn fn, void *arg);
extern AttrNumber execlave_tupdesc_attnum(TupleDesc desc, const char *name);
extern Oid	execlave_relid(const char *name);
extern AttrNumber execlave_attnum(Oid relid, const char *name);

#endif							/* EXECLAVE_CATALOG_H */
