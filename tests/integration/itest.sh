# The PKCS#11 integration tests: each NAME.sh starts its own swtpm (and, where
# several processes share the TPM, tpm2-abrmd) through tests/lib/tpmenv.sh, writes a
# module configuration, and runs one C program that dlopens $TPMHA_MODULE and prints
# TAP. Source from bash.
#
#   itest_setup [--abrmd] [--max-tries N]
#       start TPM A; --max-tries sets the TPM's dictionary-attack limit first (tests
#       that enter wrong PINs on purpose must not lock the TPM out); exports
#       TPMHA_CONF, TPM2TOOLS_TCTI (for tpm2-tools between C_Finalize and C_Initialize)
#       and ITEST_DIR (a scratch folder)
#   itest_exec PROGRAM [ARGS...]
#       run the test program; if it dies, the module log's tail goes into the TAP
#       stream as a diagnostic and the status is non-zero

itest__here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$itest__here/../..}"
: "${top_builddir:=$top_srcdir}"
: "${TPMHA_MODULE:=$top_builddir/.libs/tpmha-pkcs11.so}"
export top_srcdir top_builddir TPMHA_MODULE
. "$top_srcdir/tests/lib/tpmenv.sh"

itest_setup() {
	local abrmd= max_tries=
	while [ $# -gt 0 ]; do
		case $1 in
		--abrmd) abrmd=1 ;;
		--max-tries) max_tries=$2; shift ;;
		*) echo "itest_setup: unknown option $1" >&2; return 1 ;;
		esac
		shift
	done
	if [ ! -f "$TPMHA_MODULE" ]; then
		echo "Bail out! the module is not built: $TPMHA_MODULE"
		exit 1
	fi
	tpmenv_init
	ITEST_DIR=$TPMENV_DIR/work
	mkdir -p "$ITEST_DIR"
	export ITEST_DIR
	if ! tpmenv_start_tpm2 A; then
		echo "Bail out! cannot start swtpm"
		exit 1
	fi
	export TPM2TOOLS_TCTI=$A_TCTI
	if [ -n "$max_tries" ]; then
		# Recovery 1000 s: a wrong PIN stays counted for the whole test.
		if ! tpm2_dictionarylockout -s -n "$max_tries" -t 1000 -l 1 >"$ITEST_DIR/da.log" 2>&1; then
			echo "Bail out! tpm2_dictionarylockout failed: $(cat "$ITEST_DIR/da.log")"
			exit 1
		fi
	fi
	if [ -n "$abrmd" ]; then
		if ! tpmenv_start_abrmd A; then
			echo "Bail out! cannot start tpm2-abrmd"
			exit 1
		fi
		export TPM2TOOLS_TCTI=$A_TCTI
	fi
	tpmenv_config A
	export TPMHA_CONF=$A_CONF
	ITEST_LOG=$A_DIR/tpmha.log
	export ITEST_LOG
}

itest_exec() {
	local prog=$1 st
	shift
	"$top_builddir/tests/integration/$prog" "$@"
	st=$?
	if [ $st -ne 0 ]; then
		echo "# $prog exited with status $st; the module log ends with:"
		tail -n 30 "$ITEST_LOG" 2>/dev/null | sed 's/^/#   /'
	fi
	return $st
}
