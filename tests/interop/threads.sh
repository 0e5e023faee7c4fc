#!/usr/bin/env bash
# Many threads in one process on one token, with a direct TCTI to swtpm (no
# resource manager) and more keys in use than swtpm has transient object
# slots (3): p11stress (threads with their own sessions signing with six keys,
# RSA signatures compared with a reference, ECDSA verified, objects created),
# and pkcs11-tool's --test-threads.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/p11env.sh"

tpmenv_init
tap_init

STRESS=$build/tests/interop/p11stress
if [ ! -x "$STRESS" ]; then
	tap_notok "p11stress is built" "missing $STRESS (make check builds it)"
	tap_finish
fi
if ! p11env_setup 2>"$TPMENV_DIR/setup.err"; then
	tap_notok "a token is initialized on the $P11_TEST_MODULE module" "$(cat "$TPMENV_DIR/setup.err")"
	tap_finish
fi
cd "$P11ENV_WORK" || exit 1
keys() {
	local i
	for i in 1 2 3; do
		p11env_keypair "rsa$i" "0$i" rsa:2048 || return 1
		p11env_keypair "ec$i" "1$i" EC:prime256v1 || return 1
	done
}
if keys >keys.log 2>&1; then
	tap_ok "token on $P11_TEST_MODULE with 3 RSA-2048 and 3 EC P-256 key pairs"
else
	tap_notok "token on $P11_TEST_MODULE with 3 RSA-2048 and 3 EC P-256 key pairs" "$(tail -20 keys.log)"
	tap_finish
fi

stress() { # EXPECTED-SIGNS EXPECTED-OBJECTS ARGS...
	local want_signs=$1 want_objs=$2 st line
	shift 2
	timeout 600 "$STRESS" "$@" >stress.out 2>stress.err
	st=$?
	cat stress.out
	tail -n 30 stress.err
	[ $st -eq 0 ] || { echo "p11stress exit status $st"; return 1; }
	line=$(grep '^threads=' stress.out)
	case " $line " in
	*" errors=0 "*" "*) ;;
	*) echo "errors reported"; return 1 ;;
	esac
	grep -q " duplicate_sessions=0 " <<<"$line" || { echo "a session handle was handed out twice"; return 1; }
	grep -q " signs=$want_signs " <<<"$line" || { echo "expected signs=$want_signs"; return 1; }
	grep -q " objects=$want_objs " <<<"$line" || { echo "expected objects=$want_objs"; return 1; }
}
ALL=(-r rsa1 -r rsa2 -r rsa3 -e ec1 -e ec2 -e ec3)
tap_run "8 threads x 5 rounds x 6 keys, own sessions, CKF_OS_LOCKING_OK: 240 signatures, 24 objects, 0 errors" \
	stress 240 24 -T 8 -n 5 -o 3 -x t8 "${ALL[@]}"
tap_diag "$(grep '^threads=' stress.out)"
tap_run "32 threads opening sessions at once and signing: no handle given twice, 0 errors" \
	stress 128 32 -T 32 -n 2 -o 1 -x t32 -r rsa1 -e ec2
tap_diag "$(grep '^threads=' stress.out)"

# pkcs11-tool --test-threads: each --test-threads starts a thread running the
# given two-letter commands (IL C_Initialize with CKF_OS_LOCKING_OK, GI
# C_GetInfo, SL C_GetSlotList, T0 C_GetTokenInfo of slot 0, P1 pause 1 s).
# pkcs11-tool 0.23 starts them before its own C_Initialize and, if they are
# still running when it is done, waits 30 s before it checks them.
threads() { # ROUNDS THREADS OPTION-STRING [MAIN ARGS]
	local rounds=$1 nthr=$2 opts=$3 r i args=() st
	shift 3
	for ((i = 0; i < nthr; i++)); do args+=(--test-threads "$opts"); done
	for ((r = 1; r <= rounds; r++)); do
		timeout 120 pkcs11-tool --module "$MODULE" "${args[@]}" "$@" >threads.txt 2>&1
		st=$?
		cat threads.txt
		[ $st -eq 0 ] || { echo "round $r: exit status $st"; return 1; }
		[ "$(grep -c "returning rv = 0" threads.txt)" -eq "$nthr" ] ||
			{ echo "round $r: not every thread returned 0"; return 1; }
		grep -E 'returned CKR_' threads.txt | grep -Ev 'CKR_OK|CKR_CRYPTOKI_ALREADY_INITIALIZED' &&
			{ echo "round $r: a thread got an error"; return 1; }
		grep -q 'all threads have ended with CKR_OK' threads.txt ||
			{ echo "round $r: threads did not all end with CKR_OK"; return 1; }
	done
}
tap_run "--test-threads: 4 threads C_GetInfo/C_GetSlotList/C_GetTokenInfo after main's C_Initialize" \
	threads 1 4 P1GISLT0 --token-label "$TOKEN_LABEL" -O --login --pin "$PIN"
# Threads calling C_Initialize(CKF_OS_LOCKING_OK) race each other and the main
# thread's C_Initialize: one wins, the others get CKR_CRYPTOKI_ALREADY_INITIALIZED,
# nobody crashes.
# (The main thread lists slots, mechanisms and objects meanwhile, which also
# keeps it busy long enough to spare pkcs11-tool's 30 s wait.)
desc="--test-threads: 4 threads racing C_Initialize(CKF_OS_LOCKING_OK) with main, 3 rounds"
p11env_softhsm_skip "$desc" "2.6 often crashes or hangs when C_Initialize runs in several threads at once" ||
	tap_run "$desc" threads 3 4 ILGISLT0 --token-label "$TOKEN_LABEL" -L -M -O --login --pin "$PIN"

tap_finish
