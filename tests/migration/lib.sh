# What the multi-unit migration tests share. Source from bash after setting
# top_srcdir/top_builddir (make check does). Each unit is its own swtpm, its own
# module configuration and store; every step runs tests/migration/mig as one unit
# (a process with that unit's TPMHA_CONF), and its TAP is relayed here, renumbered.
#
#   mig_init UNIT...          start a TPM 2.0 per unit, write its configuration; W is
#                             a scratch folder, UNIT_STORE the unit's SQLite file
#   mig UNIT ARGS...          run the driver as UNIT (see tests/migration/mig.c)
#   mig_soft ARGS...          run a driver command that needs no unit (files, ESYS)
#   mig_domain NAME PEM       an MA key (openssl genpkey; PEM: rsa or ec) and domain NAME
#   mig_identities UNIT...    W/unit-UNIT: each unit's identity file
#   mig_sql UNIT SQL          a query on the unit's store (sqlite3, read-only)

mig__here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$mig__here/../..}"
: "${top_builddir:=$top_srcdir}"
: "${TPMHA_MODULE:=$top_builddir/.libs/tpmha-pkcs11.so}"
export top_srcdir top_builddir TPMHA_MODULE
. "$top_srcdir/tests/lib/tpmenv.sh"
. "$top_srcdir/tests/lib/tap.sh"

MIG=$top_builddir/tests/migration/mig
USER_PIN=user-pin-1234 # tests/integration/p11t.h
# ESYS would log every refusal the bypass tests provoke
export TSS2_LOG=${TSS2_LOG:-esys+none,tcti+none}

mig_init() {
	local u
	for f in "$MIG" "$TPMHA_MODULE"; do
		if [ ! -e "$f" ]; then
			echo "Bail out! not built: $f"
			exit 1
		fi
	done
	command -v sqlite3 >/dev/null || { echo "Bail out! sqlite3 is not installed"; exit 1; }
	# A folder of our own under TMPDIR for tpmenv's: the units' stores and logs are
	# what the tests read, and must not share a name pattern with anything else.
	MIG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tpmha-migration.XXXXXX") || { echo "Bail out! mktemp"; exit 1; }
	TMPDIR=$MIG_TMP tpmenv_init
	trap 'tpmenv_cleanup; rmdir "$MIG_TMP" 2>/dev/null' EXIT
	tap_init
	W=$TPMENV_DIR/work
	mkdir -p "$W"
	for u in "$@"; do
		if ! tpmenv_start_tpm2 "$u"; then
			echo "Bail out! cannot start swtpm for unit $u"
			exit 1
		fi
		tpmenv_config "$u"
		eval "${u}_STORE=\$${u}_DIR/store/tpmha.sqlite3"
	done
}

# Relay the driver's TAP (file $2, exit status $3) with prefix $1.
mig__relay() {
	local prefix=$1 out=$2 st=$3 err=$4 log=$5 line seen=0 plan=-1 desc
	while IFS= read -r line; do
		case $line in
		"ok "*" # SKIP "*)
			seen=$((seen + 1))
			desc=${line#* - }
			tap_skip "$prefix${desc% # SKIP *}" "${desc##* # SKIP }"
			;;
		"ok "*) seen=$((seen + 1)); tap_ok "$prefix${line#* - }" ;;
		"not ok "*) seen=$((seen + 1)); tap_notok "$prefix${line#* - }" ;;
		"1.."*) plan=${line#1..} ;;
		"Bail out!"*) tap_notok "$prefix$line" ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done <"$out"
	if [ "$st" -ne 0 ] || [ "$plan" != "$seen" ]; then
		tap_notok "${prefix}the driver exited with status $st after $seen checks (plan: $plan)"
		[ -s "$err" ] && tail -n 20 "$err" | tap_diag
		[ -n "$log" ] && [ -f "$log" ] && { echo "# the module log ends with:"; tail -n 20 "$log" | tap_diag; }
	fi
	return 0
}

# mig UNIT ARGS...
mig() {
	local u=$1 conf dir st
	shift
	eval "conf=\${${u}_CONF} dir=\${${u}_DIR}"
	TPMHA_CONF=$conf MIG_LOG=$dir/tpmha.log MIG_STORE=$dir/store/tpmha.sqlite3 \
		"$MIG" "$@" >"$W/mig.out" 2>"$W/mig.err" </dev/null
	st=$?
	mig__relay "$u: " "$W/mig.out" $st "$W/mig.err" "$dir/tpmha.log"
}

mig_soft() {
	local st
	env -u TPMHA_CONF "$MIG" "$@" >"$W/mig.out" 2>"$W/mig.err" </dev/null
	st=$?
	mig__relay "" "$W/mig.out" $st "$W/mig.err" ""
}

mig_domain() {
	local name=$1 type=$2
	case $type in
	rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/$name.pem" 2>/dev/null ;;
	ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/$name.pem" 2>/dev/null ;;
	esac || { echo "Bail out! openssl genpkey failed"; exit 1; }
	mig_soft domain "$W/$name.pem" "$W/$name.domain" "$name"
}

mig_identities() {
	local u
	for u in "$@"; do
		mig "$u" identity "$W/unit-$u" "unit $u"
	done
}

mig_sql() {
	local u=$1 store
	eval "store=\${${u}_STORE}"
	sqlite3 -readonly -batch "$store" "$2"
}
