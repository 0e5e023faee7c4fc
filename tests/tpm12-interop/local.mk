# tests/tpm12-interop: real PKCS#11 clients against a token on a TPM 1.2 unit (swtpm in
# TPM 1.2 mode + its own tcsd, tests/lib/p11env.sh `p11env_setup --tpm12`): what the
# TPM 2.0 interop set (tests/interop) does with RSA-2048, and what a TPM 1.2 cannot
# do refused. tcsd needs root: each script SKIPs without it, except under CI.
tpm12_interop_tests = \
	tests/tpm12-interop/pkcs11-tool.sh \
	tests/tpm12-interop/openssl-engine.sh \
	tests/tpm12-interop/gnutls.sh \
	tests/tpm12-interop/demo.sh

TESTS += $(tpm12_interop_tests)
dist_noinst_SCRIPTS += $(tpm12_interop_tests)
# demo.sh runs the story ./quickstart demo --tpm12 tells: tests/demo-ha.sh --tpm12,
# shipped with tests/cli (tests/cli/local.mk).

# robust.sh: PINs, lockout and tcsd going away under an open session, through PKCS#11
# (p11_tpm12_robust dlopens the module like any application).
TESTS += tests/tpm12-interop/robust.sh
dist_noinst_SCRIPTS += tests/tpm12-interop/robust.sh
check_PROGRAMS += tests/tpm12-interop/p11_tpm12_robust
tests_tpm12_interop_p11_tpm12_robust_SOURCES = tests/tpm12-interop/p11_tpm12_robust.c
tests_tpm12_interop_p11_tpm12_robust_LDADD = $(tpmha_integration_ldadd)
