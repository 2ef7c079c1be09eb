/*
 * execlave 0.1.1 -> 0.1.2: upgrade script, built by the Makefile from the
 * parts in sql/parts/execlave--0.1.1--0.1.2/ (one per area, in name order).
 *
 * 0.1.2 is the security release: nothing that runs with rights other than
 * the caller's resolves a name outside pg_catalog and execlave, and roles
 * get bounded resources.  Released scripts are never edited: see "Versions
 * and upgrades" in docs/ARCHITECTURE.md.
 */

\echo Use "ALTER EXTENSION execlave UPDATE TO '0.1.2'" to load this file. \quit
