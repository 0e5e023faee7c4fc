#!/usr/bin/env bash
# OpenSC's pkcs11-tool against the module under test (P11_TEST_MODULE=tpmha,
# the default, or softhsm): slots, mechanisms, objects, key generation, every
# signature and decryption format of the TPM 2.0 issue checked by OpenSSL in
# software, object import/read/delete, the tool's own --test and --test-fork,
# random numbers and a wrong PIN. (--test-threads is in threads.sh.)
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

tpmenv_init
tap_init

if ! p11env_require pkcs11-tool openssl 2>"$TPMENV_DIR/require.err"; then
	tap_notok "pkcs11-tool and openssl are installed" "$(cat "$TPMENV_DIR/require.err")"
	tap_finish
fi
if ! p11env_setup 2>"$TPMENV_DIR/setup.err"; then
	tap_notok "a token is initialized on the $P11_TEST_MODULE module" "$(cat "$TPMENV_DIR/setup.err")"
	tap_finish
fi
tap_ok "C_InitToken + C_InitPIN through pkcs11-tool on the free slot of $P11_TEST_MODULE ($MODULE)"
cd "$P11ENV_WORK" || exit 1

# --- slots and mechanisms -------------------------------------------------------
tap_expect "-L shows the token with its label" "token label +: $TOKEN_LABEL\$" \
	pkcs11-tool --module "$MODULE" -L
tap_expect "-L: token initialized, user PIN initialized, login required" \
	'token flags +:.*login required.*token initialized.*PIN initialized' \
	pkcs11-tool --module "$MODULE" -L
p11env_tool -M >mechs.txt 2>&1
mech() { # NAME FLAG... : NAME is listed with every FLAG
	local name=$1 line f
	shift
	line=$(grep -E "^  $name(,|$)" mechs.txt)
	for f in "$@"; do
		case ",${line#*,}," in
		*", $f,"* | *", $f "*) ;;
		*) echo "mechanism $name lacks flag $f: '$line'"; return 1 ;;
		esac
	done
	[ -n "$line" ] || { echo "mechanism $name not listed"; return 1; }
}
for m in "RSA-PKCS-KEY-PAIR-GEN generate_key_pair" "ECDSA-KEY-PAIR-GEN generate_key_pair" \
	"RSA-PKCS sign decrypt" "SHA256-RSA-PKCS sign" "SHA384-RSA-PKCS sign" \
	"RSA-PKCS-PSS sign" "SHA256-RSA-PKCS-PSS sign" "RSA-PKCS-OAEP decrypt" "ECDSA sign" \
	"ECDSA-SHA256 sign" "SHA256 digest"; do
	# shellcheck disable=SC2086
	set -- $m
	case $1 in ECDSA-SHA*) p11env_softhsm_gap "2.6 has no CKM_ECDSA_SHA*" ;; esac
	tap_run "-M lists $1 (${*:2})" mech "$@"
done

# --- key generation ------------------------------------------------------------------
keygen() { # LABEL ID TYPE BITS
	p11env_keypair "$1" "$2" "$3" &&
		openssl pkey -pubin -in "$1.pub.pem" -text -noout | grep -E "Public-Key: \\($4 bit\\)"
}
tap_run "--keypairgen rsa:2048, public key read back: RSA 2048 bit" keygen rsa2048 01 rsa:2048 2048
tap_run "--keypairgen rsa:3072, public key read back: RSA 3072 bit" keygen rsa3072 02 rsa:3072 3072
tap_run "--keypairgen EC:prime256v1, public key read back: P-256" keygen ec256 03 EC:prime256v1 256
tap_run "--keypairgen EC:secp384r1, public key read back: P-384" keygen ec384 04 EC:secp384r1 384

objcount() { # WHAT EXPECTED [ARGS] : count "WHAT Object" lines of -O
	local what=$1 want=$2 n
	shift 2
	p11env_tool "$@" -O >objs.txt 2>&1 || { cat objs.txt; return 1; }
	cat objs.txt
	n=$(grep -c "^$what Key Object" objs.txt)
	[ "$n" -eq "$want" ] || { echo "expected $want $what keys, found $n"; return 1; }
}
tap_run "-O without login lists the 4 public keys" objcount Public 4
tap_run "-O without login shows no private key" objcount Private 0
tap_run "-O with login lists the 4 private keys" objcount Private 4 --login --pin "$PIN"

# --- signatures, checked in software ---------------------------------------------------
head -c 1000 /dev/urandom >data
openssl dgst -sha256 -binary data >data.sha256
openssl dgst -sha384 -binary data >data.sha384
# DigestInfo(SHA-256) || hash: what CKM_RSA_PKCS signs for a standard signature
{ printf '\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20'; cat data.sha256; } >data.di256

