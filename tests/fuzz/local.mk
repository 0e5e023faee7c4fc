# The migration parsers under libFuzzer: ./configure CC=clang --enable-fuzzing, then
# `make fuzz` (FUZZ_SECONDS, default 60). tests/fuzz/fuzz.sh does both in its own
# build directory ($(top_builddir)/_fuzz): `make check-fuzz` from any build, which is
# how ./quickstart check runs it. Not part of `make check`.
dist_noinst_SCRIPTS += tests/fuzz/fuzz.sh
FUZZ_SECONDS ?= 60
check-fuzz:
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' FUZZ_SECONDS='$(FUZZ_SECONDS)' \
		$(SHELL) $(abs_top_srcdir)/tests/fuzz/fuzz.sh
clean-fuzz:
	rm -rf $(abs_top_builddir)/_fuzz
.PHONY: check-fuzz clean-fuzz
if ENABLE_FUZZING
noinst_PROGRAMS += tests/fuzz/fuzz_migration tests/fuzz/seeds
tests_fuzz_fuzz_migration_SOURCES = tests/fuzz/fuzz_migration.c
tests_fuzz_fuzz_migration_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address,undefined
tests_fuzz_fuzz_migration_LDADD = libtpmha-core.la
tests_fuzz_seeds_SOURCES = tests/fuzz/seeds.c
tests_fuzz_seeds_LDADD = libtpmha-core.la
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
