#!/bin/bash
# Issue 3, "what must be refused" 1, 2, 4 and 6, with three emulated units A, B, C
# and migration authorities made by openssl (d1: RSA-2048, d2: EC P-256; "rogue" is
# an RSA key that is no domain's MA):
#   1. no approval for C: the module refuses to export; and the TPM itself, asked
#      through ESYS with the key blobs from A's store (tpmha bypassed), refuses
#      TPM2_Duplicate to C without an MA ticket and through B's approval;
#   2. a bundle for C offered to B, as it is and with its header saying B: refused,
#      B's store unchanged (when B has no token yet and when it has one);
#   4. another domain, an approval signed by another key, truncated files, unknown
#      format versions: each refused with its own log line;
#   6. an MA-signed policy for TPM2_Sign does not sign with a module-made key
#      (control: the same keys still sign through the module, with their auth value).
# Every refused step also checks that the unit's store did not change.
set -u
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

mig_init A B C
mig_domain d1 rsa
mig_domain d2 ec
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rogue.pem" 2>/dev/null
mig_identities A B C
for u in B C; do
	mig_soft approve "$W/d1.pem" "$W/d1.domain" "$W/unit-$u" "$W/approval-$u"
done
mig A init-token "$W/d1.domain" ha
mig A populate ha "$W"
mig A add ha unit "$W/unit-B"
mig A add ha unit "$W/unit-C"
mig A add ha approval "$W/approval-B"

tap_diag "--- 1. no approval for C"
mig A replicate --expect CKR_KEY_NOT_WRAPPABLE --log "holds no approval for that unit" \
	ha "$W/unit-C" "$W/never"
mig A wrap --expect CKR_KEY_NOT_WRAPPABLE --log "holds no approval for that unit" \
	ha "$W/unit-C" rsa "$W/never"
[ ! -e "$W/never" ] && tap_ok "no bundle was written" || tap_notok "no bundle was written"
# The TPM alone: A's store holds the key blobs; no module runs on A meanwhile.
mig_soft esys-duplicate "$A_TCTI" "$A_STORE" "$W/d1.domain" "$W/approval-B" "$W/unit-B" "$W/unit-C"

tap_diag "--- 4. approvals that are not the domain MA's approval of C"
mig_soft approve "$W/rogue.pem" "$W/d1.domain" "$W/unit-C" "$W/approval-C-rogue"
mig A add ha approval "$W/approval-C-rogue"
mig A replicate --expect CKR_KEY_NOT_WRAPPABLE --log "not signed by this domain's migration authority" \
	ha "$W/unit-C" "$W/never"
mig_soft approve "$W/d2.pem" "$W/d2.domain" "$W/unit-C" "$W/approval-C-d2"
mig A add ha approval "$W/approval-C-d2"
mig A wrap --expect CKR_KEY_NOT_WRAPPABLE --log "the approval is for another domain" \
	ha "$W/unit-C" ec "$W/never"

tap_diag "--- 2. a bundle for C offered to B"
mig A add ha approval "$W/approval-C"
mig A replicate ha "$W/unit-C" "$W/bundle-C"
mig_soft mutate "$W/bundle-C" "$W/bundle-C-says-B" set-unit 4 "$W/unit-B"
tap_diag "B has no token yet:"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "the bundle was made for unit" \
	"$W/bundle-C" "$W/d1.domain"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "does not open with this unit's TPM" \
	--log "TPM2_Import" "$W/bundle-C-says-B" "$W/d1.domain"
n=$(mig_sql B 'SELECT (SELECT count(*) FROM token) + (SELECT count(*) FROM object)')
[ "$n" = 0 ] && tap_ok "B's store holds no token and no object" ||
	tap_notok "B's store holds no token and no object" "token + object rows: $n"
mig A replicate ha "$W/unit-B" "$W/bundle-B"
mig B receive "$W/bundle-B" "$W/d1.domain"
tap_diag "B has the token:"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "the bundle was made for unit" "$W/bundle-C"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "does not open with this unit's TPM" \
	"$W/bundle-C-says-B"
mig B unwrap --expect CKR_WRAPPED_KEY_INVALID --log "the bundle was made for unit" ha "$W/bundle-C"
mig C receive "$W/bundle-C" "$W/d1.domain"
mig C use ha "$W"

