#!/bin/bash
# Objects: create, read, change, copy, destroy, find; visibility rules.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup
itest_exec p11_objects
