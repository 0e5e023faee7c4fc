#!/bin/bash
# Mechanisms as the TPM answers them, key pair generation, private key import.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup
# What the TPM says about its curves, asked before the module holds the TPM, for
# comparing with C_GetMechanismInfo.
tpm2_getcap ecc-curves >"$ITEST_DIR/ecc-curves.txt" 2>&1 || rm -f "$ITEST_DIR/ecc-curves.txt"
itest_exec p11_keys
