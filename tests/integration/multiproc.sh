#!/bin/bash
# Several processes on one token behind tpm2-abrmd: what one does the others see,
# and four at once with no error. Some PINs are wrong on purpose if the module
# misses a PIN change: the TPM's dictionary-attack limit is raised first.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup --abrmd --max-tries 1000
itest_exec p11_multiproc
