#!/usr/bin/env bash
# Migration between TPM 1.2 units through the `tpmha` CLI: units A, B, C (swtpm in
# TPM 1.2 mode + its own tcsd each) and D, E (TPM 2.0), a migration authority (MA)
# in a PEM file (RSA-2048, as TPM 1.2 needs).
#   - A -> B: a token with an RSA key and a certificate; replicate refused without an
#     approval, then replicate --request-out, domain approve --request, replicate
#     --approval, receive; on B the same PKCS#11 URI signs and decrypts (OpenSSL's
#     pkcs11 engine), checked with A's public key; and onward B -> C.
#   - an unapproved destination is refused by the TPM itself: tpm12_cmk_bypass calls
#     TPM_CMK_CreateTicket, TPM_AuthorizeMigrationKey and TPM_CMK_CreateBlob through
#     TSPI, bypassing tpmha, on the key blob tpmha keeps in A's store — B's approval
#     used toward C (TPM_E_MA_DESTINATION), an approval signed by another key
#     (TPM_E_BAD_SIGNATURE), with the approved destination as the control that works;
#   - changed bundles (a sample of bytes across the bundle flipped, one at a time)
#     are refused and the destination's store stays as it was after each;
#   - TPM 1.2 <-> TPM 2.0 replicate/receive refused with a clear message.
# Needs root (tcsd): SKIPs otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/p11env.sh"
. "$top/tests/cli/common.sh"

TPMHA=${TPMHA_CLI:-$build/tpmha}
MODULE=${TPMHA_MODULE:-$build/.libs/tpmha-pkcs11.so}
BYPASS=$build/tests/tpm12-migration/tpm12_cmk_bypass
export MODULE

p11env_tpm12_or_skip
tpmenv_init
tap_init

missing=
for tool in swtpm pkcs11-tool openssl python3; do
	command -v "$tool" >/dev/null || missing+=" $tool"
done
for f in "$TPMHA" "$MODULE" "$BYPASS"; do
	[ -e "$f" ] || missing+=" $f"
done
if [ -n "$missing" ]; then
	tap_notok "the tools and programs this test needs are there" "missing:$missing"
	tap_finish
fi

for u in A B C; do
	if ! tpmenv_start_tpm12 $u 2>"$TPMENV_DIR/start$u.err"; then
		tap_notok "TPM 1.2 unit $u starts (swtpm + tcsd)" "$(cat "$TPMENV_DIR/start$u.err")"
		tap_finish
	fi
	tpmenv_config $u
done
for u in D E; do
	if ! tpmenv_start_tpm2 $u 2>"$TPMENV_DIR/start$u.err"; then
		tap_notok "TPM 2.0 unit $u starts" "$(cat "$TPMENV_DIR/start$u.err")"
		tap_finish
	fi
	tpmenv_config $u
done
tap_ok "units A, B, C on TPM 1.2 (tcsd ports $A_TCSD_PORT, $B_TCSD_PORT, $C_TCSD_PORT), D and E on TPM 2.0"
unset TPMHA_CONF TPMHA_TCTI TPMHA_STORE
onA() { TPMHA_CONF=$A_CONF "$@"; }
onB() { TPMHA_CONF=$B_CONF "$@"; }
onC() { TPMHA_CONF=$C_CONF "$@"; }
onD() { TPMHA_CONF=$D_CONF "$@"; }
onE() { TPMHA_CONF=$E_CONF "$@"; }
P11ENV_WORK=$TPMENV_DIR/work
W=$P11ENV_WORK
mkdir -p "$W"
export P11ENV_WORK
cd "$W" || exit 1
umask 077
PIN=user-pin-1234 SO_PIN=so-pin-5678
echo "$PIN" >user.pin
echo "$SO_PIN" >so.pin
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out ma.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null
MA=(--ma-key-file ma.pem)
if ! p11env_engine_conf 2>engine.err; then
	tap_notok "libp11's pkcs11 engine is installed" "$(cat engine.err)"
	tap_finish
fi
URI="pkcs11:token=web;object=web-key"
KEY="$URI;type=private;pin-value=$PIN"
E=(-engine pkcs11 -keyform engine)

