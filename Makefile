# execlave: PGXS build.  `make && make install`, then see README.md.
EXTENSION  = execlave
EXTVERSION = 0.1.2

MODULE_big = execlave
# One module per concern (each with its header); src/standalone/ holds the
# units with no server dependency (fuzzed and benchmarked on their own).
OBJS = \
	src/execlave.o \
	src/preload.o \
	src/cache.o \
	src/catalog.o \
	src/agent_cache.o \
	src/agents.o \
	src/actions.o \
	src/grants.o \
	src/lifecycle.o \
	src/traces.o \
	src/money.o \
	src/sqlcall.o \
	src/policy_config.o \
	src/policy_cache.o \
	src/policy_eval.o \
	src/policy_trigger.o \
	src/violations.o \
	src/enforce.o \
	src/clock.o \
	src/stats.o \
	src/windows.o \
	src/usage_limits.o \
	src/anomaly.o \
	src/recorder.o \
	src/webhooks.o \
	src/webhook_worker.o \
	src/apikeys.o \
	src/standalone/pii.o \
	src/standalone/injection.o \
	src/standalone/netcheck.o \
	src/standalone/webhook_check.o \
	src/standalone/webhook_sign.o

# The first release's install script, then one upgrade script per later version
# (CREATE EXTENSION runs the chain); released scripts are never edited.  Each
# script is built from its parts, one file per area, in
# sql/parts/<script name>/, concatenated in name order (TAP 012 pins the
# SHA-256 of the built 0.1.0 script).
EXECLAVE_SCRIPTS = execlave--0.1.0 execlave--0.1.0--0.1.1 execlave--0.1.1--0.1.2
DATA_built = $(patsubst %,sql/%.sql,$(EXECLAVE_SCRIPTS))

# pg_regress: inputs in sql/<name>.sql, outputs in expected/<name>.out
REGRESS = setup agents kill_switch traces events roles grants policies windows webhooks maintenance api bad_input hot_paths
REGRESS_OPTS = --inputdir=.

# TAP tests (PostgreSQL::Test::Cluster); run by scripts/test.sh as a non-root user
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/standalone
SHLIB_LINK = -lcurl
# The code builds without warnings; scripts/test.sh builds with WERROR=1 so a warning fails the suite.
# -MMD -MP: each object's header dependencies, generated as it compiles.
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare \
	-MMD -MP $(if $(WERROR),-Werror)
EXTRA_CLEAN = $(OBJS:.o=.d)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
.SECONDEXPANSION:
include $(PGXS)

-include $(OBJS:.o=.d)

sql/execlave--%.sql: $$(sort $$(wildcard $(srcdir)/sql/parts/execlave--%/*.sql))
	cat $^ > $@

# used by scripts/test.sh
print-regress:
	@echo $(REGRESS)
.PHONY: print-regress