tap_diag "--- 4. another domain"
mig A init-token "$W/d2.domain" ha2
mkdir -p "$W/d2"
mig A populate ha2 "$W/d2"
mig_soft approve "$W/d2.pem" "$W/d2.domain" "$W/unit-B" "$W/approval-B-d2"
mig A add ha2 unit "$W/unit-B"
mig A add ha2 approval "$W/approval-B-d2"
mig A replicate ha2 "$W/unit-B" "$W/bundle-B-d2"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "the bundle comes from domain" \
	"$W/bundle-B-d2" "$W/d1.domain"
# the same bundle claiming to be token ha, which B has in domain d1
mig_soft mutate "$W/bundle-B-d2" "$W/bundle-B-d2-as-ha" copy 5 "$W/bundle-B"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "the bundle comes from domain" "$W/bundle-B-d2-as-ha"
mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "belongs to another domain than the one given" \
	"$W/bundle-B" "$W/d2.domain"
mig B receive "$W/bundle-B-d2" "$W/d2.domain"

tap_diag "--- 4. truncated files"
size=$(stat -c %s "$W/bundle-B")
for n in 0 7 100 $((size / 2)) $((size - 1)); do
	mig_soft mutate "$W/bundle-B" "$W/bundle-cut" truncate $n
	case $n in
	0 | 7) why="not a tpmha file" ;;
	$((size - 1))) why="migration bundle: truncated record" ;;
	*) why="truncated" ;;
	esac
	mig B receive --expect CKR_WRAPPED_KEY_INVALID --log "$why" "$W/bundle-cut"
done
mig_soft mutate "$W/d1.domain" "$W/domain-cut" truncate 300
mig B receive --expect CKR_ARGUMENTS_BAD --log "domain file: truncated record" "$W/bundle-B" "$W/domain-cut"
mig A init-token --expect CKR_ARGUMENTS_BAD --log "domain file: truncated record" "$W/domain-cut" cut
mig_soft mutate "$W/unit-C" "$W/unit-cut" truncate 40
mig A add --expect CKR_ATTRIBUTE_VALUE_INVALID --log "unit identity file: truncated record" \
	ha unit "$W/unit-cut"
mig_soft mutate "$W/approval-C" "$W/approval-cut" truncate 60
mig A add --expect CKR_ATTRIBUTE_VALUE_INVALID --log "approval file: truncated record" \
	ha approval "$W/approval-cut"

tap_diag "--- 4. unknown format versions, and a file of another kind"
mig_soft mutate "$W/bundle-B" "$W/bundle-v2" version 2
mig B receive --expect CKR_WRAPPED_KEY_INVALID \
	--log "migration bundle: format version 2 is not one this tpmha reads" "$W/bundle-v2"
mig_soft mutate "$W/d1.domain" "$W/domain-v2" version 2
mig A init-token --expect CKR_ARGUMENTS_BAD \
	--log "domain file: format version 2 is not one this tpmha reads" "$W/domain-v2" v2
mig B receive --expect CKR_ARGUMENTS_BAD \
	--log "domain file: format version 2 is not one this tpmha reads" "$W/bundle-B" "$W/domain-v2"
mig_soft mutate "$W/unit-C" "$W/unit-v2" version 2
mig A add --expect CKR_ATTRIBUTE_VALUE_INVALID \
	--log "unit identity file: format version 2 is not one this tpmha reads" ha unit "$W/unit-v2"
mig_soft mutate "$W/approval-C" "$W/approval-v2" version 2
mig A add --expect CKR_ATTRIBUTE_VALUE_INVALID \
	--log "approval file: format version 2 is not one this tpmha reads" ha approval "$W/approval-v2"
mig B receive --expect CKR_WRAPPED_KEY_INVALID \
	--log "migration bundle expected, but this is a domain file" "$W/d1.domain"

tap_diag "--- 6. an MA-signed policy for TPM2_Sign (both domains: RSA and EC MAs)"
mig_soft esys-sign "$A_TCTI" "$A_STORE" "$W/d1.domain" "$W/d1.pem"
mig_soft esys-sign "$A_TCTI" "$A_STORE" "$W/d2.domain" "$W/d2.pem"
mig A use ha "$W" rsa ec
mig A use ha2 "$W/d2" rsa ec
tap_finish
