#!/bin/bash
# The replication benchmark (bench/replicate.c): two fresh emulated units A and B
# (a swtpm, a module configuration and a store each), an RSA-2048 migration
# authority made by openssl, then tpmha-bench-replicate: tokens of 1, 10 and 100
# RSA-2048 keys replicated A -> B through the module, against the same TPM commands
# through ESYS. Everything lives in a temporary folder, stopped and removed at exit.
#
# usage: bench/run-replicate.sh [--quick] [--out DIR] [-- tpmha-bench-replicate options]
#   --quick    tokens of 1 and 10 keys, 3 runs (a sanity run of ~20 s)
#   --out DIR  where replicate.json goes (default $top_builddir/bench/out)
#   after --, e.g. -- --keys 1,10,100,200 --runs 9
# Environment: top_srcdir, top_builddir (make bench sets both), TPMHA_MODULE,
# TPMENV_KEEP=1 keeps the folder (logs, stores) for a post-mortem.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
bench=$top_builddir/bench/tpmha-bench-replicate
module=${TPMHA_MODULE:-$top_builddir/.libs/tpmha-pkcs11.so}
out=$top_builddir/bench/out
args=()

while [ $# -gt 0 ]; do
	case $1 in
	--quick) args+=(--keys 1,10 --runs 3) ;;
	--out) out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	--) shift; args+=("$@"); break ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-replicate.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for f in "$bench" "$module"; do
	if [ ! -e "$f" ]; then
		echo "run-replicate.sh: $f is not built (make first)" >&2
		exit 1
	fi
done
mkdir -p "$out" || exit 1

# The module logs warnings only: logging is not what we measure. ESYS would log
# nothing useful either.
export TPMENV_LOG_LEVEL=${TPMENV_LOG_LEVEL:-warning}
export TSS2_LOG=${TSS2_LOG:-all+none}
unset TPMHA_TCTI TPMHA_STORE TPMHA_CONF
. "$top_srcdir/tests/lib/tpmenv.sh"
# a folder of our own under TMPDIR for tpmenv's: nothing else's clean-up of
# tpmha-test.* folders can take the units' stores away mid-run
bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpmha-bench.XXXXXX") || exit 1
TMPDIR=$bench_tmp tpmenv_init
trap 'tpmenv_cleanup; rmdir "$bench_tmp" 2>/dev/null' EXIT
echo "run-replicate.sh: starting two swtpms (units A and B)" >&2
for u in A B; do
	tpmenv_start_tpm2 $u || exit 1
	tpmenv_config $u
done
mkdir -p "$TPMENV_DIR/work"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TPMENV_DIR/work/ma.pem" 2>/dev/null || {
	echo "run-replicate.sh: openssl genpkey failed" >&2
	exit 1
}
"$bench" --module "$module" --a-conf "$A_CONF" --b-conf "$B_CONF" --a-tcti "$A_TCTI" --b-tcti "$B_TCTI" \
	--a-store "$A_DIR/store/tpmha.sqlite3" --ma "$TPMENV_DIR/work/ma.pem" --work "$TPMENV_DIR/work" \
	--json-out "$out/replicate.json" "${args[@]}"
rc=$?
echo "(JSON: $out/replicate.json)"
exit $rc
