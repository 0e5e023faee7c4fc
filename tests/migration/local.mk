# tests/migration: keys and whole tokens moving between two or three emulated units,
# each its own swtpm, configuration and store. Each NAME.sh drives
# tests/migration/mig once per step as the unit taking it (tests/migration/lib.sh);
# mig dlopens $TPMHA_MODULE like any application and links libtpmha-core only for
# the files an MA writes and the ESYS bypass (tests/tpm/tpm2_migrate_esys.c).
check_PROGRAMS += tests/migration/mig
tests_migration_mig_SOURCES = \
	tests/migration/mig.c tests/migration/mig.h \
	tests/migration/mig_esys.c \
	tests/migration/mig_files.c \
	tests/migration/mig_flip.c \
	tests/migration/mig_unit.c \
	tests/tpm/tpm2_migrate_esys.c tests/tpm/tpm2_migrate_esys.h
tests_migration_mig_CFLAGS = $(AM_CFLAGS) $(ESYS_CFLAGS)
tests_migration_mig_LDADD = tests/integration/libp11t.la libtpmha-core.la $(ESYS_LIBS) \
	$(TSS2_LIBS) $(CRYPTO_LIBS) $(SQLITE_LIBS) $(DL_LIBS) $(AX_PTHREAD_LIBS)

tpmha_migration_tests = \
	tests/migration/refusals.sh \
	tests/migration/flips.sh \
	tests/migration/onward.sh
TESTS += $(tpmha_migration_tests)
dist_noinst_SCRIPTS += $(tpmha_migration_tests)
EXTRA_DIST += tests/migration/lib.sh
