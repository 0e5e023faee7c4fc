# bench: tpmha-bench, the benchmark of issue 2 (built by `make`, run on demand
# with `make bench` or bench/run-bench.sh; never part of `make check`).
# It loads the module with dlopen like any application, so it links none of
# our code; ESYS is only for the floor it compares the module with.
noinst_PROGRAMS += bench/tpmha-bench
bench_tpmha_bench_SOURCES = \
	bench/bench.h \
	bench/esys.c \
	bench/main.c \
	bench/module.c \
	bench/report.c \
	bench/run.c \
	bench/swcrypto.c
bench_tpmha_bench_CPPFLAGS = $(AM_CPPFLAGS) $(ESYS_CFLAGS)
bench_tpmha_bench_LDADD = $(ESYS_LIBS) $(TSS2_LIBS) $(CRYPTO_LIBS) $(DL_LIBS) $(AX_PTHREAD_LIBS) -lm

dist_noinst_SCRIPTS += bench/run-bench.sh
EXTRA_DIST += bench/RESULTS.md

# `make bench`: a fresh swtpm, token and keys, then the full run (a couple of
# minutes). BENCH_ARGS go to run-bench.sh, e.g. BENCH_ARGS='--quick' or
# BENCH_ARGS='--callgrind'.
.PHONY: bench
bench: bench/tpmha-bench$(EXEEXT) tpmha-pkcs11.la
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(abs_top_srcdir)/bench/run-bench.sh $(BENCH_ARGS)
