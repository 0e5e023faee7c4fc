# tests/tpm: the TPM backends. Unit tests need no TPM; tpm2-backend.sh starts its
# own swtpm instances (tests/lib/tpmenv.sh).
if HAVE_CMOCKA
check_PROGRAMS += tests/tpm/test_rsa_pad tests/tpm/test_tpm2_crypto
TESTS += tests/tpm/test_rsa_pad tests/tpm/test_tpm2_crypto
endif
tests_tpm_test_rsa_pad_SOURCES = tests/tpm/test_rsa_pad.c
tests_tpm_test_rsa_pad_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_tpm_test_rsa_pad_LDADD = libtpmha-core.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)
tests_tpm_test_tpm2_crypto_SOURCES = tests/tpm/test_tpm2_crypto.c
tests_tpm_test_tpm2_crypto_CFLAGS = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tests_tpm_test_tpm2_crypto_LDADD = libtpmha-core.la $(CMOCKA_LIBS) $(CRYPTO_LIBS) $(TSS2_LIBS)

check_PROGRAMS += tests/tpm/tpm2_backend_test tests/tpm/tpm2_bench
tests_tpm_tpm2_backend_test_SOURCES = tests/tpm/tpm2_backend_test.c \
	tests/tpm/tpm2_test_util.c tests/tpm/tpm2_test_util.h
tests_tpm_tpm2_backend_test_LDADD = libtpmha-core.la $(CRYPTO_LIBS) $(TSS2_LIBS) $(AX_PTHREAD_LIBS)
# The floor to compare with: raw ESYS with a password session (tests only).
tests_tpm_tpm2_bench_SOURCES = tests/tpm/tpm2_bench.c
tests_tpm_tpm2_bench_CFLAGS = $(AM_CFLAGS) $(ESYS_CFLAGS)
tests_tpm_tpm2_bench_LDADD = libtpmha-core.la $(ESYS_LIBS) $(CRYPTO_LIBS) $(TSS2_LIBS)

TESTS += tests/tpm/tpm2-backend.sh
dist_noinst_SCRIPTS += tests/tpm/tpm2-backend.sh

# Migration between three swtpms; ESYS both bypasses tpmha (the TPM alone enforces
# the domain policy) and gives the floor the export/import timings compare with.
check_PROGRAMS += tests/tpm/tpm2_migrate_test
tests_tpm_tpm2_migrate_test_SOURCES = tests/tpm/tpm2_migrate_test.c \
	tests/tpm/tpm2_migrate_esys.c tests/tpm/tpm2_migrate_esys.h \
	tests/tpm/tpm2_test_util.c tests/tpm/tpm2_test_util.h
tests_tpm_tpm2_migrate_test_CFLAGS = $(AM_CFLAGS) $(ESYS_CFLAGS)
tests_tpm_tpm2_migrate_test_LDADD = libtpmha-core.la $(ESYS_LIBS) $(CRYPTO_LIBS) $(TSS2_LIBS) \
	$(AX_PTHREAD_LIBS)
TESTS += tests/tpm/tpm2-migrate.sh
dist_noinst_SCRIPTS += tests/tpm/tpm2-migrate.sh
