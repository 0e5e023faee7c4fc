#!/bin/bash
# Library initialization and finalization, arguments, mutex callbacks, configuration.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup
itest_exec p11_init
