# TAP output for shell tests (automake's tap-driver.sh reads it). Source from bash.
#
#   tap_init                     start counting (call once, after tpmenv_init if used)
#   tap_ok DESC                  ok N - DESC
#   tap_notok DESC [DIAG...]     not ok N - DESC, then each DIAG as "# " lines
#   tap_result STATUS DESC [DIAG...]  ok if STATUS is 0
#   tap_skip DESC REASON         ok N - DESC # SKIP REASON (counted as SKIP, never silent)
#   tap_todo REASON              the next result carries "# TODO REASON": a known gap of
#                                the module under test (automake: XFAIL if it fails, and
#                                XPASS — a failure — once it passes, so the TODO is removed)
#   tap_diag TEXT...             "# TEXT" lines (stdin if no TEXT)
#   tap_run DESC CMD...          ok if CMD exits 0; its output goes to a step log,
#                                whose tail becomes the diagnostic on failure
#   tap_expect DESC ERE CMD...   ok if CMD exits 0 and its output matches ERE
#   tap_expect_fail DESC ERE CMD...  ok if CMD fails and its output matches ERE
#   tap_demo OUT SUCCESS CMD...  run a narrated demo (lines "[i/N] step ... ok|FAILED")
#                                with its output in OUT: one result per step, then
#                                all N steps ran, and it ended with the line SUCCESS
#                                (a prefix) and status 0
#   tap_finish                   print the plan and exit 0 (failures are in the TAP)
#
# The plan comes last, so a test need not count in advance. A script that
# stops before tap_finish reports "not ok - ... stopped early" and the harness
# sees its non-zero status as an ERROR too.
# After tap_run/tap_expect*, $TAP_OUT is the step's output file.

tap_init() {
	TAP_N=0
	TAP_FAILED=0
	TAP_FINISHED=
	TAP_TODO=
	TAP_NAME=$(basename "$0")
	TAP_LOGDIR=${TPMENV_DIR:-${TMPDIR:-/tmp}}/tap
	mkdir -p "$TAP_LOGDIR"
	if declare -F tpmenv_atexit >/dev/null && [ -n "${TPMENV_DIR:-}" ]; then
		tpmenv_atexit tap__atexit
	else
		trap tap__atexit EXIT
	fi
}

tap__atexit() {
	local rc=${TPMENV_EXIT_STATUS:-$?}
	[ -n "$TAP_FINISHED" ] && return 0
	TAP_FINISHED=1
	tap_notok "$TAP_NAME stopped early (status $rc)"
	echo "1..$TAP_N"
}

tap_diag() {
	if [ $# -eq 0 ]; then
		sed 's/^/# /'
	else
		printf '%s\n' "$@" | sed 's/^/# /'
	fi
}

tap_todo() {
	TAP_TODO=$1
}

tap__directive() {
	if [ -n "${TAP_TODO:-}" ]; then
		echo " # TODO $TAP_TODO"
	fi
}

tap_ok() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1$(tap__directive)"
	TAP_TODO=
}

tap_notok() {
	local desc=$1
	shift
	TAP_N=$((TAP_N + 1))
	[ -n "${TAP_TODO:-}" ] || TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $desc$(tap__directive)"
	TAP_TODO=
	[ $# -gt 0 ] && tap_diag "$@"
	return 0
}

tap_result() {
	local st=$1
	shift
	if [ "$st" -eq 0 ]; then tap_ok "$1"; else tap_notok "$@"; fi
}

tap_skip() {
	TAP_N=$((TAP_N + 1))
	echo "ok $TAP_N - $1 # SKIP $2"
}

# The command line, quoted, for diagnostics.
tap__cmdline() {
	local a out=
	for a in "$@"; do out+="${out:+ }$(printf '%q' "$a")"; done
	echo "$out"
}

tap__fail_with_log() {
	local desc=$1 why=$2
	shift 2
	tap_notok "$desc" "$why" "command: $(tap__cmdline "$@")"
	tail -n "${TAP_DIAG_LINES:-25}" "$TAP_OUT" | tap_diag
}

tap__step() {
	TAP_OUT="$TAP_LOGDIR/step-$((TAP_N + 1)).log"
	"$@" >"$TAP_OUT" 2>&1 </dev/null
}

tap_run() {
	local desc=$1 st
	shift
	tap__step "$@"
	st=$?
	if [ $st -eq 0 ]; then
		tap_ok "$desc"
	else
		tap__fail_with_log "$desc" "exit status $st" "$@"
	fi
	return $st
}

tap_expect() {
	local desc=$1 ere=$2 st
	shift 2
	tap__step "$@"
	st=$?
	if [ $st -ne 0 ]; then
		tap__fail_with_log "$desc" "exit status $st" "$@"
		return 1
	fi
	if ! grep -Eq -- "$ere" "$TAP_OUT"; then
		tap__fail_with_log "$desc" "output does not match /$ere/" "$@"
		return 1
	fi
	tap_ok "$desc"
}

tap_expect_fail() {
	local desc=$1 ere=$2 st
	shift 2
	tap__step "$@"
	st=$?
	if [ $st -eq 0 ]; then
		tap__fail_with_log "$desc" "succeeded but should have failed" "$@"
		return 1
	fi
	if ! grep -Eq -- "$ere" "$TAP_OUT"; then
		tap__fail_with_log "$desc" "failed (status $st) without /$ere/ in its output" "$@"
		return 1
	fi
	tap_ok "$desc"
}

tap_demo() {
	local out=$1 success=$2 st steps=0 line text note total
	shift 2
	"$@" >"$out" 2>&1 </dev/null
	st=$?
	while IFS= read -r line; do
		text=${line#*] }
		case $line in
		"["*"] "*" ... ok"*)
			steps=$((steps + 1))
			note=${text#* ... ok}
			tap_ok "demo: ${text%% ... ok*}${note:+ }${note# }" ;;
		"["*"] "*" ... FAILED"*)
			tap_notok "demo: ${text%% ... FAILED*}" "$(sed -n '/^------ last lines/,$p' "$out")" ;;
		esac
	done <"$out"
	total=$(sed -n 's/^\[ *[0-9]*\/\([0-9]*\)\].*/\1/p' "$out" | head -1)
	[ -n "$total" ] && [ "$steps" -eq "$total" ]
	tap_result $? "every one of the demo's ${total:-?} steps ran and passed ($steps)"
	grep -q "^$success" "$out" && [ $st -eq 0 ]
	tap_result $? "the demo ends with its success line and status 0 (status $st)" "$(tail -n 5 "$out")"
}

tap_finish() {
	TAP_FINISHED=1
	[ $TAP_FAILED -gt 0 ] && echo "# $TAP_FAILED of $TAP_N failed"
	echo "1..$TAP_N"
	exit 0
}
