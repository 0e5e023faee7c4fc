# The migration parsers under libFuzzer: ./configure CC=clang --enable-fuzzing, then
# `make fuzz` (FUZZ_SECONDS, default 60). tests/fuzz/fuzz.sh does both in its own
# build directory, which is how ./quickstart check runs it.
dist_noinst_SCRIPTS += tests/fuzz/fuzz.sh
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_migration tests/fuzz/seeds
tests_fuzz_fuzz_migration_SOURCES = tests/fuzz/fuzz_migration.c
tests_fuzz_fuzz_migration_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_migration_LDADD = libtpmha-core.la
tests_fuzz_seeds_SOURCES = tests/fuzz/seeds.c
tests_fuzz_seeds_LDADD = libtpmha-core.la
FUZZ_SECONDS ?= 60
fuzz: tests/fuzz/fuzz_migration tests/fuzz/seeds
	rm -rf tests/fuzz/corpus && mkdir -p tests/fuzz/corpus tests/fuzz/artifacts
	tests/fuzz/seeds tests/fuzz/corpus
	tests/fuzz/fuzz_migration -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		-artifact_prefix=tests/fuzz/artifacts/ -print_final_stats=1 tests/fuzz/corpus
else
fuzz:
	@echo "fuzzing needs ./configure CC=clang --enable-fuzzing (or tests/fuzz/fuzz.sh)"; exit 1
endif
.PHONY: fuzz