# The destination's store, as a value: every row of its database, every other file.
snapshot() { # STORE-DIR
	python3 - "$1" <<-'PY'
		import hashlib, os, sqlite3, sys
		d = sys.argv[1]
		h = hashlib.sha256()
		for name in sorted(os.listdir(d)):
		    p = os.path.join(d, name)
		    if name == "tpmha.sqlite3":
		        db = sqlite3.connect("file:%s?mode=ro" % p, uri=True)
		        for line in db.iterdump():
		            h.update(line.encode())
		        db.close()
		    elif not name.startswith("tpmha.sqlite3-"):
		        h.update(name.encode())
		        h.update(open(p, "rb").read())
		print(h.hexdigest())
	PY
}

# --- a domain, units, a token on A ---------------------------------------------------------
check 0 "domain create: the RSA-2048 MA serves TPM 1.2" 'TPM versions: 2\.0 and 1\.2' \
	"$TPMHA" domain create --out domain.tpmha --label ha12 "${MA[@]}"
for u in A B C; do
	check 0 "unit init on $u: a TPM 1.2 unit" "^unit \"unit-$u\" \\(id [0-9a-f]{32}, TPM 1\\.2\\) written to unit$u.tpmha" \
		on$u "$TPMHA" unit init --out unit$u.tpmha --label unit-$u
done
for u in D E; do
	check 0 "unit init on $u: a TPM 2.0 unit" "TPM 2\\.0\\) written to unit$u.tpmha" \
		on$u "$TPMHA" unit init --out unit$u.tpmha --label unit-$u
done
check 0 "token init --domain on A" 'migration domain "ha12"' \
	onA "$TPMHA" token init --label web --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin
check 0 "key generate rsa:2048 on A: a certifiable migratable key of the domain" '' \
	onA "$TPMHA" key generate --token web --type rsa:2048 --label web-key --id 01 --pubout web-key.pub.pem \
	--pin-file user.pin
cert_a() {
	onA p11env_openssl req -new -x509 "${E[@]}" -key "$KEY" -subj /CN=localhost -days 2 -out web.crt &&
		openssl verify -CAfile web.crt web.crt &&
		onA "$TPMHA" cert import --token web --file web.crt --id 01 --label web-key --pin-file user.pin
}
tap_run "a certificate signed on A by URI (OpenSSL's engine), stored in the token" cert_a
echo "signed on A" >doc-a.txt
sign_with() { # UNIT-FN FILE : sign FILE by URI on that unit, verify with A's public key
	"$1" p11env_openssl dgst -sha256 "${E[@]}" -sign "$KEY" -out "$2.sig" "$2" &&
		openssl dgst -sha256 -verify web-key.pub.pem -signature "$2.sig" "$2"
}
tap_expect "A signs by URI ($URI)" '^Verified OK$' sign_with onA doc-a.txt
head -c 48 /dev/urandom >secret
openssl pkeyutl -encrypt -pubin -inkey web-key.pub.pem -in secret -out secret.enc -pkeyopt rsa_padding_mode:pkcs1

# --- A -> B, with the two approval steps -----------------------------------------------------
check 2 "replicate to B without an approval: refused, the per-key approval flow named" \
	'a TPM 1\.2 unit is approved key by key .*--request-out' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --out b.bundle --pin-file user.pin
[ ! -e b.bundle ]
tap_result $? "no bundle is written"
check 2 "domain approve --unit for a TPM 1.2 unit: refused, --request is needed" 'approved key by key: give --request' \
	"$TPMHA" domain approve --domain domain.tpmha --unit unitB.tpmha --out x.tpmha "${MA[@]}"
check 0 "replicate --request-out: what the MA must sign for B" 'approval request for unit "unit-B"' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --request-out reqB.tpmha --pin-file user.pin
check 2 "domain approve --request signed by another key: refused" 'is not the migration authority of domain "ha12"' \
	"$TPMHA" domain approve --domain domain.tpmha --request reqB.tpmha --out x.tpmha --ma-key-file other.pem
check 0 "domain approve --request: the MA signs B for each key and PIN object" \
	'approved in domain "ha12" .*for the requested keys' \
	"$TPMHA" domain approve --domain domain.tpmha --request reqB.tpmha --out approvalB.tpmha "${MA[@]}"
