#!/usr/bin/env bash
# ./quickstart demo's failover story (tests/demo-ha.sh: two units, an MA in SoftHSM,
# the approval request, replicate, kill unit A's TPM, decrypt, sign and serve TLS on
# unit B) as a test, so it cannot rot: every narrated step becomes a TAP result, and
# the story must end with its success line.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"

tpmenv_init
tap_init
tap_demo "$TPMENV_DIR/demo-ha.out" "tpmha HA demo: SUCCESS" "$top/tests/demo-ha.sh"
tap_finish
