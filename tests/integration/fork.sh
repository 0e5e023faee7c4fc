#!/bin/bash
# fork(): children of an initialized process, on the direct swtpm TCTI and behind
# tpm2-abrmd (where the children may initialize and use the TPM themselves).
#
# Behind tpm2-abrmd the module reaches the daemon through the cmd TCTI running
# tpm2_send, not through the tabrmd TCTI in-process: the tabrmd TCTI talks D-Bus with
# GLib's GDBus, whose shared connection and worker thread do not survive fork(), so
# a child of a process that used it times out in C_Initialize (tpm2-abrmd issue
# #529; nothing a PKCS#11 module can repair). device:/dev/tpmrm0 has no such state.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/integration/itest.sh"
itest_setup --abrmd
# A second TPM reached directly, for the parent that holds the only connection.
if ! tpmenv_start_tpm2 B; then
	echo "Bail out! cannot start the second swtpm"
	exit 1
fi
tpmenv_config B
{
	echo "# --- behind tpm2-abrmd"
	TPMHA_CONF=$A_CONF TPMHA_TCTI="cmd:tpm2_send -T $A_TCTI" itest_exec p11_fork abrmd
	echo "# --- direct swtpm TCTI"
	TPMHA_CONF=$B_CONF ITEST_LOG=$B_DIR/tpmha.log itest_exec p11_fork direct
} | awk '
	# two programs, one TAP stream: renumber, one plan at the end
	/^(not )?ok [0-9]+/ { n++; sub(/^(not )?ok [0-9]+/, ($1 == "not" ? "not ok " : "ok ") n) ; print; next }
	/^1\.\.[0-9]+$/ { plans++; next }
	/^Bail out!/ { print; bailed = 1; next }
	{ print }
	END { if (plans != 2 && !bailed) { n++; print "not ok " n " - a program stopped before its plan" } print "1.." n }'
