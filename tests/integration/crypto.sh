#!/bin/bash
# Every mechanism at work, checked against OpenSSL, and the crypto functions' errors.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup
itest_exec p11_crypto
