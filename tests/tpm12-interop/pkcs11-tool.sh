#!/usr/bin/env bash
# OpenSC's pkcs11-tool against a token on a TPM 1.2 unit (swtpm in TPM 1.2 mode and
# its own tcsd, tests/lib/tpmenv.sh): the part of tests/interop/pkcs11-tool.sh that a
# TPM 1.2 can do — RSA-2048 only, PKCS#1 v1.5 signatures (over any DigestInfo, the
# hashed SHA-1/256/384/512 variants, raw data up to k-11 bytes) and PKCS#1 v1.5
# decryption — each result checked by OpenSSL in software; and what it cannot do (EC,
# RSA-3072, PSS, standard OAEP) absent from the mechanism list and refused, never
# done in software. Needs root (tcsd): SKIPs otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

p11env_tpm12_or_skip
tpmenv_init
tap_init

if ! p11env_require pkcs11-tool openssl 2>"$TPMENV_DIR/require.err"; then
	tap_notok "pkcs11-tool and openssl are installed" "$(cat "$TPMENV_DIR/require.err")"
	tap_finish
fi
export P11ENV_TOKEN_LABEL=tpm12-interop
if ! p11env_setup --tpm12 2>"$TPMENV_DIR/setup.err"; then
	tap_notok "a token is initialized on a TPM 1.2 unit" "$(cat "$TPMENV_DIR/setup.err")"
	tap_finish
fi
tap_ok "C_InitToken + C_InitPIN through pkcs11-tool on a TPM 1.2 unit (tcsd at 127.0.0.1:$P11_TCSD_PORT)"
cd "$P11ENV_WORK" || exit 1

# --- slots and mechanisms -------------------------------------------------------
tap_expect "-L: the token's slot says TPM 1.2" 'Slot [0-9]+ \(0x[0-9a-f]+\): tpmha on TPM 1\.2' \
	pkcs11-tool --module "$MODULE" -L
tap_expect "-L shows the token with its label" "token label +: $TOKEN_LABEL\$" \
	pkcs11-tool --module "$MODULE" -L
tap_expect "-L: token initialized, user PIN initialized, login required" \
	'token flags +:.*login required.*token initialized.*PIN initialized' \
	pkcs11-tool --module "$MODULE" -L
p11env_tool -M >mechs.txt 2>&1
cat mechs.txt >&2
# What a TPM 1.2 does with a private key, exactly: the mechanisms flagged for
# key-pair generation, signing, decryption or unwrapping, each with its flags.
# (Mechanisms that only verify, encrypt or digest are public-key or hash work on
# the host and may be listed too.)
cat >private-mechs.want <<'WANT'
RSA-PKCS-KEY-PAIR-GEN, keySize={2048,2048}, hw, generate_key_pair
RSA-PKCS, keySize={2048,2048}, hw, encrypt, decrypt, sign, verify
SHA1-RSA-PKCS, keySize={2048,2048}, hw, sign, verify
SHA256-RSA-PKCS, keySize={2048,2048}, hw, sign, verify
SHA384-RSA-PKCS, keySize={2048,2048}, hw, sign, verify
SHA512-RSA-PKCS, keySize={2048,2048}, hw, sign, verify
mechtype-0xD4480001, hw, wrap, unwrap
mechtype-0xD4480002, keySize={2048,2048}, hw, encrypt, decrypt
WANT
private_mechs() {
	sed -n 's/^  //p' mechs.txt | grep -E ', (sign|decrypt|generate_key_pair|unwrap)(,|$)' >private-mechs.got
	diff -u private-mechs.want private-mechs.got
}
tap_run "-M: the private-key mechanisms are exactly a TPM 1.2's (RSA-2048 PKCS#1 v1.5 sign and decrypt, TCPA OAEP, migration)" \
	private_mechs
tap_run "-M: no EC mechanism at all" sh -c '! grep -E "^  (EC|ECDSA)[-,]" mechs.txt'
tap_run "-M: PSS and OAEP are never flagged for sign or decrypt" \
	sh -c '! grep -E "^  [A-Z0-9-]*(PSS|OAEP)," mechs.txt | grep -E ", (sign|decrypt)(,|$)"'
