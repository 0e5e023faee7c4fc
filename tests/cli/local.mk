# tests/cli: the `tpmha` admin CLI, every command against real swtpms
# (tests/lib/tpmenv.sh), checked with pkcs11-tool and openssl:
#   cli.sh      tokens, keys, certificates, PINs, status on one unit
#   migrate.sh  domains, units, approvals, replicate/receive between three units,
#               the migration authority in SoftHSM (RSA and EC) and in a PEM file
#   demo-ha.sh  ./quickstart demo's failover story (tests/demo-ha.sh) as a test; the
#               same script tells it on TPM 1.2 for tests/tpm12-interop/demo.sh
cli_tests = tests/cli/cli.sh tests/cli/migrate.sh tests/cli/demo-ha.sh
TESTS += $(cli_tests)
dist_noinst_SCRIPTS += $(cli_tests) tests/cli/ptyrun.py tests/demo-ha.sh
EXTRA_DIST += tests/cli/common.sh
