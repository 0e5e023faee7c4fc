#!/bin/bash
# Migration on TPM 2.0 against three emulated TPMs A, B and C
# (tests/tpm/tpm2_migrate_test.c), TAP on stdout. TPMHA_MIGRATE_BENCH=N also times
# N exports and imports per key type against the same commands through ESYS.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}

# ESYS (the bypass and the floor) would log every refusal it is made to provoke
export TSS2_LOG=${TSS2_LOG:-esys+none}

. "$top_srcdir/tests/lib/tpmenv.sh"
tpmenv_init

if ! tpmenv_start_tpm2 A || ! tpmenv_start_tpm2 B || ! tpmenv_start_tpm2 C; then
	echo "Bail out! cannot start swtpm"
	exit 1
fi

args=(--a "$A_TCTI" --b "$B_TCTI" --c "$C_TCTI" --log "$TPMENV_DIR/backend.log")
[ -n "${TPMHA_MIGRATE_BENCH:-}" ] && args+=(--bench "$TPMHA_MIGRATE_BENCH")
"$top_builddir/tests/tpm/tpm2_migrate_test" "${args[@]}"