grep -q 'key "SO PIN"' "$OUT" && grep -q 'key "user PIN"' "$OUT" && grep -q 'key "web-key"' "$OUT"
tap_result $? "the approval names the SO PIN, the user PIN and web-key" "$(cat "$OUT")"
check 0 "replicate --approval: the bundle for B" '"whole_token": true' \
	onA "$TPMHA" replicate --token web --to unitB.tpmha --approval approvalB.tpmha --out b.bundle \
	--pin-file user.pin --json
[ "$(json_get "$JSON" 'j["keys"]')" = 1 ] && [ "$(json_get "$JSON" 'j["size"]')" = "$(stat -c %s b.bundle)" ]
tap_result $? "the bundle holds the key, and its size is right" "$(cat "$JSON")"
check 2 "the bundle for B received on C: refused, it names both units" \
	'CKR_WRAPPED_KEY_INVALID.*|the bundle was made for unit' \
	onC "$TPMHA" receive --in b.bundle --domain domain.tpmha

# --- changed bundles, before B has the token (nothing may be stored) --------------------------
SIZE=$(stat -c %s b.bundle)
flips() { # UNIT-FN STORE-DIR PHASE(0|1) : every other position of the sample, one at a time
	local unit=$1 store=$2 phase=$3 before after i pos st byte refused=0 bad=0 msgs=
	local -a sample=(0 1 2 3 $((SIZE - 2)) $((SIZE - 1)))
	for ((i = 0; i < 44; i++)); do sample+=($((4 + i * (SIZE - 6) / 44))); done
	before=$(snapshot "$store") || return 1
	for ((i = phase; i < ${#sample[@]}; i += 2)); do
		pos=${sample[i]}
		cp b.bundle flip.bundle
		byte=$(od -An -tu1 -j "$pos" -N1 b.bundle | tr -d ' ')
		# shellcheck disable=SC2059
		printf "\\$(printf %03o $((byte ^ 0x5a)))" | dd of=flip.bundle bs=1 seek="$pos" conv=notrunc status=none
		"$unit" "$TPMHA" receive --in flip.bundle --domain domain.tpmha >flip.out 2>&1
		st=$?
		after=$(snapshot "$store")
		if [ $st -eq 2 ] && [ "$after" = "$before" ]; then
			refused=$((refused + 1))
			msgs+=$(grep -Eo 'CKR_[A-Z_]+|is not a tpmha bundle|another domain|truncated' flip.out | head -1)$'\n'
		else
			bad=$((bad + 1))
			echo "byte $pos: status $st, store $([ "$after" = "$before" ] && echo unchanged || echo CHANGED)"
			cat flip.out
		fi
	done
	echo "$refused refused; how:"
	sort <<<"$msgs" | uniq -c | sed '/^ *[0-9]* $/d'
	[ $bad -eq 0 ] && [ $refused -gt 20 ]
}
tap_run "25 bundles with one byte changed each (across all $SIZE bytes), received on B before the real one: all refused (status 2), B's store unchanged after each" \
	flips onB "$B_DIR/store" 0
tap_diag <"$TAP_OUT"

# --- B receives, and uses the key by the same URI ----------------------------------------------
check 0 "receive on B: the whole token, new here" 'received the whole token into the new token "web"' \
	onB "$TPMHA" receive --in b.bundle --domain domain.tpmha
decrypt_on() { # UNIT-FN
	"$1" p11env_openssl pkeyutl -decrypt "${E[@]}" -inkey "$KEY" -in secret.enc -out "secret.$1" \
		-pkeyopt rsa_padding_mode:pkcs1 && cmp secret "secret.$1" && echo "plaintext recovered"
}
echo "signed on B" >doc-b.txt
tap_expect "B signs by the same URI; A's public key verifies it" '^Verified OK$' sign_with onB doc-b.txt
tap_expect "B decrypts, by the same URI, what openssl encrypted to A's key (PKCS#1 v1.5)" 'plaintext recovered' \
	decrypt_on onB
same_cert() {
	onB pkcs11-tool --module "$MODULE" --token-label web --read-object --type cert --label web-key -o b.crt.der &&
		openssl x509 -in web.crt -outform DER | cmp - b.crt.der && echo "same certificate"
}
tap_expect "B holds the same certificate under the same label" 'same certificate' same_cert
tap_expect "pkcs11-tool -L on B: the same token label and serial as on A" \
	"serial num +: $(onA "$TPMHA" token list | awk '/web/ { print $2 }')" \
	onB pkcs11-tool --module "$MODULE" -L
tap_expect_fail "a wrong PIN on B: CKR_PIN_INCORRECT (the PIN object came along)" 'CKR_PIN_INCORRECT' \
	onB pkcs11-tool --module "$MODULE" --token-label web --login --pin "wrong$PIN" -O
check 0 "tpmha status on A records the replica on B" 'unit-B' onA "$TPMHA" status --json
check 0 "tpmha status on B: TPM 1.2, token web in domain ha12" 'domain "ha12"' onB "$TPMHA" status

# --- changed bundles, now that B holds the token (nothing may change) ---------------------------
tap_run "25 more changed bundles received on B, which holds the token now: all refused, B's store unchanged after each" \
	flips onB "$B_DIR/store" 1
tap_diag <"$TAP_OUT"
tap_expect "B still signs after those" '^Verified OK$' sign_with onB doc-b.txt

# --- unapproved destinations: the CLI, then the TPM itself -------------------------------------
check 2 "replicate to C with B's approval: refused" 'approves unit .* not unit "unit-C"' \
	onA "$TPMHA" replicate --token web --to unitC.tpmha --approval approvalB.tpmha --out c.bundle --pin-file user.pin
check 2 "replicate to C without an approval: refused" 'has not approved these keys for unit "unit-C"' \
	onA "$TPMHA" replicate --token web --to unitC.tpmha --out c.bundle --pin-file user.pin
[ ! -e c.bundle ]
tap_result $? "no bundle for C is written"
BY=("$BYPASS" --domain domain.tpmha)
check 0 "TSPI directly on A's key blob (A's store), the MA's approval for B, toward B: the TPM makes the migration blob (the control)" \
	'TPM_CMK_CreateBlob: ok' \
	"${BY[@]}" --tcsd "$A_TCSD_PORT" --store "$A_DIR/store" --approve unitB.tpmha --to unitB.tpmha --signer ma.pem
check 3 "TSPI directly: the MA's approval for B used toward C: TPM_CMK_CreateBlob refused by the TPM, TPM_E_MA_DESTINATION" \
	'TPM_CMK_CreateBlob: refused by the TPM: TPM_E_MA_DESTINATION \(0x5d\)' \
	"${BY[@]}" --tcsd "$A_TCSD_PORT" --store "$A_DIR/store" --approve unitB.tpmha --to unitC.tpmha --signer ma.pem
grep -q 'TPM_CMK_CreateTicket: ok' "$OUT" && grep -q 'TPM_AuthorizeMigrationKey (TPM_MS_RESTRICT_APPROVE): ok' "$OUT"
tap_result $? "(the ticket and the owner's authorization of C went through: only the TPM's CMK check stopped it)" "$(cat "$OUT")"
check 3 "TSPI directly: an approval of C signed by another key: TPM_CMK_CreateTicket refused, TPM_E_BAD_SIGNATURE" \
	'TPM_CMK_CreateTicket: refused by the TPM: TPM_E_BAD_SIGNATURE \(0x62\)' \
	"${BY[@]}" --tcsd "$A_TCSD_PORT" --store "$A_DIR/store" --approve unitC.tpmha --to unitC.tpmha --signer other.pem
check 3 "TSPI directly on B's copy (under B's storage key): toward C with the approval of A: TPM_E_MA_DESTINATION" \
	'TPM_CMK_CreateBlob: refused by the TPM: TPM_E_MA_DESTINATION' \
	"${BY[@]}" --tcsd "$B_TCSD_PORT" --store "$B_DIR/store" --approve unitA.tpmha --to unitC.tpmha --signer ma.pem

# --- onward B -> C (the copy is still a CMK of the MA) --------------------------------------------
check 0 "on B: replicate --request-out for C" 'approval request for unit "unit-C"' \
	onB "$TPMHA" replicate --token web --to unitC.tpmha --request-out reqC.tpmha --pin-file user.pin
check 0 "the MA approves C for B's keys" 'for the requested keys' \
	"$TPMHA" domain approve --domain domain.tpmha --request reqC.tpmha --out approvalC.tpmha "${MA[@]}"
check 0 "B replicates the token to C" 'written to c.bundle' \
	onB "$TPMHA" replicate --token web --to unitC.tpmha --approval approvalC.tpmha --out c.bundle --pin-file user.pin
check 0 "C receives it" 'received the whole token' onC "$TPMHA" receive --in c.bundle --domain domain.tpmha
echo "signed on C" >doc-c.txt
tap_expect "C signs by the same URI; A's public key verifies it" '^Verified OK$' sign_with onC doc-c.txt
tap_expect "C decrypts by the same URI" 'plaintext recovered' decrypt_on onC

# --- TPM 1.2 <-> TPM 2.0 ------------------------------------------------------------------------------
VERSIONS='TPM (1\.2|2\.0).*TPM (1\.2|2\.0)|between TPM versions|another TPM version'
check 2 "A (1.2) -> D (2.0), replicate --request-out: refused, saying the TPM versions differ" "$VERSIONS" \
	onA "$TPMHA" replicate --token web --to unitD.tpmha --request-out reqD.tpmha --pin-file user.pin
check 0 "the MA approves D (a TPM 2.0 unit: once for all keys)" 'approved in domain' \
	"$TPMHA" domain approve --domain domain.tpmha --unit unitD.tpmha --out approvalD.tpmha "${MA[@]}"
check 2 "A (1.2) -> D (2.0) with D's approval: refused, saying the TPM versions differ" "$VERSIONS" \
	onA "$TPMHA" replicate --token web --to unitD.tpmha --approval approvalD.tpmha --out d.bundle --pin-file user.pin
check 2 "A (1.2) -> D (2.0) with D's approval: refused (status 2)" '' \
	onA "$TPMHA" replicate --token web --to unitD.tpmha --approval approvalD.tpmha --out d.bundle --pin-file user.pin
[ ! -e d.bundle ]
tap_result $? "no bundle for D is written"
tap_expect "A's module log says why: moving keys between TPM versions is not supported yet" \
	'unit unit-D has a TPM 2\.0 and this unit a TPM 1\.2: moving keys between TPM versions is not supported' \
	cat "$A_DIR/tpmha.log"
check 0 "a domain token with a key on D (TPM 2.0)" '' \
	sh -c 'TPMHA_CONF=$0 "$1" token init --label web2 --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin &&
		TPMHA_CONF=$0 "$1" key generate --token web2 --type rsa:2048 --label k --pin-file user.pin' "$D_CONF" "$TPMHA"
check 2 "D (2.0) -> B (1.2), replicate --request-out: refused, saying the TPM versions differ" "$VERSIONS" \
	onD "$TPMHA" replicate --token web2 --to unitB.tpmha --request-out reqDB.tpmha --pin-file user.pin
tap_expect "D's module log says why" \
	'unit unit-B has a TPM 1\.2 and this unit a TPM 2\.0: moving keys between TPM versions is not supported' \
	cat "$D_DIR/tpmha.log"
# A TPM 2.0 bundle (D -> E) offered to a TPM 1.2 unit, and a TPM 1.2 bundle to a TPM 2.0 one.
check 0 "the MA approves E; D replicates to E (TPM 2.0 -> 2.0)" 'written to e.bundle' \
	sh -c '"$0" domain approve --domain domain.tpmha --unit unitE.tpmha --out approvalE.tpmha --ma-key-file ma.pem &&
		TPMHA_CONF=$1 "$0" replicate --token web2 --to unitE.tpmha --approval approvalE.tpmha --out e.bundle --pin-file user.pin' \
	"$TPMHA" "$D_CONF"
before=$(snapshot "$B_DIR/store")
check 2 "a TPM 2.0 bundle received on a TPM 1.2 unit (B): refused, naming the unit it was made for" \
	'CKR_WRAPPED_KEY_INVALID.*|the bundle was made for unit' onB "$TPMHA" receive --in e.bundle --domain domain.tpmha
[ "$before" = "$(snapshot "$B_DIR/store")" ]
tap_result $? "B's store is unchanged"
before=$(snapshot "$D_DIR/store")
check 2 "a TPM 1.2 bundle (A -> B) received on a TPM 2.0 unit (D): refused, naming the unit it was made for" \
	'the bundle was made for unit' onD "$TPMHA" receive --in b.bundle --domain domain.tpmha
[ "$before" = "$(snapshot "$D_DIR/store")" ]
tap_result $? "D's store is unchanged"

tap_finish
