#!/usr/bin/env bash
# The test environment itself (tests/lib/tpmenv.sh): an emulated TPM 2.0 alone
# and behind tpm2-abrmd on a private D-Bus, two units on one bus, a TPM 1.2
# with its own tcsd, stop by PID, and nothing left running afterwards.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"

tpmenv_init
tap_init

for tool in swtpm tpm2_getrandom tpm2_getcap tpm2-abrmd dbus-daemon dbus-send tcsd \
	tpm_version tpm_getpubek tpm_createek tpm_takeownership; do
	command -v "$tool" >/dev/null || tap_notok "$tool is installed" "install the test dependencies: ./quickstart check does"
done

# --- TPM 2.0, direct ----------------------------------------------------------
if tpmenv_start_tpm2 A 2>"$TPMENV_DIR/startA.err"; then
	tap_ok "swtpm (TPM 2.0) A starts on 127.0.0.1:$A_PORT"
else
	tap_notok "swtpm (TPM 2.0) A starts" "$(cat "$TPMENV_DIR/startA.err")"
fi
tap_expect "tpm2-tools reach A through its swtpm TCTI" '^[0-9a-f]{32}$' \
	tpm2_getrandom -T "$A_TCTI" --hex 16
tap_expect "A is a TPM 2.0 (TPM2_PT_FAMILY_INDICATOR 2.0)" 'value: "2.0"' \
	tpm2_getcap -T "$A_TCTI" properties-fixed

# --- tpm2-abrmd on a private bus ----------------------------------------------
if tpmenv_start_abrmd A 2>"$TPMENV_DIR/abrmdA.err"; then
	tap_ok "tpm2-abrmd for A comes up on a private D-Bus"
else
	tap_notok "tpm2-abrmd for A comes up on a private D-Bus" "$(cat "$TPMENV_DIR/abrmdA.err")"
