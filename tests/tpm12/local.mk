# tests/tpm12: the TPM 1.2 backend against swtpm (TPM 1.2 mode) + its own tcsd per
# unit (tests/lib/tpmenv.sh); tcsd needs root, so the script SKIPs without it.
check_PROGRAMS += tests/tpm12/tpm12_backend_test
tests_tpm12_tpm12_backend_test_SOURCES = tests/tpm12/tpm12_backend_test.c \
	tests/tpm12/tpm12_migrate_test.c tests/tpm12/tpm12_bench.c tests/tpm12/tpm12_test.h \
	tests/tpm/tpm2_test_util.c tests/tpm/tpm2_test_util.h
tests_tpm12_tpm12_backend_test_LDADD = libtpmha-core.la $(CRYPTO_LIBS) $(TSPI_LIBS) $(TSS2_LIBS) \
	$(AX_PTHREAD_LIBS)
TESTS += tests/tpm12/tpm12-backend.sh
dist_noinst_SCRIPTS += tests/tpm12/tpm12-backend.sh
EXTRA_DIST += tests/tpm12/lsan.supp
