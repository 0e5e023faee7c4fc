#!/usr/bin/env bash
# ./quickstart demo's story (tests/demo.sh) as a test, so it cannot rot: every
# narrated step becomes a TAP result, and the story must end with its success line.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"

tpmenv_init
tap_init
out=$TPMENV_DIR/demo.out
"$top/tests/demo.sh" >"$out" 2>&1 </dev/null
st=$?
while IFS= read -r line; do
	text=${line#*] }
	case $line in
	"["*"] "*" ... ok"*)
		note=${text#* ... ok}
		tap_ok "demo: ${text%% ... ok*}${note:+ }$note" ;;
	"["*"] "*" ... FAILED"*)
		tap_notok "demo: ${text%% ... FAILED*}" "$(sed -n '/^------ last lines/,$p' "$out")" ;;
	esac
done <"$out"
grep -q '^tpmha demo: SUCCESS' "$out" && [ $st -eq 0 ]
tap_result $? "the demo ends with its success line and status 0 (status $st)" "$(tail -n 5 "$out")"
tap_finish
