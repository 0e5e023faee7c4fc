#!/bin/bash
# The TPM 1.2 benchmark (issue 4): two fresh TPM 1.2 units A and B (swtpm in TPM 1.2
# mode + its own tcsd each, owned with the well-known secrets), then
#   1. tpmha-bench-tpm12 on A: RSA-2048 sign (CKM_RSA_PKCS over a SHA-256 DigestInfo)
#      and PKCS#1 v1.5 decrypt through the module, on a token without a domain and on
#      a domain token (certifiable migratable keys), against the same operations
#      through TSPI directly on the same TPM (the floor); 1 and 4 threads;
#   2. replication A -> B through the CLI, whole tokens of 1 and 10 RSA-2048 keys
#      (plus the token's two PIN objects, which move as CMKs too), each step timed as
#      an operator runs it: replicate --request-out, domain approve --request (MA in a
#      PEM file), replicate --approval, receive. Per key: (10-key time - 1-key time) / 9,
#      which leaves out what a replication costs whatever the number of keys;
#   3. tpmha-bench-tpm12-replicate on the tokens of step 2: the same replication per
#      key through the module in-process (TPMHA_ReplicateToken on A, TPMHA_ReceiveBundle
#      on B), against the floor: one key moved A -> B with the same CMK commands through
#      TSPI directly; then the ratios of the module's per-key figures (CLI and
#      in-process) to the floor's.
# Everything lives in a temporary folder, stopped by PID and removed at exit. Root
# only (tcsd).
#
# usage: bench/run-tpm12.sh [--quick] [--runs N] [-- tpmha-bench-tpm12 options]
#   --quick    200 operations per thread, 3 CLI replication runs, 5 in-process ones and
#              100 keys moved by the floor (~30 s)
#   --runs N   CLI replication runs per token size (default 5; medians are reported)
#   after --, e.g. -- --iterations 2000 --threads 1
# Environment: top_srcdir, top_builddir (make bench-tpm12 sets both), TPMHA_MODULE,
# TPMENV_KEEP=1 keeps the folder (logs, stores) for a post-mortem.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bench=$top_builddir/bench/tpmha-bench-tpm12
rbench=$top_builddir/bench/tpmha-bench-tpm12-replicate
tpmha=$top_builddir/tpmha
module=${TPMHA_MODULE:-$top_builddir/.libs/tpmha-pkcs11.so}
runs=5
args=(--iterations 1000)
rargs=(--runs 15 --iterations 300)

while [ $# -gt 0 ]; do
	case $1 in
	--quick) args=(--iterations 200); runs=3; rargs=(--runs 5 --iterations 100) ;;
	--runs) runs=$2; shift ;;
	--runs=*) runs=${1#--runs=} ;;
	--) shift; args+=("$@"); break ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-tpm12.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for f in "$bench" "$rbench" "$tpmha" "$module"; do
	if [ ! -e "$f" ]; then
		echo "run-tpm12.sh: $f is not built (make first)" >&2
		exit 1
	fi
done

export TPMENV_LOG_LEVEL=${TPMENV_LOG_LEVEL:-warning}
unset TPMHA_TCTI TPMHA_STORE TPMHA_CONF
. "$top_srcdir/tests/lib/tpmenv.sh"
if ! why=$(tpmenv_tpm12_ready); then
	echo "run-tpm12.sh: $why" >&2
	exit 1
fi
bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpmha-bench12.XXXXXX") || exit 1
TMPDIR=$bench_tmp tpmenv_init
trap 'tpmenv_cleanup; rmdir "$bench_tmp" 2>/dev/null' EXIT
echo "run-tpm12.sh: starting two TPM 1.2 units (swtpm + tcsd each)" >&2
for u in A B; do
	tpmenv_start_tpm12 $u || exit 1
	tpmenv_config $u
done
W=$TPMENV_DIR/work
mkdir -p "$W"
cd "$W" || exit 1
PIN=userpin1234
echo "$PIN" >user.pin
echo sopin98765 >so.pin
onA() { TPMHA_CONF=$A_CONF "$@"; }
onB() { TPMHA_CONF=$B_CONF "$@"; }
fail() {
	echo "run-tpm12.sh: $*" >&2
	exit 1
}
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ma.pem 2>/dev/null || fail "openssl genpkey"
"$tpmha" domain create --out domain.tpmha --label bench12 --ma-key-file ma.pem >/dev/null 2>&1 ||
	fail "tpmha domain create"
onB "$tpmha" unit init --out unitB.tpmha --label unit-B >/dev/null || fail "tpmha unit init on B"
onA "$tpmha" token init --label bench12 --so-pin-file so.pin --pin-file user.pin >/dev/null &&
	onA "$tpmha" token init --label bench12-ha --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin >/dev/null &&
	onA "$tpmha" key generate --token bench12 --type rsa:2048 --label bench-rsa --pin-file user.pin >/dev/null &&
	onA "$tpmha" key generate --token bench12-ha --type rsa:2048 --label bench-rsa --pin-file user.pin >/dev/null ||
	fail "tokens and keys on A"

echo "== RSA-2048 on TPM 1.2: the module against TSPI directly (tcsd 127.0.0.1:$A_TCSD_PORT)"
onA "$bench" --module "$module" --token bench12 --cmk-token bench12-ha --tcsd "$A_TCSD_PORT" --pin "$PIN" \
	"${args[@]}"
