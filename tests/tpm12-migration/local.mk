# tests/tpm12-migration: migration between TPM 1.2 units through the `tpmha` CLI
# (swtpm in TPM 1.2 mode + its own tcsd per unit, tests/lib/tpmenv.sh; tcsd needs
# root, so the script SKIPs without it, except under CI):
#   migrate.sh  units A, B, C (TPM 1.2) and D (TPM 2.0): replicate A -> B with both
#               approval steps, sign and decrypt on B by the same PKCS#11 URI; an
#               unapproved destination refused by the TPM itself (tpm12_cmk_bypass:
#               the CMK commands through TSPI, bypassing tpmha, on a key tpmha made);
#               changed bundles refused with the store untouched; 1.2 <-> 2.0 refused
check_PROGRAMS += tests/tpm12-migration/tpm12_cmk_bypass
tests_tpm12_migration_tpm12_cmk_bypass_SOURCES = tests/tpm12-migration/tpm12_cmk_bypass.c
tests_tpm12_migration_tpm12_cmk_bypass_LDADD = libtpmha-core.la $(CRYPTO_LIBS) $(TSPI_LIBS) \
	$(SQLITE_LIBS) $(TSS2_LIBS) $(AX_PTHREAD_LIBS)
TESTS += tests/tpm12-migration/migrate.sh
dist_noinst_SCRIPTS += tests/tpm12-migration/migrate.sh
