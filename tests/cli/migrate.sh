#!/usr/bin/env bash
# Migration through the `tpmha` CLI between three real emulated TPM 2.0 units
# (swtpm A, B, C; one configuration and store each) with the migration authority
# in SoftHSM (RSA-2048 and EC P-256 keys) or in a PEM file:
#   domain create / show / approve, unit init (twice: the same file), token init
#   --domain, replicate (whole token and one key), receive, unit add / list,
#   approval add, status — and the refusals: no approval, a bundle for another
#   unit, a changed bundle, another domain, a key made to stay, a token without a
#   domain, a wrong MA key or PIN. Keys that arrive sign on the destination
#   (pkcs11-tool) and verify with the public key the source wrote.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"
. "$top/tests/cli/common.sh"

TPMHA=${TPMHA_CLI:-$build/tpmha} # TPMHA_CLI: e.g. a wrapper that runs it under valgrind
MODULE=${TPMHA_MODULE:-$build/.libs/tpmha-pkcs11.so}
SOFTHSM=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}

tpmenv_init
tap_init

missing=
for tool in swtpm pkcs11-tool openssl softhsm2-util python3; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
[ -f "$SOFTHSM" ] || missing+=" $SOFTHSM"
if [ -n "$missing" ] || [ ! -x "$TPMHA" ]; then
	tap_notok "the tools this test needs are there" "missing:$missing${TPMHA:+ (tpmha: $TPMHA)}" \
		"./quickstart installs them"
	tap_finish
fi

# --- usage, before any TPM ----------------------------------------------------------
check 0 "tpmha --help lists the migration commands" 'replicate' "$TPMHA" --help
HELP=$OUT
for cmd in "domain create" "domain approve" "domain show" "unit init" "unit add" "unit list" \
	"approval add" "replicate" "receive"; do
	grep -q "^  $cmd " "$HELP" || tap_notok "tpmha --help lists '$cmd'"
	# shellcheck disable=SC2086
	check 0 "tpmha $cmd --help" "^Usage: tpmha $cmd .*" "$TPMHA" $cmd --help
done
check 1 "domain create needs the MA key" 'needs --ma-key or --ma-key-file' \
	"$TPMHA" domain create --out /dev/null
check 1 "--ma-key needs --ma-module" 'needs --ma-module' \
	"$TPMHA" domain create --out x --ma-key 'pkcs11:token=ma;object=ma'
check 1 "--ma-key and --ma-key-file together" 'not both' \
	"$TPMHA" domain create --out x --ma-key 'pkcs11:object=ma' --ma-key-file ma.pem
check 1 "a PIN in the MA key's URI is refused" 'no PIN in the URI' \
	"$TPMHA" domain create --out x --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma?pin-value=1234'
check 1 "an unknown URI attribute is refused" "attribute 'slot-id' is not supported" \
	"$TPMHA" domain create --out x --ma-module "$SOFTHSM" --ma-key 'pkcs11:slot-id=1;object=ma'
check 1 "the URI must name the key" 'must name the key' \
	"$TPMHA" domain create --out x --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma'
check 1 "the URI must name a private key" 'type=private' \
	"$TPMHA" domain create --out x --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma;type=public'
check 1 "replicate needs --to" 'needs --to' "$TPMHA" replicate --token x --out y
check 1 "replicate takes --key-id or --key-label, not both" 'not both' \
	"$TPMHA" replicate --token x --to y --out z --key-id 01 --key-label k
check 1 "receive needs --in" 'needs --in' "$TPMHA" receive

# --- three units and a migration authority in SoftHSM -----------------------------------
for u in A B C; do
	if ! tpmenv_start_tpm2 $u 2>"$TPMENV_DIR/start$u.err"; then
		tap_notok "swtpm $u starts" "$(cat "$TPMENV_DIR/start$u.err")"
		tap_finish
	fi
	tpmenv_config $u