sign() { # MECH ID IN OUT [ARGS]
	local m=$1 id=$2 in=$3 out=$4
	shift 4
	p11env_tool_login --sign -m "$m" --id "$id" -i "$in" -o "$out" "$@" &&
		[ -s "$out" ]
}
p11verify() { # MECH ID IN SIG [ARGS] : C_Verify with the token's public key
	local m=$1 id=$2 in=$3 sig=$4
	shift 4
	p11env_tool --verify -m "$m" --id "$id" -i "$in" --signature-file "$sig" "$@" 2>&1 |
		tee /dev/stderr | grep -q '^Signature is valid'
}
tampered() { # FILE : FILE.bad, a copy with one bit flipped in the middle
	local f=$1 n byte
	n=$(stat -c %s "$f")
	byte=$(od -An -tu1 -j $((n / 2)) -N1 "$f" | tr -d ' ')
	cp "$f" "$f.bad"
	# shellcheck disable=SC2059
	printf "\\$(printf %03o $((byte ^ 1)))" |
		dd of="$f.bad" bs=1 seek=$((n / 2)) conv=notrunc status=none
}

# RSA-PKCS over a DigestInfo is a standard PKCS#1 v1.5 signature.
tap_run "--sign RSA-PKCS (rsa2048, over a SHA-256 DigestInfo)" sign RSA-PKCS 01 data.di256 sig.rsapkcs
tap_expect "openssl: the RSA-PKCS signature verifies as sha256WithRSAEncryption" '^Verified OK$' \
	openssl dgst -sha256 -verify rsa2048.pub.pem -signature sig.rsapkcs data
tap_expect "openssl: RSA-PKCS signature recovers the exact DigestInfo" '^same$' \
	sh -c 'openssl pkeyutl -verifyrecover -pubin -inkey rsa2048.pub.pem -in sig.rsapkcs -out rec.bin && cmp rec.bin data.di256 && echo same'
tap_run "--verify RSA-PKCS in the token" p11verify RSA-PKCS 01 data.di256 sig.rsapkcs

for k in "01 rsa2048" "02 rsa3072"; do
	set -- $k
	tap_run "--sign SHA256-RSA-PKCS ($2)" sign SHA256-RSA-PKCS "$1" data "sig.sha256rsa.$2"
	tap_expect "openssl verifies the SHA256-RSA-PKCS signature of $2" '^Verified OK$' \
		openssl dgst -sha256 -verify "$2.pub.pem" -signature "sig.sha256rsa.$2" data
	tap_run "--verify SHA256-RSA-PKCS ($2) in the token" p11verify SHA256-RSA-PKCS "$1" data "sig.sha256rsa.$2"
done
tampered data
tap_expect_fail "openssl rejects that signature over data with one bit flipped" 'Verification [Ff]ailure' \
	openssl dgst -sha256 -verify rsa2048.pub.pem -signature sig.sha256rsa.rsa2048 data.bad
# (pkcs11-tool 0.23 exits 0 after "Invalid signature": check the words.)
tap_expect "--verify in the token rejects it too" 'CKR_SIGNATURE_INVALID|^Invalid signature' \
	sh -c 'pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --verify -m SHA256-RSA-PKCS \
		--id 01 -i data.bad --signature-file sig.sha256rsa.rsa2048 2>&1; true'


tap_run "--sign RSA-PKCS-PSS (rsa2048, SHA-256 hash, MGF1-SHA256, salt = 32)" \
	sign RSA-PKCS-PSS 01 data.sha256 sig.pss --hash-algorithm SHA256 --mgf MGF1-SHA256
tap_expect "openssl verifies the RSA-PKCS-PSS signature" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey rsa2048.pub.pem -in data.sha256 -sigfile sig.pss \
	-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest
tap_run "--verify RSA-PKCS-PSS in the token" p11verify RSA-PKCS-PSS 01 data.sha256 sig.pss \
	--hash-algorithm SHA256 --mgf MGF1-SHA256
# (pkcs11-tool takes --hash-algorithm only for RSA-PKCS-PSS; MGF and salt follow the hash.)
tap_run "--sign SHA256-RSA-PKCS-PSS (rsa3072)" sign SHA256-RSA-PKCS-PSS 02 data sig.sha256pss \
	--mgf MGF1-SHA256
tap_expect "openssl verifies the SHA256-RSA-PKCS-PSS signature" '^Verified OK$' \
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
	-verify rsa3072.pub.pem -signature sig.sha256pss data
tap_run "--verify SHA256-RSA-PKCS-PSS in the token" p11verify SHA256-RSA-PKCS-PSS 02 data sig.sha256pss \
	--mgf MGF1-SHA256