# (GnuTLS would read a listed PSS as "the key signs PSS" and pick TLS 1.3)
tap_run "-M: no PSS mechanism at all" sh -c '! grep -E "^  [A-Z0-9-]*PSS," mechs.txt'
tap_run "-M: every RSA mechanism is RSA-2048 only" \
	sh -c '! grep -E "keySize=\{" mechs.txt | grep -v "keySize={2048,2048}"'

# --- key generation ------------------------------------------------------------------
keygen() { # LABEL ID TYPE BITS
	p11env_keypair "$1" "$2" "$3" &&
		openssl pkey -pubin -in "$1.pub.pem" -text -noout | grep -E "Public-Key: \\($4 bit\\)"
}
tap_run "--keypairgen rsa:2048 in the TPM 1.2, public key read back: RSA 2048 bit" keygen rsa2048 01 rsa:2048 2048
tap_expect_fail "--keypairgen rsa:3072 is refused (a TPM 1.2 makes RSA-2048 only)" \
	'CKR_KEY_SIZE_RANGE|CKR_ATTRIBUTE_VALUE_INVALID|CKR_TEMPLATE_INCONSISTENT' \
	p11env_tool_login --keypairgen --key-type rsa:3072 --label rsa3072 --id 02
# (pkcs11-tool looks for the mechanism in the list first: "not supported")
tap_expect_fail "--keypairgen EC:prime256v1 is refused: the mechanism is not there" \
	'CKR_MECHANISM_INVALID|mechanism .* not supported' \
	p11env_tool_login --keypairgen --key-type EC:prime256v1 --label ec256 --id 03
objcount() { # WHAT EXPECTED [ARGS] : count "WHAT Object" lines of -O
	local what=$1 want=$2 n
	shift 2
	p11env_tool "$@" -O >objs.txt 2>&1 || { cat objs.txt; return 1; }
	cat objs.txt
	n=$(grep -c "^$what Key Object" objs.txt)
	[ "$n" -eq "$want" ] || { echo "expected $want $what keys, found $n"; return 1; }
}
tap_run "-O without login: the one public key, nothing left from the refused ones" objcount Public 1
tap_run "-O without login shows no private key" objcount Private 0
tap_run "-O with login: the one private key" objcount Private 1 --login --pin "$PIN"
tap_expect "-O with login: the private key is sensitive, never extractable, made in the TPM" \
	'Access: +sensitive, always sensitive, never extractable, local' cat objs.txt

# --- signatures, checked in software ---------------------------------------------------
head -c 1000 /dev/urandom >data
for h in sha1 sha256 sha384 sha512; do openssl dgst -"$h" -binary data >"data.$h"; done
# DigestInfo(SHA-256) || hash: what CKM_RSA_PKCS signs for a standard signature
{ printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; cat data.sha256; } >data.di256
sign() { # MECH ID IN OUT [ARGS]
	local m=$1 id=$2 in=$3 out=$4
	shift 4
	p11env_tool_login --sign -m "$m" --id "$id" -i "$in" -o "$out" "$@" &&
		[ "$(stat -c %s "$out")" -eq 256 ]
}
p11verify() { # MECH ID IN SIG : C_Verify with the token's public key
	p11env_tool --verify -m "$1" --id "$2" -i "$3" --signature-file "$4" 2>&1 |
		tee /dev/stderr | grep -q '^Signature is valid'
}

tap_run "--sign RSA-PKCS over a SHA-256 DigestInfo" sign RSA-PKCS 01 data.di256 sig.rsapkcs
tap_expect "openssl: it verifies as sha256WithRSAEncryption" '^Verified OK$' \
	openssl dgst -sha256 -verify rsa2048.pub.pem -signature sig.rsapkcs data
tap_expect "openssl: it recovers the exact DigestInfo (PKCS#1 v1.5 type 1 padding)" '^same$' \
	sh -c 'openssl pkeyutl -verifyrecover -pubin -inkey rsa2048.pub.pem -in sig.rsapkcs -out rec.bin && cmp rec.bin data.di256 && echo same'
