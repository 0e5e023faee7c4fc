#!/bin/bash
# Many threads, concurrent sessions, and more keys than the TPM's object slots, on
# the direct swtpm TCTI (no resource manager).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup
itest_exec p11_threads
