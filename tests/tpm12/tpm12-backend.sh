#!/bin/bash
# The TPM 1.2 backend against real emulated TPM 1.2s (tests/tpm12/tpm12_backend_test.c),
# TAP on stdout. Four units, each swtpm (TPM 1.2) + its own tcsd, owned with the
# well-known secrets (tests/lib/tpmenv.sh):
#   A  basics, seals, keys, import; its tcsd is stopped and restarted mid-way;
#   B  approved destination of A's keys;  C  a unit the MA did not approve;
#   L  a TPM of its own, driven into dictionary-attack lockout.
# TPMHA_TPM12_BENCH=N also times N signatures/decryptions against TSPI directly, and
# the export/import of 8 keys.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}

# Called back by the test program: stop or start the tcsd of DIR (same port, config
# and state), as after a crash or a restart of the daemon.
if [ "${1:-}" = --tcsd ]; then
	what=$2 dir=$3 swtpm_port=$4 tcsd_port=$5
	if [ "$what" = stop ]; then
		pid=$(cat "$dir/tcsd.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || exit 0
			sleep 0.05
		done
		kill -9 "$pid" 2>/dev/null
		exit 0
	fi
	for _ in $(seq 50); do
		TCSD_TCP_DEVICE_PORT=$swtpm_port TCSD_TCP_DEVICE_HOSTNAME=127.0.0.1 \
			tcsd -f -e -c "$dir/tcsd.conf" </dev/null >>"$dir/tcsd.log" 2>&1 &
		pid=$!
		echo "$pid" >>"$TPMENV_DIR/pids"
		echo "$pid" >"$dir/tcsd.pid"
		for _ in $(seq 60); do
			if (exec 3<>"/dev/tcp/127.0.0.1/$tcsd_port") 2>/dev/null; then
				exit 0
			fi
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		sleep 0.2 # the port may linger a moment
	done
	exit 1
fi

if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP tcsd must run as root (it drops to the tss user); run as root (CI does)"
	exit 0
fi
for tool in swtpm tcsd tpm_createek tpm_takeownership; do
	if ! command -v "$tool" >/dev/null; then
		echo "1..0 # SKIP $tool is not installed (./quickstart installs it)"
		exit 0
	fi
done

# a leak of libtspi's own under LeakSanitizer (see the file)
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$top_srcdir/tests/tpm12/lsan.supp"

. "$top_srcdir/tests/lib/tpmenv.sh"
tpmenv_init
export TPMENV_DIR

for unit in A B C L; do
	if ! tpmenv_start_tpm12 "$unit"; then
		echo "Bail out! cannot start a TPM 1.2 (swtpm + tcsd) for unit $unit"
		exit 1
	fi
	mkdir -p "$TPMENV_DIR/store/$unit"
done
echo "$A_TCSD_PID" >"$A_DIR/tcsd.pid"

args=(--a "$A_TCSD_PORT" --b "$B_TCSD_PORT" --c "$C_TCSD_PORT" --lock "$L_TCSD_PORT"
	--store "$TPMENV_DIR/store" --log "$TPMENV_DIR/tpmha.log"
	--stop-a "$0 --tcsd stop $A_DIR $A_PORT $A_TCSD_PORT"
	--start-a "$0 --tcsd start $A_DIR $A_PORT $A_TCSD_PORT")
[ -n "${TPMHA_TPM12_BENCH:-}" ] && args+=(--bench "$TPMHA_TPM12_BENCH")

"$top_builddir/tests/tpm12/tpm12_backend_test" "${args[@]}"
status=$?
if [ $status -ne 0 ]; then
	echo "# last lines of the module's log:"
	tail -n 30 "$TPMENV_DIR/tpmha.log" | sed 's/^/# /'
fi
exit $status