for k in "03 ec256 sha256" "04 ec384 sha384"; do
	set -- $k
	tap_run "--sign ECDSA ($2, $3 hash, DER signature)" sign ECDSA "$1" "data.$3" "sig.ecdsa.$2" \
		--signature-format openssl
	tap_expect "openssl verifies the ECDSA signature of $2" 'Signature Verified Successfully' \
		openssl pkeyutl -verify -pubin -inkey "$2.pub.pem" -in "data.$3" -sigfile "sig.ecdsa.$2"
	tap_run "--verify ECDSA ($2) in the token" p11verify ECDSA "$1" "data.$3" "sig.ecdsa.$2" \
		--signature-format openssl
done
p11env_softhsm_gap "2.6 has no CKM_ECDSA_SHA256"
tap_run "--sign ECDSA-SHA256 (ec256)" sign ECDSA-SHA256 03 data sig.ecdsasha256 --signature-format openssl
p11env_softhsm_gap "2.6 has no CKM_ECDSA_SHA256"
tap_expect "openssl verifies the ECDSA-SHA256 signature" '^Verified OK$' \
	openssl dgst -sha256 -verify ec256.pub.pem -signature sig.ecdsasha256 data

# --- decryption of what openssl encrypted ---------------------------------------------
head -c 64 /dev/urandom >secret
decrypt() { # PUB ID MECH OUT ENCOPTS... -- P11OPTS...
	local pub=$1 id=$2 mech=$3 out=$4 enc=() p11=()
	shift 4
	while [ $# -gt 0 ] && [ "$1" != -- ]; do enc+=(-pkeyopt "$1"); shift; done
	[ $# -gt 0 ] && shift
	p11=("$@")
	openssl pkeyutl -encrypt -pubin -inkey "$pub" -in secret -out "$out.ct" "${enc[@]}" &&
		p11env_tool_login --decrypt -m "$mech" --id "$id" -i "$out.ct" -o "$out" "${p11[@]}" &&
		cmp secret "$out" && echo "plaintext recovered"
}
tap_expect "--decrypt RSA-PKCS of an openssl PKCS#1 v1.5 ciphertext (rsa2048)" 'plaintext recovered' \
	decrypt rsa2048.pub.pem 01 RSA-PKCS dec.pkcs1 rsa_padding_mode:pkcs1
tap_expect "--decrypt RSA-PKCS-OAEP SHA-1 of an openssl ciphertext (rsa2048)" 'plaintext recovered' \
	decrypt rsa2048.pub.pem 01 RSA-PKCS-OAEP dec.oaep1 rsa_padding_mode:oaep rsa_oaep_md:sha1 \
	rsa_mgf1_md:sha1 -- --hash-algorithm SHA-1 --mgf MGF1-SHA1
p11env_softhsm_gap "2.6 decrypts OAEP with SHA-1 only (CKR_ARGUMENTS_BAD)"
tap_expect "--decrypt RSA-PKCS-OAEP SHA-256 of an openssl ciphertext (rsa2048)" 'plaintext recovered' \
	decrypt rsa2048.pub.pem 01 RSA-PKCS-OAEP dec.oaep256 rsa_padding_mode:oaep rsa_oaep_md:sha256 \
	rsa_mgf1_md:sha256 -- --hash-algorithm SHA256 --mgf MGF1-SHA256
p11env_softhsm_gap "2.6 decrypts OAEP with SHA-1 only (CKR_ARGUMENTS_BAD)"
tap_expect "--decrypt RSA-PKCS-OAEP SHA-256 of an openssl ciphertext (rsa3072)" 'plaintext recovered' \
	decrypt rsa3072.pub.pem 02 RSA-PKCS-OAEP dec.oaep256b rsa_padding_mode:oaep rsa_oaep_md:sha256 \
	rsa_mgf1_md:sha256 -- --hash-algorithm SHA256 --mgf MGF1-SHA256
# A ciphertext for another key must not decrypt to anything.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key 2>/dev/null
openssl pkey -in other.key -pubout -out other.pub.pem
tap_expect_fail "--decrypt refuses a ciphertext made for another key" '.' \
	decrypt other.pub.pem 01 RSA-PKCS-OAEP dec.other rsa_padding_mode:oaep rsa_oaep_md:sha256 \
	rsa_mgf1_md:sha256 -- --hash-algorithm SHA256 --mgf MGF1-SHA256

# --- objects: write, read, delete ------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout imp-rsa.key -out imp-rsa.crt \
	-subj "/CN=tpmha interop import" -days 2 2>/dev/null
openssl x509 -in imp-rsa.crt -outform DER -out imp-rsa.crt.der
openssl pkey -in imp-rsa.key -outform DER -out imp-rsa.key.der
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out imp-ec.key 2>/dev/null
openssl pkey -in imp-ec.key -outform DER -out imp-ec.key.der
tap_expect "--write-object a certificate (DER)" 'Created certificate' \
	p11env_tool_login --write-object imp-rsa.crt.der --type cert --id 10 --label imp-rsa
tap_expect "-O shows the certificate with its subject" 'subject: +DN: CN=tpmha interop import' \
	p11env_tool -O --type cert
tap_expect "--read-object returns the certificate byte for byte" '^same$' \
	sh -c 'pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --read-object --type cert --id 10 -o cert.back &&
		cmp cert.back imp-rsa.crt.der && echo same'
tap_expect "--write-object an RSA private key (PEM -> DER)" 'Created private key' \
	p11env_tool_login --write-object imp-rsa.key.der --type privkey --id 10 --label imp-rsa
signimp() {
	sign SHA256-RSA-PKCS 10 data sig.imp &&
		openssl dgst -sha256 -verify <(openssl x509 -in imp-rsa.crt -pubkey -noout) -signature sig.imp data
}
tap_expect "the imported RSA key signs; openssl verifies with the certificate's key" '^Verified OK$' signimp
tap_expect "--write-object an EC P-256 private key" 'Created private key' \
	p11env_tool_login --write-object imp-ec.key.der --type privkey --id 11 --label imp-ec
signimpec() {
	sign ECDSA 11 data.sha256 sig.impec --signature-format openssl &&
		openssl pkeyutl -verify -pubin -inkey <(openssl pkey -in imp-ec.key -pubout) -in data.sha256 -sigfile sig.impec
}
tap_expect "the imported EC key signs; openssl verifies" 'Signature Verified Successfully' signimpec
printf 'tpmha data object %s\n' "$RANDOM" >dataobj
tap_expect "--write-object a private data object" 'Created Data Object' \
	p11env_tool_login --write-object dataobj --type data --label dobj --private
tap_expect_fail "the private data object is invisible without login" 'object not found|not found' \
	p11env_tool --read-object --type data --label dobj -o dataobj.back
tap_expect "--read-object returns the data object after login" '^same$' \
	sh -c 'pkcs11-tool --module "$MODULE" --token-label "$TOKEN_LABEL" --login --pin "$PIN" --read-object --type data --label dobj -o dataobj.back &&
		cmp dataobj.back dataobj && echo same'
tap_run "--delete-object the certificate" p11env_tool_login --delete-object --type cert --id 10
tap_run "--delete-object the data object" p11env_tool_login --delete-object --type data --label dobj
gone() {
	p11env_tool_login -O >objs.txt 2>&1 || { cat objs.txt; return 1; }
	cat objs.txt
	! grep -Eq "Certificate Object|label: +'dobj'" objs.txt
}
tap_run "deleted objects are gone from -O" gone

# --- the tool's own tests ------------------------------------------------------------
tooltest() {
	p11env_tool_login --test >tooltest.txt 2>&1
	local st=$?
	cat tooltest.txt
	[ $st -eq 0 ] && ! grep -Eiq '^error|failed|ERR:' tooltest.txt && grep -q '^No errors' tooltest.txt
}
p11env_softhsm_gap "2.6 rejects OAEP with a label (C_DecryptInit CKR_ARGUMENTS_BAD)"
tap_run "pkcs11-tool --test --login: No errors" tooltest
# --test signs only with mechanisms the module flags CKF_HW (those the TPM
# performs); make sure it did.
p11env_softhsm_gap "mechanisms are software, not CKF_HW, so --test skips signatures"
tap_expect "--test exercised signatures (sign mechanisms flagged CKF_HW)" 'all 4 signature functions seem to work' \
	cat tooltest.txt

forktest() {
	p11env_tool_login --test-fork -O >fork.txt 2>&1
	local st=$?
	cat fork.txt
	[ $st -eq 0 ] && grep -q 'Calling C_Initialize in forked child process' fork.txt &&
		! grep -Eq '^error|Aborting' fork.txt
}
p11env_softhsm_gap "2.6 keeps its state in a forked child (C_Initialize: CKR_CRYPTOKI_ALREADY_INITIALIZED)"
tap_run "--test-fork: the child's C_Initialize succeeds and the parent carries on" forktest

# --- random, wrong PIN ------------------------------------------------------------------
rnd() {
	p11env_tool --generate-random 64 -o rnd1 && p11env_tool --generate-random 64 -o rnd2 &&
		[ "$(stat -c %s rnd1)" -eq 64 ] && [ "$(stat -c %s rnd2)" -eq 64 ] &&
		! cmp -s rnd1 rnd2 && [ "$(tr -d '\0' <rnd1 | wc -c)" -gt 40 ] && od -An -tx1 rnd1
}
tap_run "--generate-random 64: 64 bytes, two draws differ" rnd
tap_expect_fail "a wrong PIN gives CKR_PIN_INCORRECT" 'CKR_PIN_INCORRECT' \
	p11env_tool --login --pin "wrong$PIN" -O
tap_run "the right PIN still works after a wrong one" objcount Private 6 --login --pin "$PIN"

tap_finish
