# tests/cli: the `tpmha` admin CLI, every command against a real swtpm
# (tests/lib/tpmenv.sh), checked with pkcs11-tool and openssl.
TESTS += tests/cli/cli.sh
dist_noinst_SCRIPTS += tests/cli/cli.sh tests/cli/ptyrun.py
