# tests/interop: real PKCS#11 clients (pkcs11-tool, OpenSSL through libp11's
# pkcs11 engine, GnuTLS, p11-kit) against the module, each on its own emulated
# TPM (tests/lib/p11env.sh). P11_TEST_MODULE=softhsm runs the same scripts
# against SoftHSM, which is how the scripts themselves are checked.
# emulators.sh checks the test environment (tests/lib/tpmenv.sh) itself.
interop_tests = \
	tests/interop/emulators.sh \
	tests/interop/pkcs11-tool.sh \
	tests/interop/openssl-engine.sh \
	tests/interop/gnutls.sh \
	tests/interop/p11-kit.sh \
	tests/interop/threads.sh \
	tests/interop/multiprocess.sh \
	tests/interop/demo.sh

TESTS += $(interop_tests)
dist_noinst_SCRIPTS += $(interop_tests)
EXTRA_DIST += tests/lib/tpmenv.sh tests/lib/tap.sh tests/lib/p11env.sh
# The story ./quickstart demo tells; tests/interop/demo.sh runs it as a test.
dist_noinst_SCRIPTS += tests/demo.sh

# Threads and processes hammering one token (threads.sh, multiprocess.sh).
check_PROGRAMS += tests/interop/p11stress
tests_interop_p11stress_SOURCES = tests/interop/p11stress.c
tests_interop_p11stress_LDADD = $(DL_LIBS) $(AX_PTHREAD_LIBS)
