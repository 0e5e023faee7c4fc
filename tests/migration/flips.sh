#!/bin/bash
# Issue 3, "what must be refused" 3: any single changed byte anywhere in a bundle.
# One real whole-token bundle from unit A for unit B (an RSA-2048 and a P-256 key
# pair, a certificate, a public and a private data object, both PIN seals, the unit
# and approval objects), every byte XOR 0xff and XOR 0x01, and every truncation,
# each received by B in a TPMHA_ReceiveBundle of its own (one process, B's TPM):
# refused, with a log line saying why, and B's store (token, object and replica
# rows) unchanged — B holds the token already, so a whole-token receive that went
# wrong would show. MIG_FLIP_MASKS="ff 01 80" picks the masks.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

mig_init A B
mig_domain d1 rsa
mig_identities A B
mig_soft approve "$W/d1.pem" "$W/d1.domain" "$W/unit-B" "$W/approval-B"
mig A init-token "$W/d1.domain" ha
mig A populate ha "$W"
mig A add ha unit "$W/unit-B"
mig A add ha approval "$W/approval-B"
mig A replicate ha "$W/unit-B" "$W/bundle-B"
if [ ! -s "$W/bundle-B" ]; then
	tap_notok "no bundle to damage"
	tap_finish
fi
mig B receive "$W/bundle-B" "$W/d1.domain"
tap_diag "the bundle: $(stat -c %s "$W/bundle-B") bytes; B's store: $(mig_sql B 'SELECT count(*) FROM object') objects"
# shellcheck disable=SC2086
mig B flip-all "$W/bundle-B" "$W/d1.domain" ${MIG_FLIP_MASKS:-ff 01}
mig B use ha "$W"
tap_finish
