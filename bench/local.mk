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
# minutes); then the replication benchmark on two fresh swtpms (another two or so).
# BENCH_ARGS go to run-bench.sh, e.g. BENCH_ARGS='--quick' or BENCH_ARGS='--callgrind';
# BENCH_REPLICATE_ARGS to run-replicate.sh.
.PHONY: bench
bench: bench/tpmha-bench$(EXEEXT) bench/tpmha-bench-replicate$(EXEEXT) tpmha-pkcs11.la
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(abs_top_srcdir)/bench/run-bench.sh $(BENCH_ARGS)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(abs_top_srcdir)/bench/run-replicate.sh $(BENCH_REPLICATE_ARGS)

# tpmha-bench-replicate: a whole token of 1, 10 and 100 keys from unit A to unit B
# (two swtpms), against the same TPM work through ESYS (issue 3). Each unit's side
# runs in a child that dlopens the module; libtpmha-core is linked for the file
# formats and key blobs the floor replays, tests/tpm/tpm2_migrate_esys.c is the floor.
noinst_PROGRAMS += bench/tpmha-bench-replicate
bench_tpmha_bench_replicate_SOURCES = bench/replicate.c bench/unit.c bench/unit.h \
	tests/tpm/tpm2_migrate_esys.c tests/tpm/tpm2_migrate_esys.h
bench_tpmha_bench_replicate_CPPFLAGS = $(AM_CPPFLAGS) $(ESYS_CFLAGS)
bench_tpmha_bench_replicate_LDADD = libtpmha-core.la $(ESYS_LIBS) $(TSS2_LIBS) $(CRYPTO_LIBS) \
	$(SQLITE_LIBS) $(DL_LIBS) $(AX_PTHREAD_LIBS)
dist_noinst_SCRIPTS += bench/run-replicate.sh

# `make bench-replicate` alone (BENCH_REPLICATE_ARGS go to run-replicate.sh, e.g. '--quick'
# or '-- --keys 1,10 --runs 3').
.PHONY: bench-replicate
bench-replicate: bench/tpmha-bench-replicate$(EXEEXT) tpmha-pkcs11.la
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(abs_top_srcdir)/bench/run-replicate.sh $(BENCH_REPLICATE_ARGS)

# tpmha-bench-tpm12: RSA-2048 sign and decrypt on TPM 1.2 tokens through the module
# against TSPI directly on the same TPM (issue 4), and bench/run-tpm12.sh around it
# (a TPM 1.2 unit, tokens, then replication A -> B through the CLI). `make bench-tpm12`
# (root: tcsd); BENCH_TPM12_ARGS go to run-tpm12.sh, e.g. '--quick'.
noinst_PROGRAMS += bench/tpmha-bench-tpm12
bench_tpmha_bench_tpm12_SOURCES = bench/tpm12.c bench/run.c bench/report.c bench/swcrypto.c bench/bench.h
bench_tpmha_bench_tpm12_LDADD = $(TSPI_LIBS) $(CRYPTO_LIBS) $(DL_LIBS) $(AX_PTHREAD_LIBS) -lm
dist_noinst_SCRIPTS += bench/run-tpm12.sh
.PHONY: bench-tpm12
bench-tpm12: bench/tpmha-bench-tpm12$(EXEEXT) bench/tpmha-bench-tpm12-replicate$(EXEEXT) tpmha-pkcs11.la tpmha$(EXEEXT)
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	$(SHELL) $(abs_top_srcdir)/bench/run-tpm12.sh $(BENCH_TPM12_ARGS)

# tpmha-bench-tpm12-replicate: moving keys between two TPM 1.2 units per key, the
# module in-process (TPMHA_ReplicateToken + TPMHA_ReceiveBundle) against the same
# CMK commands through TSPI directly (issue 4); bench/run-tpm12.sh runs it after the
# CLI's replications. libtpmha-core is linked for the file formats and key blobs the
# floor reads; the module itself is loaded with dlopen.
noinst_PROGRAMS += bench/tpmha-bench-tpm12-replicate
bench_tpmha_bench_tpm12_replicate_SOURCES = bench/tpm12_replicate.c bench/unit.c bench/unit.h bench/run.c bench/report.c bench/bench.h
bench_tpmha_bench_tpm12_replicate_LDADD = libtpmha-core.la $(TSPI_LIBS) $(CRYPTO_LIBS) $(SQLITE_LIBS) \
	$(TSS2_LIBS) $(DL_LIBS) $(AX_PTHREAD_LIBS) -lm
