#!/usr/bin/env bash
# ./quickstart demo's story (tests/demo.sh) as a test, so it cannot rot: every
# narrated step becomes a TAP result, and the story must end with its success line.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"

tpmenv_init
tap_init
tap_demo "$TPMENV_DIR/demo.out" "tpmha demo: SUCCESS" "$top/tests/demo.sh"
tap_finish
