#!/usr/bin/env bash
# ./quickstart demo --tpm12 (tests/demo-ha.sh --tpm12: two TPM 1.2 units, an MA in
# SoftHSM, the per-key approval, replicate, kill unit A's TPM and tcsd, decrypt, sign
# and serve TLS on unit B) as a test, so it cannot rot: every narrated step becomes a
# TAP result, and the story must end with its success line. Needs root (tcsd): SKIPs
# otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

p11env_tpm12_or_skip
tpmenv_init
tap_init
tap_demo "$TPMENV_DIR/demo-tpm12.out" "tpmha TPM 1.2 HA demo: SUCCESS" "$top/tests/demo-ha.sh" --tpm12
tap_finish
