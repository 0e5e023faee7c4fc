#!/usr/bin/env bash
# Robustness of a TPM 1.2 token through PKCS#11, on a TPM 1.2 unit of its own (swtpm +
# its own tcsd): p11_tpm12_robust (wrong PINs counted in C_GetTokenInfo's flags, tcsd
# restarted under an open logged-in session, tcsd not running at C_Initialize, the
# TPM's dictionary-attack lockout and its end), then what pkcs11-tool and the tpmha
# CLI say while tcsd is down. tcsd is stopped and started by PID (tpmenv.sh). Needs
# root (tcsd): SKIPs otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/p11env.sh"

PROG=$build/tests/tpm12-interop/p11_tpm12_robust
TPMHA=${TPMHA_CLI:-$build/tpmha}
MODULE=${TPMHA_MODULE:-$build/.libs/tpmha-pkcs11.so}

p11env_tpm12_or_skip
tpmenv_init
tap_init

missing=
for f in "$PROG" "$TPMHA" "$MODULE"; do
	[ -e "$f" ] || missing+=" $f"
done
command -v tpm_resetdalock >/dev/null || missing+=" tpm_resetdalock"
command -v pkcs11-tool >/dev/null || missing+=" pkcs11-tool"
if [ -n "$missing" ]; then
	tap_notok "the programs this test needs are there" "missing:$missing"
	tap_finish
fi
if ! tpmenv_start_tpm12 R 2>"$TPMENV_DIR/start.err"; then
	tap_notok "a TPM 1.2 unit starts (swtpm + tcsd)" "$(cat "$TPMENV_DIR/start.err")"
	tap_finish
fi
tpmenv_config R
export TPMHA_CONF=$R_CONF TPMHA_MODULE=$MODULE
# for the program's callbacks: tpmenv_stop_tcsd/tpmenv_start_tcsd in another shell
export TPMENV_DIR R_DIR R_PORT
cb=". '$top/tests/lib/tpmenv.sh' &&"
export ROBUST_TCSD=127.0.0.1:$R_TCSD_PORT ROBUST_LOG=$R_DIR/tpmha.log
export ROBUST_STOP_TCSD="bash -c \"$cb tpmenv_stop_tcsd R\""
export ROBUST_START_TCSD="bash -c \"$cb tpmenv_start_tcsd R\""
export ROBUST_RESET_DA="TSS_TCSD_PORT=$R_TCSD_PORT tpm_resetdalock -z >/dev/null"

# The program's TAP, said again here (numbered with the rest; its TODOs stay TODOs):
# a crash, a bail-out or a short plan is a failure.
relay() {
	local line n=0 plan= st out=$TPMENV_DIR/robust.tap
	"$@" >"$out" 2>"$TPMENV_DIR/robust.err" </dev/null
	st=$?
	while IFS= read -r line; do
		case $line in
		*" # TODO "*)
			n=$((n + 1))
			tap_todo "${line#* # TODO }"
			line=${line%% # TODO *}
			case $line in
			"ok "*) tap_ok "${line#ok * - }" ;;
			*) tap_notok "${line#not ok * - }" ;;
			esac
			;;
		"ok "*" # SKIP"*) n=$((n + 1)); line=${line#ok * - }; tap_skip "${line%% # SKIP*}" "${line#* # SKIP }" ;;
		"ok "*) n=$((n + 1)); tap_ok "${line#ok * - }" ;;
		"not ok "*) n=$((n + 1)); tap_notok "${line#not ok * - }" ;;
		"1.."*) plan=${line#1..} ;;
		"Bail out!"*) tap_notok "p11_tpm12_robust: $line" ;;
		"# "[0-9]*" of "[0-9]*" failed") ;; # its count; ours is in our TAP
		*) echo "$line" ;;
		esac
	done <"$out"
	if [ $st -ne 0 ] || [ "$plan" != "$n" ]; then
		tap_notok "p11_tpm12_robust ran to its end (status $st, plan ${plan:-none}, $n results)" \
			"$(tail -n 5 "$TPMENV_DIR/robust.err")" "last lines of the module's log:" \
			"$(tail -n 15 "$R_DIR/tpmha.log")"
	fi
}
relay "$PROG"
tpmenv_alive "$(cat "$R_DIR/tcsd.pid")"
tap_result $? "the unit's tcsd runs again (PID $(cat "$R_DIR/tcsd.pid"))"

# --- clients while tcsd is down -----------------------------------------------------------
tap_run "tcsd stopped again (by PID)" tpmenv_stop_tcsd R
tap_expect_fail "pkcs11-tool -L: C_Initialize fails, CKR_DEVICE_ERROR" 'C_Initialize.*CKR_DEVICE_ERROR' \
	pkcs11-tool --module "$MODULE" -L
tap_expect "the module's log names the tcsd it could not reach" \
	"cannot reach tcsd at 127\\.0\\.0\\.1:$R_TCSD_PORT" cat "$R_DIR/tpmha.log"
tap_expect_fail "tpmha status: the module cannot start (CKR_DEVICE_ERROR)" 'cannot start the tpmha module.*CKR_DEVICE_ERROR' \
	"$TPMHA" status
tap_expect_fail "tpmha status names what to check on a TPM 1.2 unit: tcsd" 'tcsd' "$TPMHA" status
tap_run "tcsd started again" tpmenv_start_tcsd R
tap_expect "tpmha status works again: TPM 1.2, tcsd address, no lockout" \
	"tcsd: +127\\.0\\.0\\.1:$R_TCSD_PORT" "$TPMHA" status
tap_expect "tpmha status: the dictionary-attack count is back to 0" 'lockout: +0 of [0-9]+ failed tries' cat "$TAP_OUT"

tap_finish
