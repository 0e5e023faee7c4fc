#!/bin/bash
# Dictionary-attack protection of PINs, on a TPM of its own with a limit of 3.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup --max-tries 3
itest_exec p11_lockout
