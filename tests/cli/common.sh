# Helpers for the CLI tests (source from bash, after tests/lib/tap.sh and tap_init).
#
#   check STATUS DESC ERE CMD...   CMD exits with STATUS and its output (stdout and
#                                  stderr) matches ERE (empty: anything); $OUT is the
#                                  output file afterwards
#   check_not DESC ERE             the last check's output does not match ERE
#   check_json DESC                the last check's stdout (only) parses as JSON;
#                                  $JSON is that stdout's file
#   json_get FILE EXPR             python3: print EXPR of the JSON in FILE as `j`
#                                  (json_get out.json 'j["keys"]')

check() {
	local want=$1 desc=$2 ere=$3 st
	shift 3
	OUT=$TAP_LOGDIR/step-$((TAP_N + 1)).log
	JSON=$TAP_LOGDIR/step-$((TAP_N + 1)).stdout
	"$@" >"$JSON" 2>"$OUT.err" </dev/null
	st=$?
	cat "$JSON" "$OUT.err" >"$OUT"
	if [ "$st" -ne "$want" ]; then
		tap_notok "$desc" "exit status $st, expected $want" "command: $(tap__cmdline "$@")"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	if [ -n "$ere" ] && ! grep -Eq -- "$ere" "$OUT"; then
		tap_notok "$desc" "output does not match /$ere/" "command: $(tap__cmdline "$@")"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	tap_ok "$desc"
}

check_not() {
	local desc=$1 ere=$2
	if grep -Eq -- "$ere" "$OUT"; then
		tap_notok "$desc" "output matches /$ere/"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	tap_ok "$desc"
}

check_json() {
	if python3 -m json.tool "$JSON" >/dev/null 2>&1; then
		tap_ok "$1"
	else
		tap_notok "$1" "stdout is not JSON"
		head -n 20 "$JSON" | tap_diag
		return 1
	fi
}

json_get() {
	python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