tap_run "--verify RSA-PKCS in the token" p11verify RSA-PKCS 01 data.di256 sig.rsapkcs
for h in sha1 sha256 sha384 sha512; do
	H=$(echo "$h" | tr a-z A-Z)
	tap_run "--sign $H-RSA-PKCS" sign "$H-RSA-PKCS" 01 data "sig.$h"
	tap_expect "openssl verifies the $H-RSA-PKCS signature" '^Verified OK$' \
		openssl dgst -"$h" -verify rsa2048.pub.pem -signature "sig.$h" data
done
tap_run "--verify SHA256-RSA-PKCS in the token" p11verify SHA256-RSA-PKCS 01 data sig.sha256
# Raw data: TLS 1.0/1.1's MD5+SHA-1 (36 bytes), and the most a 2048-bit key takes (k-11 = 245)
head -c 36 /dev/urandom >raw36
head -c 245 /dev/urandom >raw245
head -c 246 /dev/urandom >raw246
rawsign() { # IN
	sign RSA-PKCS 01 "$1" "sig.$1" &&
		openssl pkeyutl -verifyrecover -pubin -inkey rsa2048.pub.pem -in "sig.$1" -out "rec.$1" &&
		cmp "$1" "rec.$1" && echo "recovered"
}
tap_expect "--sign RSA-PKCS over 36 raw bytes (TLS 1.0 MD5+SHA-1); openssl recovers them" 'recovered' rawsign raw36
tap_expect "--sign RSA-PKCS over 245 raw bytes (k-11, the most PKCS#1 v1.5 holds)" 'recovered' rawsign raw245
tap_expect_fail "--sign RSA-PKCS over 246 bytes: CKR_DATA_LEN_RANGE" 'CKR_DATA_LEN_RANGE' \
	p11env_tool_login --sign -m RSA-PKCS --id 01 -i raw246 -o sig.raw246
tap_expect_fail "--sign RSA-PKCS-PSS is refused (no PSS in a TPM 1.2): CKR_MECHANISM_INVALID" \
	'CKR_MECHANISM_INVALID' \
	p11env_tool_login --sign -m RSA-PKCS-PSS --id 01 -i data.sha256 -o sig.pss --hash-algorithm SHA256 --mgf MGF1-SHA256
tap_expect_fail "--sign SHA256-RSA-PKCS-PSS is refused too" 'CKR_MECHANISM_INVALID' \
	p11env_tool_login --sign -m SHA256-RSA-PKCS-PSS --id 01 -i data -o sig.pss2 --mgf MGF1-SHA256

