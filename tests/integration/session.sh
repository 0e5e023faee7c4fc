#!/bin/bash
# Slots, tokens, sessions, login and PINs. Wrong PINs are entered on purpose: the
# TPM's dictionary-attack limit is raised first so they count without a lockout.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup --max-tries 1000
itest_exec p11_session
