# tests/unit: cmocka tests of the layers below the PKCS#11 entry points. No TPM:
# test_token runs the token layer on a mock backend (tests/unit/mock_tpm.c stands in
# for tpm/backend.c) to reach the error paths a real TPM will not take on demand.
tpmha_unit_tests = \
	tests/unit/test_attr \
	tests/unit/test_object \
	tests/unit/test_store \
	tests/unit/test_conf \
	tests/unit/test_common \
	tests/unit/test_pubkey \
	tests/unit/test_token
if HAVE_CMOCKA
check_PROGRAMS += $(tpmha_unit_tests)
TESTS += $(tpmha_unit_tests)
endif
EXTRA_DIST += tests/unit/unit.h tests/unit/keys.h tests/unit/mock_tpm.h

tpmha_unit_cflags = $(AM_CFLAGS) $(CMOCKA_CFLAGS)
tpmha_unit_ldadd = libtpmha-core.la $(CMOCKA_LIBS) $(CRYPTO_LIBS)

tests_unit_test_attr_SOURCES = tests/unit/test_attr.c
tests_unit_test_attr_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_attr_LDADD = $(tpmha_unit_ldadd)
tests_unit_test_object_SOURCES = tests/unit/test_object.c
tests_unit_test_object_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_object_LDADD = $(tpmha_unit_ldadd)
tests_unit_test_store_SOURCES = tests/unit/test_store.c
tests_unit_test_store_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_store_LDADD = $(tpmha_unit_ldadd) $(SQLITE_LIBS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c
tests_unit_test_conf_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_conf_LDADD = $(tpmha_unit_ldadd)
tests_unit_test_common_SOURCES = tests/unit/test_common.c
tests_unit_test_common_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_common_LDADD = $(tpmha_unit_ldadd)
tests_unit_test_pubkey_SOURCES = tests/unit/test_pubkey.c
tests_unit_test_pubkey_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_pubkey_LDADD = $(tpmha_unit_ldadd)
# mock_tpm.c defines every symbol of tpm/backend.c, so the linker never takes
# backend.o (nor the TPM 2.0 backend) from the convenience library.
tests_unit_test_token_SOURCES = tests/unit/test_token.c tests/unit/mock_tpm.c
tests_unit_test_token_CFLAGS = $(tpmha_unit_cflags)
tests_unit_test_token_LDADD = $(tpmha_unit_ldadd)
