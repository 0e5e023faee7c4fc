#!/bin/bash
# Run tpmha-bench on a fresh emulated TPM 2.0: start swtpm (on a free port, in a
# temporary folder, stopped at exit), initialize a token and its user PIN and
# generate the benchmark's key pairs through pkcs11-tool, then measure the
# module and the ESYS floor on that same swtpm and print the table.
#
# usage: bench/run-bench.sh [--quick] [--abrmd] [--callgrind] [--out DIR]
#                           [-- tpmha-bench options...]
#   --quick      fewer iterations (a sanity run of ~15 s, figures noisier)
#   --abrmd      put tpm2-abrmd in front of swtpm (module and floor both use it);
#                then the 4-process login cycles really run side by side
#   --callgrind  run tpmha-bench under valgrind --tool=callgrind (short runs,
#                1 thread) and print client-side instructions per operation
#                for the module and for ESYS; dumps are kept in DIR
#   --out DIR    where the JSON (bench.json) and callgrind dumps go
#                (default: $top_builddir/bench/out)
#   anything after -- goes to tpmha-bench (see tpmha-bench --help), e.g.
#   -- --iterations 2000 --only rsa-sign
#
# Environment: top_srcdir, top_builddir (make bench sets both), TPMHA_MODULE,
# TPMENV_KEEP=1 keeps the TPM's folder (logs) for a post-mortem.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
bench=$top_builddir/bench/tpmha-bench
quick= abrmd= callgrind= out=$top_builddir/bench/out
bench_args=()

while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--abrmd) abrmd=--abrmd ;;
	--callgrind) callgrind=1 ;;
	--out) out=$2; shift ;;
	--out=*) out=${1#--out=} ;;
	--) shift; bench_args=("$@"); break ;;
	-h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [ ! -x "$bench" ]; then
	echo "run-bench.sh: $bench is not built (make first)" >&2
	exit 1
fi
if [ -n "$callgrind" ] && ! command -v valgrind >/dev/null; then
	echo "run-bench.sh: --callgrind needs valgrind" >&2
	exit 1
fi
mkdir -p "$out" || exit 1

# The module logs warnings only: logging is not what we measure.
export TPMENV_LOG_LEVEL=${TPMENV_LOG_LEVEL:-warning}
export P11_TEST_MODULE=tpmha P11ENV_TOKEN_LABEL=tpmha-bench
unset TPMHA_TCTI TPMHA_STORE
. "$top_srcdir/tests/lib/p11env.sh"

echo "run-bench.sh: starting swtpm${abrmd:+ behind tpm2-abrmd}, making a token" >&2
p11env_setup $abrmd || exit 1
for kp in "bench-rsa 01 rsa:2048" "bench-ec 02 EC:prime256v1"; do
	# shellcheck disable=SC2086
	if ! p11env_keypair $kp >"$P11ENV_WORK/keypair.log" 2>&1; then
		echo "run-bench.sh: pkcs11-tool --keypairgen $kp failed:" >&2
		cat "$P11ENV_WORK/keypair.log" >&2
		exit 1
	fi
done

common=(--module "$MODULE" --token "$TOKEN_LABEL" --pin "$PIN" --tcti "$P11_TCTI")
if [ -n "$quick" ]; then
	common+=(--warmup 10 --iterations 200 --login-iterations 100 --find-iterations 200)
fi

if [ -z "$callgrind" ]; then
	"$bench" "${common[@]}" --json-out "$out/bench.json" "${bench_args[@]}"
	rc=$?
	echo "(JSON: $out/bench.json)"
	exit $rc
fi

# callgrind: collection is switched on only around each job's timed loop and
# dumped at its end, so each dump holds exactly that job's operations.
rm -f "$out"/callgrind.out.*
valgrind --tool=callgrind --collect-atstart=no \
	--callgrind-out-file="$out/callgrind.out.%p" \
	"$bench" "${common[@]}" --callgrind "${bench_args[@]}" >"$out/callgrind.table" 2>"$out/callgrind.log"
rc=$?
if [ $rc -ne 0 ]; then
	echo "run-bench.sh: tpmha-bench under callgrind failed (status $rc):" >&2
	tail -20 "$out/callgrind.log" >&2
fi
echo "client-side instructions per operation (valgrind --tool=callgrind, Ir):"
printf '%-17s %-10s %4s %6s %14s  %s\n' benchmark impl thr ops "Ir/op" dump
for f in $(ls "$out"/callgrind.out.* 2>/dev/null | sort -t. -k3,3n -k4,4n); do
	[ -f "$f" ] || continue
	trig=$(sed -n 's/^desc: Trigger: Client Request: tpmha-bench //p' "$f")
	[ -n "$trig" ] || continue
	ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p; s/^totals: \([0-9]*\).*/\1/p' "$f" | head -1)
	read -r name impl thr ops <<<"$trig"
	printf '%-17s %-10s %4s %6s %14s  %s\n' "$name" "$impl" "$thr" "$ops" \
		"$(( ${ir:-0} / (ops > 0 ? ops : 1) ))" "$(basename "$f")"
done
echo
echo "(where it goes: callgrind_annotate --inclusive=yes $out/callgrind.out.PID.N | head -40)"
exit $rc