done
unset TPMHA_CONF TPMHA_TCTI TPMHA_STORE
onA() { TPMHA_CONF=$A_CONF "$@"; }
onB() { TPMHA_CONF=$B_CONF "$@"; }
onC() { TPMHA_CONF=$C_CONF "$@"; }
W=$TPMENV_DIR/work
mkdir -p "$W/softhsm"
cd "$W" || exit 1
umask 077
PIN=user-pin-1234 SO_PIN=so-pin-5678 MA_PIN=ma-pin-4321
echo "$PIN" >user.pin
echo "$SO_PIN" >so.pin
echo "$MA_PIN" >ma.pin
echo 0000 >wrong.pin
cat >softhsm/softhsm2.conf <<CONF
directories.tokendir = $W/softhsm
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
export SOFTHSM2_CONF=$W/softhsm/softhsm2.conf
ma_tool() { pkcs11-tool --module "$SOFTHSM" --token-label ma --login --pin "$MA_PIN" "$@"; }
check 0 "a SoftHSM token for the migration authority" '' \
	softhsm2-util --init-token --free --label ma --pin "$MA_PIN" --so-pin 87654321
check 0 "an RSA-2048 MA key in it" '' ma_tool --keypairgen --key-type rsa:2048 --label ma --id 01
check 0 "an EC P-256 MA key in it" '' ma_tool --keypairgen --key-type EC:prime256v1 --label ma-ec --id 02
check 0 "an RSA-3072 key in it (not fit for an MA)" '' ma_tool --keypairgen --key-type rsa:3072 --label big --id 03
MA=(--ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma' --ma-pin-file ma.pin)
MA_EC=(--ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;id=%02;type=private' --ma-pin-env MA_PIN_VAR)
export MA_PIN_VAR=$MA_PIN

# --- domain create / show -----------------------------------------------------------------
check 0 "domain create with the MA in SoftHSM" '^  fingerprint:  [0-9a-f]{64}$' \
	"$TPMHA" domain create --out domain.tpmha --label prod "${MA[@]}"
FP=$(sed -n 's/^  fingerprint:  //p' "$OUT")
grep -q 'MA key:       RSA-2048 key pkcs11:token=ma;object=ma in' "$OUT"
tap_result $? "domain create names the MA key" "$(cat "$OUT")"
[ "$FP" = "$(sha256sum domain.tpmha | cut -d' ' -f1)" ]
tap_result $? "the fingerprint is the SHA-256 of the file"
check 0 "domain show --json" "\"fingerprint\": \"$FP\"" "$TPMHA" domain show --domain domain.tpmha --json
check_json "domain show --json parses"
[ "$(json_get "$JSON" 'j["ma_key_type"]')" = rsa:2048 ] && [ "$(json_get "$JSON" 'j["label"]')" = prod ]
tap_result $? "domain show --json: label and MA key type"
check 2 "an RSA-3072 MA key is refused" 'must be RSA-2048 or EC P-256' \
	"$TPMHA" domain create --out big.tpmha --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=big' \
	--ma-pin-file ma.pin
check 3 "a wrong MA PIN exits 3" 'CKR_PIN_INCORRECT' \
	"$TPMHA" domain create --out x.tpmha --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma' \
	--ma-pin-file wrong.pin
check 2 "an MA key that is not there" 'no private key in token "ma" matches' \
	"$TPMHA" domain create --out x.tpmha --ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=nosuch' \
	--ma-pin-file ma.pin
check 2 "a file that is not a domain" 'not a valid tpmha domain file' \
	"$TPMHA" domain show --domain user.pin

# --- unit init --------------------------------------------------------------------------------
for u in A B C; do
	check 0 "unit init on $u" "^unit \"unit-$u\" \\(id [0-9a-f]{32}, TPM 2\\.0\\) written to unit$u.tpmha" \
		on$u "$TPMHA" unit init --out unit$u.tpmha --label unit-$u
done
check 0 "unit init on B again, --json" '"tpm_version": 20' onB "$TPMHA" unit init --out unitB2.tpmha --label unit-B --json
check_json "unit init --json parses"
cmp unitB.tpmha unitB2.tpmha
tap_result $? "unit init twice gives the same file"
B_ID=$(json_get "$JSON" 'j["id"]')
C_ID=$(onC "$TPMHA" unit init --out /dev/null --label x --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

# --- domain approve -------------------------------------------------------------------------------
check 0 "domain approve B (RSA MA in SoftHSM)" "^unit \"unit-B\" \\(id $B_ID, TPM 2\\.0\\) approved in domain \"prod\"" \
	"$TPMHA" domain approve --domain domain.tpmha --unit unitB.tpmha --out approvalB.tpmha "${MA[@]}"
check 0 "domain approve C, --json" "\"id\": \"$C_ID\"" \
	"$TPMHA" domain approve --domain domain.tpmha --unit unitC.tpmha --out approvalC.tpmha "${MA[@]}" --json
check_json "domain approve --json parses"
check 2 "another key cannot approve for this domain" 'is not the migration authority of domain "prod"' \
	"$TPMHA" domain approve --domain domain.tpmha --unit unitB.tpmha --out x.tpmha "${MA_EC[@]}"

# --- a domain token on A ------------------------------------------------------------------------------
check 2 "token init --domain with a file that is not a domain: refused before any PIN" \
	'not a valid tpmha domain file' onA "$TPMHA" token init --label bad --domain unitB.tpmha
check 0 "and no token was made" '^no tokens' onA "$TPMHA" token list
check 0 "token init --domain on A" "^migration domain \"prod\" \\(fingerprint $FP\\)" \
	onA "$TPMHA" token init --label web --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin
check 0 "an RSA key on A" '' onA "$TPMHA" key generate --token web --type rsa:2048 --label tls --id 01 \
	--pubout tls.pub.pem --pin-file user.pin
check 0 "an EC key on A" '' onA "$TPMHA" key generate --token web --type ec:p256 --label sig --id 02 \
	--pubout sig.pub.pem --pin-file user.pin
check 0 "a key made to stay on A (--unit-only)" '' onA "$TPMHA" key generate --token web --type ec:p256 \
	--label local --id 03 --unit-only --pin-file user.pin
openssl req -new -x509 -newkey rsa:2048 -nodes -keyout other.key -subj /CN=web.example -days 30 \
	-out tls.crt 2>/dev/null
check 0 "a certificate with the RSA key's ID" '' onA "$TPMHA" cert import --token web --file tls.crt --id 01 \
	--label tls --pin-file user.pin
check 0 "unit list on A: only this unit" '^units: 1$' onA "$TPMHA" unit list --token web
grep -Eq '^approvals: 0$' "$OUT" && grep -Eq '\(this unit\)' "$OUT"
tap_result $? "unit list shows this unit and no approvals" "$(cat "$OUT")"

# --- refusals on the sending side ------------------------------------------------------------------------
check 2 "replicate to C without an approval is refused" \
	'the migration authority has not approved unit "unit-C"' \
	onA "$TPMHA" replicate --token web --to unitC.tpmha --out c.bundle --pin-file user.pin
[ ! -e c.bundle ]
tap_result $? "no bundle is written"
check 0 "and the token does not keep unit C" '^units: 1$' onA "$TPMHA" unit list --token web
check 2 "replicating a key made to stay is refused" 'made to stay on this unit' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --approval approvalB.tpmha --key-id 03 \
	--out x.bundle --pin-file user.pin
check 2 "an approval of another unit is refused" 'approves unit .* not unit "unit-B"' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --approval approvalC.tpmha --out x.bundle \
	--pin-file user.pin
check 2 "replicating to this unit itself is refused" 'is this unit' \
	onA "$TPMHA" replicate --token web --to unitA.tpmha --out x.bundle --pin-file user.pin
check 3 "replicate with a wrong PIN exits 3" 'CKR_PIN_INCORRECT' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --out x.bundle --pin-file wrong.pin
check 0 "a token without a domain" '' onA "$TPMHA" token init --label plain --so-pin-file so.pin --pin-file user.pin
check 0 "with a key" '' onA "$TPMHA" key generate --token plain --type ec:p256 --label k --pin-file user.pin
check 2 "its keys never leave the unit" 'has no migration domain: its keys never leave this unit' \
	onA "$TPMHA" replicate --token plain --to unitB.tpmha --approval approvalB.tpmha --out x.bundle \
	--pin-file user.pin
check 2 "nor does it take approvals" 'has no migration domain' \
	onA "$TPMHA" approval add --token plain --file approvalB.tpmha

# --- A → B ---------------------------------------------------------------------------------------------------
check 0 "replicate the token to B" '"whole_token": true' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --approval approvalB.tpmha --out b.bundle \
	--pin-file user.pin --json
check_json "replicate --json parses"
[ "$(json_get "$JSON" 'j["keys"]')" = 2 ] && [ "$(json_get "$JSON" 'j["size"]')" = "$(stat -c %s b.bundle)" ]
tap_result $? "the bundle has the 2 keys that may travel, and its size" "$(cat "$JSON")"
grep -q 'replicating token "web" to unit "unit-B"' "$OUT.err" && grep -q 'keys made to stay here are left out' "$OUT.err"
tap_result $? "progress on stderr" "$(cat "$OUT.err")"
check 0 "unit list on A: B and its valid approval" '"state": "valid"' onA "$TPMHA" unit list --token web --json
check_json "unit list --json parses"
[ "$(json_get "$JSON" '[a["state"] for a in j["approvals"]]')" = "['valid']" ] &&
	[ "$(json_get "$JSON" 'sorted(u["label"] for u in j["units"])')" = "$(python3 -c "import sys; print(sorted([sys.argv[1], 'unit-B']))" "$(hostname)")" ]
tap_result $? "unit list --json: the units and the approval's state" "$(cat "$JSON")"

check 1 "receive of a new token without --domain is a usage error" 'is new on this unit: give --domain' \
	onB "$TPMHA" receive --in b.bundle
check 2 "receive of A's bundle for B on C is refused" \
	'CKR_WRAPPED_KEY_INVALID: the bundle is not for this unit, is from another domain, or was changed on the way' \
	onC "$TPMHA" receive --in b.bundle --domain domain.tpmha
grep -q "the bundle was made for unit $B_ID; this unit is $C_ID" "$OUT"
tap_result $? "the refusal says which unit the bundle is for" "$(cat "$OUT")"
check 0 "and C stores nothing" '^no tokens' onC "$TPMHA" token list
cp b.bundle changed.bundle
printf 'x' | dd of=changed.bundle bs=1 seek=$(($(stat -c %s b.bundle) - 10)) conv=notrunc 2>/dev/null
check 2 "a changed bundle is refused on B" 'changed on the way' \
	onB "$TPMHA" receive --in changed.bundle --domain domain.tpmha
check 0 "and B stores nothing" '^no tokens' onB "$TPMHA" token list
head -c 100 b.bundle >short.bundle
check 2 "a truncated bundle is refused" 'not a tpmha bundle, or it is truncated' \
	onB "$TPMHA" receive --in short.bundle --domain domain.tpmha
check 0 "receive on B" '^received the whole token into the new token "web" \(serial [0-9a-f]{16}, slot [0-9]+\): [0-9]+ objects \(2 keys\)' \
	onB "$TPMHA" receive --in b.bundle --domain domain.tpmha
check 0 "receive again, --json: the token is brought up to date" '"new_token": false' \
	onB "$TPMHA" receive --in b.bundle --json
check_json "receive --json parses"

p11B() { TPMHA_CONF=$B_CONF pkcs11-tool --module "$MODULE" --token-label web "$@"; }
p11C() { TPMHA_CONF=$C_CONF pkcs11-tool --module "$MODULE" --token-label web "$@"; }
echo "signed on another unit" >data
check 0 "B signs with the RSA key and the same PIN (pkcs11-tool)" '' \
	p11B --login --pin "$PIN" --sign --id 01 -m SHA256-RSA-PKCS -i data -o tls.sig
check 0 "openssl verifies it with the public key A wrote" 'Verified OK' \
	openssl dgst -sha256 -verify tls.pub.pem -signature tls.sig data
check 0 "B signs with the EC key" '' \
	p11B --login --pin "$PIN" --sign --id 02 -m ECDSA-SHA256 --signature-format openssl -i data -o sig.sig
check 0 "openssl verifies it with A's public key" 'Verified OK' \
	openssl dgst -sha256 -verify sig.pub.pem -signature sig.sig data
check 0 "pkcs11-tool on B sees the certificate" 'subject: +DN: CN=web.example' p11B -O --type cert
check 0 "pkcs11-tool on B lists the private keys" 'Private Key Object' p11B -O --login --pin "$PIN" --type privkey
[ "$(grep -c 'Private Key Object' "$OUT")" -eq 2 ] && ! grep -Eq 'label: +local$' "$OUT"
tap_result $? "the key made to stay did not travel" "$(cat "$OUT")"

# --- status: domains, units, approvals, replica records ---------------------------------------------------------
check 0 "status on A shows the domain" "domain \"prod\" \\(fingerprint $FP\\)" onA "$TPMHA" status
grep -q 'replicated key "tls" (ID 01) to unit "unit-B"' "$OUT" && grep -q 'replicated key "sig" (ID 02) to unit "unit-B"' "$OUT" &&
	grep -q 'domain none (its keys never leave this unit)' "$OUT" && grep -Eq '^  id: +[0-9a-f]{32}$' "$OUT"
tap_result $? "status: this unit, the replica records, the token without a domain" "$(cat "$OUT")"
check 0 "status --json on A" '"replicas"' onA "$TPMHA" status --json
check_json "status --json parses"
[ "$(json_get "$JSON" 'sorted(r["key_label"] + ">" + r["unit_label"] for t in j["tokens"] for r in t.get("replicas", []))')" = \
	"['sig>unit-B', 'tls>unit-B']" ] && [ "$(json_get "$JSON" '[t["domain"] for t in j["tokens"] if t["label"] == "plain"]')" = "[None]" ]
tap_result $? "status --json: replicas and domains" "$(cat "$JSON")"

# --- approvals and units by hand ----------------------------------------------------------------------------------
check 0 "unit add: a unit already there is not added twice" 'is already in token "web"' \
	onA "$TPMHA" unit add --token web --file unitB.tpmha
check 0 "approval add of C" 'added to token "web"' onA "$TPMHA" approval add --token web --file approvalC.tpmha
check 0 "unit add of C" 'unit "unit-C" .* added to token "web"' onA "$TPMHA" unit add --token web --file unitC.tpmha

# --- one key: into a token that is there, not into one that is not -------------------------------------------------
check 0 "one more key on A" '' onA "$TPMHA" key generate --token web --type rsa:2048 --label late --id 04 \
	--pubout late.pub.pem --pin-file user.pin
check 0 "replicate one key to B (--key-label)" 'one key of token "web".*\(1 key\)' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --key-label late --out late.bundle --pin-file user.pin
check 0 "receive it on B" '^received one key into the token "web"' onB "$TPMHA" receive --in late.bundle
check 0 "B signs with it" '' p11B --login --pin "$PIN" --sign --id 04 -m SHA256-RSA-PKCS -i data -o late.sig
check 0 "openssl verifies it with A's public key" 'Verified OK' \
	openssl dgst -sha256 -verify late.pub.pem -signature late.sig data
check 0 "replicate one key to C (--key-id)" '' \
	onA "$TPMHA" replicate --token web --to unitC.tpmha --key-id 04 --out late-c.bundle --pin-file user.pin
check 2 "C has no such token: one key cannot go in" 'receive the whole token first' \
	onC "$TPMHA" receive --in late-c.bundle --domain domain.tpmha

# --- onward: B → C ---------------------------------------------------------------------------------------------------
check 2 "B has no approval of C yet" 'has not approved unit "unit-C"' \
	onB "$TPMHA" replicate --token web --to unitC.tpmha --out c.bundle --pin-file user.pin
check 0 "B replicates to C once C is approved" '' \
	onB "$TPMHA" replicate --token web --to unitC.tpmha --approval approvalC.tpmha --out c.bundle --pin-file user.pin
check 0 "C receives it" 'new token "web"' onC "$TPMHA" receive --in c.bundle --domain domain.tpmha
check 0 "C signs with A's RSA key" '' p11C --login --pin "$PIN" --sign --id 01 -m SHA256-RSA-PKCS -i data -o c.sig
check 0 "openssl verifies it with the public key A wrote" 'Verified OK' \
	openssl dgst -sha256 -verify tls.pub.pem -signature c.sig data
check 0 "status on B records the onward copy" 'replicated key "tls" \(ID 01\) to unit "unit-C"' onB "$TPMHA" status

# --- another domain: the EC MA in SoftHSM ------------------------------------------------------------------------------
check 0 "domain create with the EC P-256 MA in SoftHSM" 'MA key: +EC P-256 key' \
	"$TPMHA" domain create --out ec.tpmha --label ec "${MA_EC[@]}"
grep -q 'TPM versions: 2.0 only' "$OUT"
tap_result $? "an EC MA serves TPM 2.0 units only" "$(cat "$OUT")"
check 0 "the EC MA approves B" 'approved in domain "ec"' \
	"$TPMHA" domain approve --domain ec.tpmha --unit unitB.tpmha --out approvalB-ec.tpmha "${MA_EC[@]}"
check 2 "approval add: an approval of another domain is refused" 'in another domain than token "web"' \
	onA "$TPMHA" approval add --token web --file approvalB-ec.tpmha
check 0 "a token in the EC domain on A" '' onA "$TPMHA" token init --label ecweb --domain ec.tpmha \
	--so-pin-file so.pin --pin-file user.pin
check 0 "with an RSA key" '' onA "$TPMHA" key generate --token ecweb --type rsa:2048 --label k --id 01 \
	--pubout ecweb.pub.pem --pin-file user.pin
check 0 "replicated to B" '' onA "$TPMHA" replicate --token ecweb --to unitB.tpmha \
	--approval approvalB-ec.tpmha --out ecweb.bundle --pin-file user.pin
check 2 "received with the wrong domain file: refused" 'the bundle is from domain [0-9a-f]{32}, not from domain "prod"' \
	onB "$TPMHA" receive --in ecweb.bundle --domain domain.tpmha
check 0 "received with its domain file" 'new token "ecweb"' onB "$TPMHA" receive --in ecweb.bundle --domain ec.tpmha
check 0 "B signs with it" '' \
	env TPMHA_CONF="$B_CONF" pkcs11-tool --module "$MODULE" --token-label ecweb --login --pin "$PIN" \
	--sign --id 01 -m SHA256-RSA-PKCS -i data -o ecweb.sig
check 0 "openssl verifies it with A's public key" 'Verified OK' \
	openssl dgst -sha256 -verify ecweb.pub.pem -signature ecweb.sig data

# --- the MA in a PEM file (low assurance) ----------------------------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes256 -pass pass:pem-pass-phrase \
	-out ma.pem 2>/dev/null
echo pem-pass-phrase >ma-pem.pass
check 0 "domain create with a PEM MA key (pass phrase from a file)" 'low assurance' \
	"$TPMHA" domain create --out pem.tpmha --label pem --ma-key-file ma.pem --ma-pin-file ma-pem.pass
check 2 "a wrong pass phrase is refused" 'no private key in ma.pem \(PEM\), or a wrong pass phrase' \
	"$TPMHA" domain create --out x.tpmha --ma-key-file ma.pem --ma-pin-file wrong.pin
check 0 "the PEM MA approves B" 'approved in domain "pem"' \
	"$TPMHA" domain approve --domain pem.tpmha --unit unitB.tpmha --out approvalB-pem.tpmha \
	--ma-key-file ma.pem --ma-pin-file ma-pem.pass
check 0 "a token in the PEM domain on A, with an EC key" '' onA "$TPMHA" token init --label pemweb \
	--domain pem.tpmha --so-pin-file so.pin --pin-file user.pin
check 0 "with an EC key" '' onA "$TPMHA" key generate --token pemweb --type ec:p256 --label k --id 01 \
	--pubout pemweb.pub.pem --pin-file user.pin
check 0 "replicated to B" '' onA "$TPMHA" replicate --token pemweb --to unitB.tpmha \
	--approval approvalB-pem.tpmha --out pemweb.bundle --pin-file user.pin
check 0 "received on B" 'new token "pemweb"' onB "$TPMHA" receive --in pemweb.bundle --domain pem.tpmha
check 0 "B signs with it" '' \
	env TPMHA_CONF="$B_CONF" pkcs11-tool --module "$MODULE" --token-label pemweb --login --pin "$PIN" \
	--sign --id 01 -m ECDSA-SHA256 --signature-format openssl -i data -o pemweb.sig
check 0 "openssl verifies it with A's public key" 'Verified OK' \
	openssl dgst -sha256 -verify pemweb.pub.pem -signature pemweb.sig data

tap_finish
