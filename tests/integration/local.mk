# tests/integration: PKCS#11 conformance against swtpm. Each NAME.sh starts its own
# TPM through tests/lib/tpmenv.sh (itest.sh) and runs one program that dlopens
# $TPMHA_MODULE like any application; programs link only libcrypto (to check results
# in software) and libdl, never the module's code.
tpmha_integration_programs = \
	tests/integration/p11_init \
	tests/integration/p11_session \
	tests/integration/p11_objects \
	tests/integration/p11_keys \
	tests/integration/p11_crypto \
	tests/integration/p11_lockout \
	tests/integration/p11_threads \
	tests/integration/p11_fork \
	tests/integration/p11_multiproc
tpmha_integration_tests = \
	tests/integration/init.sh \
	tests/integration/session.sh \
	tests/integration/objects.sh \
	tests/integration/keys.sh \
	tests/integration/crypto.sh \
	tests/integration/lockout.sh \
	tests/integration/threads.sh \
	tests/integration/fork.sh \
	tests/integration/multiproc.sh

check_PROGRAMS += $(tpmha_integration_programs)
TESTS += $(tpmha_integration_tests)
dist_noinst_SCRIPTS += $(tpmha_integration_tests)
EXTRA_DIST += tests/integration/itest.sh

check_LTLIBRARIES += tests/integration/libp11t.la
tests_integration_libp11t_la_SOURCES = tests/integration/p11t.c tests/integration/p11t.h \
	common/ckr.c common/ckr.h
tests_integration_libp11t_la_LIBADD = $(CRYPTO_LIBS) $(DL_LIBS)
tpmha_integration_ldadd = tests/integration/libp11t.la $(CRYPTO_LIBS) $(DL_LIBS)

tests_integration_p11_init_SOURCES = tests/integration/p11_init.c
tests_integration_p11_init_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_session_SOURCES = tests/integration/p11_session.c
tests_integration_p11_session_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_objects_SOURCES = tests/integration/p11_objects.c
tests_integration_p11_objects_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_keys_SOURCES = tests/integration/p11_keys.c
tests_integration_p11_keys_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_crypto_SOURCES = tests/integration/p11_crypto.c
tests_integration_p11_crypto_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_lockout_SOURCES = tests/integration/p11_lockout.c
tests_integration_p11_lockout_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_threads_SOURCES = tests/integration/p11_threads.c
tests_integration_p11_threads_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_fork_SOURCES = tests/integration/p11_fork.c
tests_integration_p11_fork_LDADD = $(tpmha_integration_ldadd)
tests_integration_p11_multiproc_SOURCES = tests/integration/p11_multiproc.c
tests_integration_p11_multiproc_LDADD = $(tpmha_integration_ldadd)

# Every unit, backend, integration and migration test again under AddressSanitizer+UBSan,
# in a build of its own ($(top_builddir)/_asan): `make check-sanitizers`. Not part of
# `make check`. The interop tests are not among them: the clients they drive
# (pkcs11-tool, openssl, gnutls) are not built with ASan and cannot load an ASan module.
tpmha_backend_sanitizer_tests = tests/tpm/test_rsa_pad tests/tpm/test_tpm2_crypto \
	tests/tpm/tpm2-backend.sh tests/tpm/tpm2-migrate.sh tests/tpm12/tpm12-backend.sh
dist_noinst_SCRIPTS += tests/integration/sanitizers.sh
check-sanitizers:
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		$(SHELL) $(abs_top_srcdir)/tests/integration/sanitizers.sh
clean-sanitizers:
	rm -rf $(abs_top_builddir)/_asan
print-sanitizer-tests:
	@echo $(tpmha_unit_tests) $(tpmha_backend_sanitizer_tests) $(tpmha_integration_tests) \
		$(tpmha_migration_tests)
.PHONY: check-sanitizers clean-sanitizers print-sanitizer-tests
