/*
 * catalog.c
 *		Catalog access for the backend-local caches: index and heap scans under
 *		the latest snapshot, OIDs and column numbers by name.
 *
 * Cache misses read execlave's tables directly (no SPI): open the relation,
 * take the latest snapshot (so the result reflects every committed change the
 * invalidation that caused the miss announced), scan one index and hand each
 * tuple to a callback.  Opening the relation may process invalidation
 * messages; callers detect that with their generation counter and retry.
 */

#include "catalog.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "execlave.h"


/*
 * Scan index indexid of relid for tuples matching keys (heap attribute
 * numbers; systable_beginscan maps them to index columns) and call fn on each.
 * With indexid InvalidOid the whole heap is scanned.
 */
void
execlave_index_scan(Oid relid, Oid indexid, int nkeys, ScanKeyData *keys,
					execlave_tuple_fn fn, void *arg)
{
	Relation	rel = table_open(relid, AccessShareLock);
	Snapshot	snap;
	SysScanDesc scan;
	HeapTuple	tup;

	snap = RegisterSnapshot(IsInParallelMode() ? GetTransactionSnapshot()
							: GetLatestSnapshot());
	scan = systable_beginscan(rel, indexid, OidIsValid(indexid), snap, nkeys, keys);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		fn(tup, RelationGetDescr(rel), arg);
	systable_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
}

/* Call fn on every tuple of relid visible to the latest snapshot. */
void
execlave_heap_scan(Oid relid, execlave_tuple_fn fn, void *arg)
{
	execlave_index_scan(relid, InvalidOid, 0, NULL, fn, arg);
}

/* Number of column name in desc (not dropped); error if absent. */
AttrNumber
execlave_tupdesc_attnum(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i + 1;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("table has no column \"%s\"", name),
			 errhint("Reinstall or update the execlave extension.")));
	return InvalidAttrNumber;	/* keep compiler quiet */
}

/* OID of relation name in schema execlave; clear error if missing. */
Oid
execlave_relid(const char *name)
{
	Oid			nsp = get_namespace_oid(EXECLAVE_SCHEMA, true);
	Oid			relid = OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s.%s\" does not exist", EXECLAVE_SCHEMA, name),
				 errhint("Run CREATE EXTENSION execlave in this database.")));
	return relid;
}

/* Number of column name of relid; clear error if missing. */
AttrNumber
execlave_attnum(Oid relid, const char *name)
{
	AttrNumber	attnum = get_attnum(relid, name);

	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation \"%s\" has no column \"%s\"", get_rel_name(relid), name),
				 errhint("Reinstall or update the execlave extension.")));
	return attnum;
}
