#!/bin/bash
# Issue 3, "what must be refused" 5, and what a working replication must show, with
# three emulated units A, B, C in one domain (RSA-2048 MA made by openssl):
#   - A's whole token (RSA and EC key pairs, a certificate, public and private data,
#     the unit objects of B and C and their approvals) goes to B, and everything
#     works there with the same user PIN;
#   - receiving the same bundle again changes nothing an application sees: the same
#     objects with the same attributes (idempotent), the keys still work;
#   - a wrong PIN on B is counted by B's TPM (its lockout counter), not A's;
#   - the token goes on from B to C (B's own replication, B's TPM duplicating keys it
#     imported): on C the keys sign what A's public keys verify and decrypt what was
#     encrypted to them;
#   - one key made on A after that travels by C_WrapKey/C_UnwrapKey A -> B -> C;
#   - the replica records: A's store lists B and C, B's lists C.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

mig_init A B C
mig_domain d1 rsa
mig_identities A B C
for u in B C; do
	mig_soft approve "$W/d1.pem" "$W/d1.domain" "$W/unit-$u" "$W/approval-$u"
done
mig A init-token "$W/d1.domain" ha
mig A populate ha "$W"
for u in B C; do
	mig A add ha unit "$W/unit-$u"
	mig A add ha approval "$W/approval-$u"
done

# The objects of the unit's one token as the store keeps them (the attributes are
# copied as stored; key blobs differ by unit, being each TPM's import)
objects() {
	mig_sql "$1" "SELECT private, hex(attrs), tpm_key IS NULL, hex(key_auth) FROM object ORDER BY 2"
}

tap_diag "--- A -> B, the whole token"
mig A replicate ha "$W/unit-B" "$W/bundle-AB"
mig B receive "$W/bundle-AB" "$W/d1.domain"
mig B use ha "$W"
mig B login ha "$USER_PIN"
objects A >"$W/objects-A"
objects B >"$W/objects-B1"
# B has all of A's objects; the one it adds is none: A's token already holds B's unit object
if diff -q "$W/objects-A" "$W/objects-B1" >/dev/null; then
	tap_ok "B's token holds exactly A's objects, as A stores them ($(wc -l <"$W/objects-A") objects)"
else
	tap_notok "B's token holds exactly A's objects, as A stores them" \
		"$(diff "$W/objects-A" "$W/objects-B1" | cut -c1-120 | head -10)"
fi

tap_diag "--- the same bundle again"
serial_before=$(mig_sql B "SELECT serial, hex(label), hex(domain) FROM token")
mig B receive "$W/bundle-AB"
objects B >"$W/objects-B2"
if diff -q "$W/objects-B1" "$W/objects-B2" >/dev/null; then
	tap_ok "received twice: the same objects with the same attributes"
else
	tap_notok "received twice: the same objects with the same attributes" \
		"$(diff "$W/objects-B1" "$W/objects-B2" | cut -c1-120 | head -10)"
fi
[ "$(mig_sql B 'SELECT count(*) FROM token')" = 1 ] &&
	[ "$serial_before" = "$(mig_sql B "SELECT serial, hex(label), hex(domain) FROM token")" ] &&
	tap_ok "received twice: one token, the same serial, label and domain" ||
	tap_notok "received twice: one token, the same serial, label and domain"
mig B use ha "$W" rsa ec

tap_diag "--- a wrong PIN on B is counted by B's TPM"
lockout() { # the TPM's dictionary-attack failure count
	TPM2TOOLS_TCTI=$1 tpm2_getcap properties-variable 2>/dev/null |
		sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *\(0x[0-9a-fA-F]*\|[0-9]*\).*/\1/p'
}
a0=$(lockout "$A_TCTI") b0=$(lockout "$B_TCTI")
mig B login --expect CKR_PIN_INCORRECT ha wrong-pin-0000
a1=$(lockout "$A_TCTI") b1=$(lockout "$B_TCTI")
if [ -n "$b0" ] && [ -n "$b1" ] && [ $((b1)) -eq $((b0 + 1)) ] && [ $((a1)) -eq $((a0)) ]; then
	tap_ok "B's TPM counted the wrong PIN (lockout counter $((b0)) -> $((b1))); A's did not ($((a0)) -> $((a1)))"
else
	tap_notok "B's TPM counted the wrong PIN; A's did not" "B: '$b0' -> '$b1', A: '$a0' -> '$a1'"
fi
mig B login ha "$USER_PIN"

tap_diag "--- B -> C, onward"
mig B replicate ha "$W/unit-C" "$W/bundle-BC"
mig C receive "$W/bundle-BC" "$W/d1.domain"
mig C use ha "$W"
mig C login ha "$USER_PIN"

tap_diag "--- one key by C_WrapKey / C_UnwrapKey, A -> B -> C"
mig A genkey ha rsa k2 "$W"
mig A wrap ha "$W/unit-B" k2 "$W/k2-AB"
mig B unwrap ha "$W/k2-AB"
mig B use ha "$W" k2
mig B wrap ha "$W/unit-C" k2 "$W/k2-BC"
mig C unwrap ha "$W/k2-BC"
mig C use ha "$W" k2 rsa ec

tap_diag "--- A -> C directly, and the replica records"
mig A replicate ha "$W/unit-C" "$W/bundle-AC"
mig C receive "$W/bundle-AC"
mig C use ha "$W" rsa ec k2
replicas() { # unit label and how many keys
	mig_sql "$1" "SELECT unit_label || ':' || count(*) FROM replica GROUP BY unit_id ORDER BY unit_label" |
		tr '\n' ' '
}
ra=$(replicas A) rb=$(replicas B) rc=$(replicas C)
tap_diag "replica records: A: $ra; B: $rb; C: $rc"
# A sent its two keys to B and to C, and k2 to B; B sent three keys to C; C none
[ "$ra" = "unit B:3 unit C:3 " ] && tap_ok "A's store records its keys on B and C ($ra)" ||
	tap_notok "A's store records its keys on B and C" "got: $ra"
[ "$rb" = "unit C:3 " ] && tap_ok "B's store records the keys it sent to C ($rb)" ||
	tap_notok "B's store records the keys it sent to C" "got: $rb"
[ -z "$rc" ] && tap_ok "C's store records none" || tap_notok "C's store records none" "got: $rc"
tap_finish
