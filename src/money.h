/*
 * money.h
 *		USD amounts as exact int64 nano-USD: conversion from numeric and text.
 */
#ifndef EXECLAVE_MONEY_H
#define EXECLAVE_MONEY_H

#include "postgres.h"

#include "utils/numeric.h"

#define NANOS_PER_USD		INT64CONST(1000000000)

extern int64 execlave_numeric_to_nanos(Numeric n);
extern char *execlave_usd_text(int64 nanos);

#endif							/* EXECLAVE_MONEY_H */
