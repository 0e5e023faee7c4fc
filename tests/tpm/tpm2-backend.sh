#!/bin/bash
# The TPM 2.0 backend against real emulated TPMs (tests/tpm/tpm2_backend_test.c),
# TAP on stdout:
#   A  a swtpm reached directly (3 object slots, no resource manager), restarted
#      once in the middle to prove the backend reconnects;
#   B  a fresh swtpm of its own, driven into dictionary-attack lockout;
#   C  a swtpm behind tpm2-abrmd, when tests/lib/tpmenv.sh can start one.
# TPMHA_TPM2_BENCH=N also times N operations against raw ESYS (tests/tpm/tpm2_bench).
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}

# Called back by the test program: kill the swtpm of DIR and start it again on the
# same port with the same state, as after a crash of the TPM's host process.
if [ "${1:-}" = --restart ]; then
	dir=$2 port=$3
	old=$(cat "$dir/swtpm.pid")
	kill "$old" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$old" 2>/dev/null || break
		sleep 0.05
	done
	for _ in $(seq 50); do
		rm -f "$dir/swtpm.pid"
		if swtpm socket --tpm2 --tpmstate dir="$dir/state" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--pid file="$dir/swtpm.pid" --log file="$dir/swtpm.log" --daemon \
			2>>"$dir/swtpm.err"; then
			# swtpm writes its pid file without a newline; the list needs one
			echo "$(cat "$dir/swtpm.pid")" >>"$TPMENV_DIR/pids"
			exit 0
		fi
		sleep 0.1 # the port may linger a moment
	done
	exit 1
fi

. "$top_srcdir/tests/lib/tpmenv.sh"
tpmenv_init

if ! tpmenv_start_tpm2 A || ! tpmenv_start_tpm2 B; then
	echo "Bail out! cannot start swtpm"
	exit 1
fi
export TPMENV_DIR

args=(--main "$A_TCTI" --restart "$0 --restart $A_DIR $A_PORT" --lockout "$B_TCTI")
if declare -F tpmenv_start_abrmd >/dev/null && command -v tpm2-abrmd >/dev/null; then
	if tpmenv_start_tpm2 C && tpmenv_start_abrmd C; then
		args+=(--rm "$C_TCTI")
	else
		echo "# tpm2-abrmd did not start: the resource-manager part is left out" >&2
	fi
fi

"$top_builddir/tests/tpm/tpm2_backend_test" "${args[@]}"
status=$?

if [ -n "${TPMHA_TPM2_BENCH:-}" ]; then
	tpmenv_start_tpm2 D && "$top_builddir/tests/tpm/tpm2_bench" "$D_TCTI" "$TPMHA_TPM2_BENCH" | sed 's/^/# /'
fi
exit $status
