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
out=$TPMENV_DIR/demo-ha.out
"$top/tests/demo-ha.sh" >"$out" 2>&1 </dev/null
st=$?
steps=0
while IFS= read -r line; do
	text=${line#*] }
	case $line in
	"["*"] "*" ... ok"*)
		steps=$((steps + 1))
		note=${text#* ... ok}
		tap_ok "demo: ${text%% ... ok*}${note:+ }$note" ;;
	"["*"] "*" ... FAILED"*)
		tap_notok "demo: ${text%% ... FAILED*}" "$(sed -n '/^------ last lines/,$p' "$out")" ;;
	esac
done <"$out"
total=$(sed -n 's/^\[ *[0-9]*\/\([0-9]*\)\].*/\1/p' "$out" | head -1)
[ -n "$total" ] && [ "$steps" -eq "$total" ]
tap_result $? "every one of the demo's ${total:-?} steps ran and passed ($steps)"
grep -q '^tpmha HA demo: SUCCESS' "$out" && [ $st -eq 0 ]
tap_result $? "the demo ends with its success line and status 0 (status $st)" "$(tail -n 5 "$out")"
tap_finish