fi
case $A_TCTI,${DBUS_SESSION_BUS_ADDRESS:-} in
tabrmd:bus_name=*,bus_type=session,unix:path=$TPMENV_DIR/*)
	tap_ok "A_TCTI is the tabrmd TCTI and DBUS_SESSION_BUS_ADDRESS the private bus" ;;
*)
	tap_notok "A_TCTI is the tabrmd TCTI and DBUS_SESSION_BUS_ADDRESS the private bus" \
		"A_TCTI=$A_TCTI" "DBUS_SESSION_BUS_ADDRESS=${DBUS_SESSION_BUS_ADDRESS:-}" ;;
esac
# Several processes at once: what swtpm's single socket cannot do.
par() {
	local i pids=() st=0
	for i in 1 2 3 4; do
		(for _ in 1 2 3 4 5; do tpm2_getrandom -T "$A_TCTI" --hex 8 || exit 1; echo; done) \
			>"$TPMENV_DIR/par$i.out" 2>&1 &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i" || st=1; done
	cat "$TPMENV_DIR"/par?.out
	[ $st -eq 0 ] && [ "$(grep -cE '^[0-9a-f]{16}$' "$TPMENV_DIR"/par?.out | awk -F: '{s+=$2} END {print s}')" -eq 20 ]
}
tap_run "4 processes use A at once through tpm2-abrmd (20 of 20 calls)" par

tpmenv_start_tpm2 B 2>/dev/null && tpmenv_start_abrmd B 2>"$TPMENV_DIR/abrmdB.err"
tap_result $? "a second unit B gets its own tpm2-abrmd on the same bus" "$(cat "$TPMENV_DIR/abrmdB.err")"
tap_expect "A's resource manager still answers after B's started" '^[0-9a-f]{16}$' \
	tpm2_getrandom -T "$A_TCTI" --hex 8
tap_expect "B answers through its resource manager" '^[0-9a-f]{16}$' \
	tpm2_getrandom -T "$B_TCTI" --hex 8

tpmenv_config B
tap_expect "tpmenv_config writes B's tcti and store into B_CONF" \
	"^tcti = tabrmd:bus_name=$B_BUS_NAME,bus_type=session\$" cat "$B_CONF"

# --- TPM 1.2 with tcsd ------------------------------------------------------------
# tcsd starts as root and drops to the tss user; it cannot run otherwise.
if [ "$(id -u)" -ne 0 ]; then
	for t in "TPM 1.2 C: swtpm + tcsd up, EK created, owned" "tpm_version through tcsd" \
		"tpm_getpubek -z" "tcsd on loopback" "tcsd as tss" "tpmenv_stop C" "stopped TPM 1.2 unreachable"; do
		tap_skip "$t" "tcsd needs root (running as $(id -un))"
	done
	TPM12=
else
	TPM12=1
	t0=$SECONDS
	if tpmenv_start_tpm12 C 2>"$TPMENV_DIR/startC.err"; then
		tap_ok "TPM 1.2 C: swtpm + tcsd on :$C_TCSD_PORT, EK created, owned with well-known secrets ($((SECONDS - t0)) s)"
	else
		tap_notok "TPM 1.2 C: swtpm + tcsd up, EK created, owned" "$(cat "$TPMENV_DIR/startC.err")"
	fi
	tap_expect "tpm_version sees a TPM 1.2 through C's tcsd" 'TPM 1\.2 Version Info' \
		env TSS_TCSD_PORT="$C_TCSD_PORT" tpm_version
	tap_expect "tpm_getpubek -z (owner auth = well-known secret) reads C's EK" \
		'Key Size: +2048 bits' env TSS_TCSD_PORT="$C_TCSD_PORT" tpm_getpubek -z
	loopback_only() {
		ss -Hltn "( sport = :$C_TCSD_PORT )" | tee "$TPMENV_DIR/tcsd.listen"
		grep -q "127\.0\.0\.1:$C_TCSD_PORT" "$TPMENV_DIR/tcsd.listen" &&
			! grep -Eq "(0\.0\.0\.0|\*|\[::\]):$C_TCSD_PORT" "$TPMENV_DIR/tcsd.listen"
	}
	tap_run "tcsd listens on loopback only" loopback_only
	tap_expect "tcsd runs as the tss user" '^tss$' ps -o user= -p "$C_TCSD_PID"
fi

# --- stop --------------------------------------------------------------------------
if [ -n "$TPM12" ]; then
	tpmenv_stop C
	! tpmenv_alive "$C_PID" && ! tpmenv_alive "$C_TCSD_PID"
	tap_result $? "tpmenv_stop C ends its swtpm and tcsd"
	tap_expect_fail "a stopped TPM 1.2 is unreachable" '.' env TSS_TCSD_PORT="$C_TCSD_PORT" tpm_version
fi
tpmenv_stop A
! tpmenv_alive "$A_PID" && ! tpmenv_alive "$A_ABRMD_PID"
tap_result $? "tpmenv_stop A ends its swtpm and tpm2-abrmd"
tap_expect "B still works after A died" '^[0-9a-f]{16}$' tpm2_getrandom -T "$B_TCTI" --hex 8

# --- nothing left over ----------------------------------------------------------------
# A child test sets up every kind of emulator and exits; afterwards none of
# its processes may remain (its PIDs, or anything naming its directory).
child() {
	bash -c '
		. "$1/tests/lib/tpmenv.sh"
		tpmenv_init
		tpmenv_start_tpm2 X && tpmenv_start_abrmd X || exit 1
		[ "$(id -u)" -ne 0 ] || tpmenv_start_tpm12 Y || exit 1
		echo "DIR=$TPMENV_DIR"
		echo "PIDS=$(tr "\n" " " <"$TPMENV_DIR/pids")"
		exit 0' child "$top"
}
child >"$TPMENV_DIR/child.out" 2>&1
st=$?
cdir=$(sed -n 's/^DIR=//p' "$TPMENV_DIR/child.out")
cpids=$(sed -n 's/^PIDS=//p' "$TPMENV_DIR/child.out")
if [ $st -ne 0 ] || [ -z "$cpids" ]; then
	tap_notok "a child test starts swtpm, tpm2-abrmd, dbus-daemon, swtpm 1.2 and tcsd" "$(cat "$TPMENV_DIR/child.out")"
else
	tap_ok "a child test starts swtpm, tpm2-abrmd, dbus-daemon, swtpm 1.2 and tcsd ($(echo $cpids | wc -w) processes)"
fi
left=
for p in $cpids; do tpmenv_alive "$p" && left+="$(ps -o pid=,args= -p "$p")"$'\n'; done
for p in $(pgrep -f -- "$cdir/"); do left+="$(ps -o pid=,args= -p "$p")"$'\n'; done
[ -z "$left" ]
tap_result $? "no process of the child test survives its exit" "$left"
[ -n "$cdir" ] && [ ! -e "$cdir" ]
tap_result $? "the child's temporary directory is removed"
tap_diag "swtpm/tcsd/tpm2-abrmd running now (other tests may own some):" \
	"$(pgrep -a -x swtpm; pgrep -a -x tcsd; pgrep -a -x tpm2-abrmd)"

tap_finish