# --- decryption of what openssl encrypted ---------------------------------------------
head -c 64 /dev/urandom >secret
decrypt() { # MECH OUT ENCOPTS... -- P11OPTS...
	local mech=$1 out=$2 enc=() p11=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do enc+=(-pkeyopt "$1"); shift; done
	[ $# -gt 0 ] && shift
	p11=("$@")
	openssl pkeyutl -encrypt -pubin -inkey rsa2048.pub.pem -in secret -out "$out.ct" "${enc[@]}" &&
		p11env_tool_login --decrypt -m "$mech" --id 01 -i "$out.ct" -o "$out" "${p11[@]}" &&
		cmp secret "$out" && echo "plaintext recovered"
}
tap_expect "--decrypt RSA-PKCS of an openssl PKCS#1 v1.5 ciphertext" 'plaintext recovered' \
	decrypt RSA-PKCS dec.pkcs1 rsa_padding_mode:pkcs1
tap_expect "--decrypt RSA-PKCS of another ciphertext of the same secret (random padding)" 'plaintext recovered' \
	decrypt RSA-PKCS dec.pkcs1b rsa_padding_mode:pkcs1
tap_expect_fail "--decrypt RSA-PKCS-OAEP (standard OAEP) is refused: CKR_MECHANISM_INVALID" 'CKR_MECHANISM_INVALID' \
	decrypt RSA-PKCS-OAEP dec.oaep rsa_padding_mode:oaep rsa_oaep_md:sha1 rsa_mgf1_md:sha1 -- \
	--hash-algorithm SHA-1 --mgf MGF1-SHA1
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key 2>/dev/null
openssl pkey -in other.key -pubout -out other.pub.pem
foreign() {
	openssl pkeyutl -encrypt -pubin -inkey other.pub.pem -in secret -out foreign.ct -pkeyopt rsa_padding_mode:pkcs1 &&
		p11env_tool_login --decrypt -m RSA-PKCS --id 01 -i foreign.ct -o foreign.pt &&
		cmp secret foreign.pt
}
tap_expect_fail "--decrypt refuses a ciphertext made for another key" '.' foreign

# --- an imported key (a token without a domain takes software keys) ----------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out imp.key 2>/dev/null
openssl pkey -in imp.key -outform DER -out imp.key.der
openssl pkey -in imp.key -pubout -out imp.pub.pem
tap_expect "--write-object an RSA-2048 private key: the TPM 1.2 wraps it" 'Created private key' \
	p11env_tool_login --write-object imp.key.der --type privkey --id 10 --label imp
tap_expect "the imported key signs (SHA256-RSA-PKCS); openssl verifies with its public key" '^Verified OK$' \
	sh -c 'pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$PIN" --sign -m SHA256-RSA-PKCS \
		--id 10 -i data -o sig.imp >/dev/null 2>&1 && openssl dgst -sha256 -verify imp.pub.pem -signature sig.imp data'
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out impec.key 2>/dev/null
openssl pkey -in impec.key -outform DER -out impec.key.der
tap_expect_fail "--write-object an EC private key is refused (no EC in a TPM 1.2)" \
	'CKR_CURVE_NOT_SUPPORTED|\(0x140\)|CKR_KEY_TYPE_INCONSISTENT|CKR_ATTRIBUTE_VALUE_INVALID|CKR_TEMPLATE_INCONSISTENT' \
	p11env_tool_login --write-object impec.key.der --type privkey --id 11 --label impec
tap_run "--delete-object the imported key" p11env_tool_login --delete-object --type privkey --id 10

# --- the tool's own tests ------------------------------------------------------------
tooltest() {
	p11env_tool_login --test >tooltest.txt 2>&1
	local st=$?
	cat tooltest.txt
	[ $st -eq 0 ] && ! grep -Eiq '^error|failed|ERR:' tooltest.txt && grep -q '^No errors' tooltest.txt
}
tap_run "pkcs11-tool --test --login: No errors" tooltest
tap_expect "--test exercised signatures (sign mechanisms flagged CKF_HW: the TPM signs)" \
	'all 4 signature functions seem to work' cat tooltest.txt
tap_expect "--test decrypted with RSA-PKCS" 'RSA-PKCS: OK' \
	sh -c 'sed -n "/^Decryption/,\$p" tooltest.txt'

# --- random, wrong PIN ------------------------------------------------------------------
rnd() {
	p11env_tool --generate-random 64 -o rnd1 && p11env_tool --generate-random 64 -o rnd2 &&
		[ "$(stat -c %s rnd1)" -eq 64 ] && [ "$(stat -c %s rnd2)" -eq 64 ] && ! cmp -s rnd1 rnd2
}
tap_run "--generate-random 64 (TPM_GetRandom): 64 bytes, two draws differ" rnd
tap_expect_fail "a wrong PIN gives CKR_PIN_INCORRECT (the TPM 1.2 checked it)" 'CKR_PIN_INCORRECT' \
	p11env_tool --login --pin "wrong$PIN" -O
tap_run "the right PIN still works after a wrong one" objcount Private 1 --login --pin "$PIN"
tap_expect "the module's log names the TPM 1.2 and its tcsd" \
	"TPM 1\\.2 by .* through tcsd at 127\\.0\\.0\\.1:$P11_TCSD_PORT" cat "$P11_DIR/tpmha.log"

tap_finish