status=$?

# --- replication A -> B ---------------------------------------------------------------------
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: >times.txt
echo
echo "== replication A -> B through the CLI, whole tokens ($runs runs each; ms, wall time of each command)"
printf '%-5s %-4s %10s %10s %12s %12s %10s %10s\n' keys run request approve replicate "(module ms)" receive total
for keys in 1 10; do
	for ((r = 1; r <= runs; r++)); do
		t=rep$keys-$r
		onA "$tpmha" token init --label "$t" --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin \
			>/dev/null || fail "token init $t"
		for ((k = 1; k <= keys; k++)); do
			onA "$tpmha" key generate --token "$t" --type rsa:2048 --label "k$k" --pin-file user.pin >/dev/null ||
				fail "key generate $t k$k"
		done
		t0=$(date +%s%N)
		onA "$tpmha" replicate --token "$t" --to unitB.tpmha --request-out "$t.req" --pin-file user.pin \
			>/dev/null || fail "replicate --request-out $t"
		req=$(ms "$t0")
		t0=$(date +%s%N)
		"$tpmha" domain approve --domain domain.tpmha --request "$t.req" --out "$t.appr" --ma-key-file ma.pem \
			>/dev/null 2>&1 || fail "domain approve $t"
		appr=$(ms "$t0")
		t0=$(date +%s%N)
		onA "$tpmha" replicate --token "$t" --to unitB.tpmha --approval "$t.appr" --out "$t.bundle" \
			--pin-file user.pin --json >"$t.json" 2>/dev/null || fail "replicate $t"
		rep=$(ms "$t0")
		repm=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["milliseconds"])' "$t.json" 2>/dev/null ||
			echo -)
		t0=$(date +%s%N)
		onB "$tpmha" receive --in "$t.bundle" --domain domain.tpmha >/dev/null || fail "receive $t"
		rec=$(ms "$t0")
		printf '%-5s %-4s %10s %10s %12s %12s %10s %10s\n' "$keys" "$r" "$req" "$appr" "$rep" "$repm" "$rec" \
			$((req + appr + rep + rec))
		echo "$keys $req $appr $rep $rec $((req + appr + rep + rec))" >>times.txt
	done
done
col() { awk -v k="$1" -v c="$2" '$1 == k { print $c }' times.txt | median; }
echo
echo "medians (ms):"
printf '%-5s %10s %10s %12s %10s %10s\n' keys request approve replicate receive total
for keys in 1 10; do
	printf '%-5s %10s %10s %12s %10s %10s\n' "$keys" "$(col $keys 2)" "$(col $keys 3)" "$(col $keys 4)" \
		"$(col $keys 5)" "$(col $keys 6)"
done
awk -v r1="$(col 1 4)" -v r10="$(col 10 4)" -v c1="$(col 1 5)" -v c10="$(col 10 5)" \
	-v a1="$(col 1 6)" -v a10="$(col 10 6)" 'BEGIN {
	printf "per key ((10 keys - 1 key) / 9): replicate %.1f ms, receive %.1f ms, all four steps %.1f ms\n",
		(r10 - r1) / 9, (c10 - c1) / 9, (a10 - a1) / 9
	printf "per key of a 10-key token, everything included (total / 10): %.1f ms\n", a10 / 10
}'

# --- the same per key in-process, and the floor --------------------------------------------
echo
echo "== replication A -> B per key: the module in-process against TSPI directly (the floor)"
"$rbench" --module "$module" --a-conf "$A_CONF" --b-conf "$B_CONF" --a-tcsd "$A_TCSD_PORT" \
	--b-tcsd "$B_TCSD_PORT" --a-store "$A_DIR/store" --b-store "$B_DIR/store" --domain domain.tpmha \
	--unit-b unitB.tpmha --ma ma.pem --token1 rep1-1 --token10 rep10-1 --pin "$PIN" --work "$W" \
	"${rargs[@]}" | tee replicate12.txt
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
floor=$(awk '$1 == "floor-per-key-ms" { print $2 }' replicate12.txt)
inproc=$(awk '$1 == "module-per-key-ms" { print $2 }' replicate12.txt)
if [ -n "$floor" ]; then
	echo
	printf '%-62s %9s %6s  %s\n' "target (issue 4: within 1.2x of TSPI directly)" measured goal result
	awk -v r1="$(col 1 4)" -v r10="$(col 10 4)" -v c1="$(col 1 5)" -v c10="$(col 10 5)" -v f="$floor" \
		-v m="${inproc:-}" 'BEGIN {
		cli = (r10 - r1) / 9 + (c10 - c1) / 9
		printf "%-62s %8.2fx %5.1fx  %s\n", "replicate + receive per key, CLI / tspi p50", cli / f, 1.2,
			cli / f <= 1.2 ? "met" : "MISSED"
		if (m != "")
			printf "%-62s %8.2fx %5.1fx  %s\n", "replicate + receive per key, module in-process / tspi p50",
				m / f, 1.2, m / f <= 1.2 ? "met" : "MISSED"
		printf "(per key: CLI %.2f ms, in-process %s ms, TSPI floor p50 %.2f ms)\n", cli, m == "" ? "-" : m, f
	}'
fi
exit $status
