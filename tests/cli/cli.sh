#!/usr/bin/env bash
# The `tpmha` admin CLI against a real emulated TPM 2.0 (swtpm): every command,
# its output, its exit status, and what standard tools (pkcs11-tool, openssl)
# see of the result.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/tpmenv.sh"
. "$top/tests/lib/tap.sh"

TPMHA=$build/tpmha
MODULE=${TPMHA_MODULE:-$build/.libs/tpmha-pkcs11.so}
PTYRUN=$top/tests/cli/ptyrun.py

tpmenv_init
tap_init

# check STATUS DESC ERE CMD...: CMD exits with STATUS and its output (stdout and
# stderr) matches ERE (empty: anything). $OUT is the output file afterwards.
check() {
	local want=$1 desc=$2 ere=$3 st
	shift 3
	OUT=$TAP_LOGDIR/step-$((TAP_N + 1)).log
	"$@" >"$OUT" 2>&1 </dev/null
	st=$?
	if [ "$st" -ne "$want" ]; then
		tap_notok "$desc" "exit status $st, expected $want" "command: $(tap__cmdline "$@")"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	if [ -n "$ere" ] && ! grep -Eq -- "$ere" "$OUT"; then
		tap_notok "$desc" "output does not match /$ere/" "command: $(tap__cmdline "$@")"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	tap_ok "$desc"
}

# The output of the last check does not match ERE.
check_not() {
	local desc=$1 ere=$2
	if grep -Eq -- "$ere" "$OUT"; then
		tap_notok "$desc" "output matches /$ere/"
		tail -n 20 "$OUT" | tap_diag
		return 1
	fi
	tap_ok "$desc"
}

json_ok() {
	if command -v python3 >/dev/null; then
		python3 -m json.tool "$1" >/dev/null
	else
		head -c1 "$1" | grep -q '{' && tail -n1 "$1" | grep -q '}'
	fi
}

p11() { pkcs11-tool --module "$MODULE" "$@"; }

for tool in swtpm pkcs11-tool openssl; do
	command -v "$tool" >/dev/null || tap_notok "$tool is installed" "./quickstart installs the test dependencies"
done
if [ ! -x "$TPMHA" ]; then
	tap_notok "the tpmha binary is built" "$TPMHA is missing"
	tap_finish
fi

# --- usage, before any TPM ------------------------------------------------------
check 0 "tpmha --help lists every command" 'pin change' "$TPMHA" --help
for cmd in "token init" "token list" "token delete" "key generate" "key import" "key list" \
	"key delete" "cert import" "cert delete" "pin change"; do
	grep -q "^  $cmd " "$OUT" || tap_notok "tpmha --help lists '$cmd'"
done
check 0 "tpmha status --help explains the options and exit codes" 'Exit status: 0 success, 1 usage' \
	"$TPMHA" status --help
for cmd in "token init" "token list" "token delete" "key generate" "key import" "key list" \
	"key delete" "cert import" "cert delete" "pin change"; do
	# shellcheck disable=SC2086
	check 0 "tpmha $cmd --help" "^Usage: tpmha $cmd" "$TPMHA" $cmd --help
done
check 0 "tpmha key --help lists the key subcommands" 'key generate' "$TPMHA" key --help
check 0 "tpmha --version" '^tpmha [0-9]' "$TPMHA" --version

check 1 "no command is a usage error" 'no command given' "$TPMHA"
check 1 "an unknown command is a usage error" "unknown command 'frobnicate'" "$TPMHA" frobnicate
check 1 "a group without subcommand is a usage error" "'key' needs a subcommand" "$TPMHA" key
check 1 "an unknown option is a usage error" "has no option '--bogus'" "$TPMHA" status --bogus
check 1 "a PIN on the command line is refused (no such option)" "has no option '--pin'" \
	"$TPMHA" key list --token x --pin 1234
check 1 "a stray argument is a usage error" "unexpected argument 'extra'" "$TPMHA" status extra
check 1 "an option without its value is a usage error" '--token needs a value' "$TPMHA" key list --token
check 1 "an option given twice is a usage error" 'given twice' "$TPMHA" status --json --json
check 1 "--token and --serial together are a usage error" 'not both' \
	"$TPMHA" key list --token a --serial b
check 1 "a key type tpmha does not make is a usage error" "not one of rsa:2048" \
	"$TPMHA" key generate --token a --type rsa:1024 --label k
check 1 "a malformed --id is a usage error" 'is not hex' \
	"$TPMHA" key generate --token a --type ec:p256 --label k --id xyz
check 1 "key delete needs --id or --label" 'needs --id or --label' "$TPMHA" key delete --token a
check 1 "token init needs --label" 'needs --label' "$TPMHA" token init
check 1 "a token label over 32 bytes is a usage error" 'at most 32 bytes' \
	"$TPMHA" token init --label 0123456789abcdef0123456789abcdefX
check 0 "usage errors come with a hint on stderr only" '' \
	bash -c '"$1" status --bogus 2>/dev/null; [ $? -eq 1 ]; out=$("$1" status --bogus 2>&1 >/dev/null); [ -n "$out" ]' _ "$TPMHA"

# --- an emulated TPM and a store ------------------------------------------------
if ! tpmenv_start_tpm2 A 2>"$TPMENV_DIR/startA.err"; then
	tap_notok "swtpm starts" "$(cat "$TPMENV_DIR/startA.err")"
	tap_finish
fi
tpmenv_config A
export TPMHA_CONF=$A_CONF
unset TPMHA_TCTI TPMHA_STORE
W=$TPMENV_DIR/work
mkdir -p "$W"
umask 077
PIN=user-pin-1234 SO_PIN=so-pin-5678 NEW_PIN=new-user-pin-99 NEW_SO_PIN=new-so-pin-42
echo "$PIN" >"$W/user.pin"
echo "$SO_PIN" >"$W/so.pin"
echo "$NEW_PIN" >"$W/new.pin"
echo "$NEW_SO_PIN" >"$W/newso.pin"
echo "wrong-pin-0000" >"$W/wrong.pin"
echo "12" >"$W/short.pin"

check 0 "status shows the TPM 2.0" 'version: +2\.0' "$TPMHA" status
for re in 'manufacturer: +IBM' 'vendor: ' 'firmware: +[0-9]+\.[0-9]+' \
	'lockout: +0 of [0-9]+ failed tries; one forgotten every [0-9]+ s; not locked' \
	"store: +$A_DIR/store" "file: +$A_CONF" "tcti: +swtpm:host=127.0.0.1,port=$A_PORT" 'Tokens: 0' \
	'key types: .*rsa:2048.*ec:p256'; do
	grep -Eq -- "$re" "$OUT" || tap_notok "status shows /$re/" "$(cat "$OUT")"
done
check 0 "status --json" '"tokens": \[\]' "$TPMHA" status --json
json_ok "$OUT"
tap_result $? "status --json parses as JSON"
check 0 "token list with no tokens says so" '^no tokens' "$TPMHA" token list

# --- token init / list ------------------------------------------------------------
check 1 "without a PIN file and no terminal, token init is a usage error" 'stdin is not a terminal' \
	"$TPMHA" token init --label cli
check 1 "a new PIN that is too short is refused" 'must have 4 to 128 characters' \
	"$TPMHA" token init --label cli --so-pin-file "$W/short.pin" --pin-file "$W/user.pin"
check 0 "token init creates a token" '^token "cli" created: serial [0-9a-f]{16}, slot [0-9]+' \
	"$TPMHA" token init --label cli --so-pin-file "$W/so.pin" --pin-file "$W/user.pin"
SERIAL=$(sed -n 's/.*serial \([0-9a-f]*\),.*/\1/p' "$OUT")
check 2 "token init with a label in use fails" 'exists already' \
	"$TPMHA" token init --label cli --so-pin-file "$W/so.pin" --pin-file "$W/user.pin"
check 0 "token list shows the token with its user PIN set" "^[0-9]+ +$SERIAL +set +cli$" "$TPMHA" token list
check 0 "token list --json" "\"serial\": \"$SERIAL\"" "$TPMHA" token list --json
json_ok "$OUT"
tap_result $? "token list --json parses as JSON"
check 0 "pkcs11-tool -L sees the token and its user PIN" 'PIN initialized' p11 -L
grep -Eq 'token label +: cli' "$OUT"
tap_result $? "pkcs11-tool -L shows the label" "$(cat "$OUT")"

# --- key generate -------------------------------------------------------------------
check 0 "key generate rsa:2048" '^generated rsa:2048 key "rk" \(ID 01\) in token "cli"' \
	"$TPMHA" key generate --token cli --type rsa:2048 --label rk --id 01 --pin-file "$W/user.pin" \
	--pubout "$W/rk.pub.pem"
check 0 "key generate ec:p256 (ID with colons)" '^generated ec:p256 key "ek" \(ID 02\)' \
	"$TPMHA" key generate --token cli --type ec:p256 --label ek --id 0x02 --pin-file "$W/user.pin" \
	--pubout "$W/ek.pub.pem"
check 0 "key generate ec:p384 without --id gets the public key's SHA-1" \
	'^generated ec:p384 key "ek384" \(ID [0-9a-f]{40}\)' \
	"$TPMHA" key generate --token cli --type ec:p384 --label ek384 --pin-file "$W/user.pin"
check 0 "key generate rsa:3072 (token chosen by --serial)" '^generated rsa:3072 key "rk3" \(ID 04\)' \
	"$TPMHA" key generate --serial "$SERIAL" --type rsa:3072 --label rk3 --id 04 --pin-file "$W/user.pin"
check 2 "key generate with a label in use fails" 'labelled "rk" exists already' \
	"$TPMHA" key generate --token cli --type ec:p256 --label rk --pin-file "$W/user.pin"
check 2 "key generate with an ID in use fails" 'with ID 01 exists already' \
	"$TPMHA" key generate --token cli --type ec:p256 --label other --id 01 --pin-file "$W/user.pin"
check 2 "a token that does not exist is an error" 'no token labelled "nosuch"' \
	"$TPMHA" key list --token nosuch

check 0 "pkcs11-tool -O sees the generated keys" 'label: +rk3' p11 -O --login --pin "$PIN"
for want in 'Private Key Object; RSA' 'Public Key Object; RSA 2048 bits' 'Public Key Object; EC' \
	'label: +ek384'; do
	grep -Eq -- "$want" "$OUT" || tap_notok "pkcs11-tool -O shows /$want/" "$(cat "$OUT")"
done
[ "$(grep -c 'Private Key Object' "$OUT")" -eq 4 ]
tap_result $? "pkcs11-tool -O sees 4 private keys" "$(cat "$OUT")"

echo "data to sign" >"$W/data"
check 0 "the generated RSA key signs (pkcs11-tool)" '' \
	p11 --login --pin "$PIN" --sign --id 01 -m SHA256-RSA-PKCS -i "$W/data" -o "$W/rk.sig"
check 0 "openssl verifies it with the key --pubout wrote" 'Verified OK' \
	openssl dgst -sha256 -verify "$W/rk.pub.pem" -signature "$W/rk.sig" "$W/data"
check 0 "the generated EC key signs (pkcs11-tool)" '' \
	p11 --login --pin "$PIN" --sign --id 02 -m ECDSA-SHA256 --signature-format openssl \
	-i "$W/data" -o "$W/ek.sig"
check 0 "openssl verifies the ECDSA signature" 'Verified OK' \
	openssl dgst -sha256 -verify "$W/ek.pub.pem" -signature "$W/ek.sig" "$W/data"

# --- key list ---------------------------------------------------------------------------
check 0 "key list without login shows public keys" '^public key +rsa:2048 +01 +rk$' \
	"$TPMHA" key list --token cli
check_not "key list without login shows no private key" '^private key'
check 0 "key list with --pin-file shows the private keys" '^private key +ec:p384 +[0-9a-f]{40} +ek384$' \
	"$TPMHA" key list --token cli --pin-file "$W/user.pin"
grep -Eq '^private key +rsa:3072 +04 +rk3$' "$OUT"
tap_result $? "key list shows the rsa:3072 key" "$(cat "$OUT")"
export CLI_TEST_PIN=$PIN
check 0 "key list --pin-env --json" '"class": "private_key"' \
	"$TPMHA" key list --token cli --pin-env CLI_TEST_PIN --json
json_ok "$OUT"
tap_result $? "key list --json parses as JSON"
check 1 "--pin-env naming an unset variable is a usage error" 'CLI_TEST_UNSET is not set' \
	"$TPMHA" key list --token cli --pin-env CLI_TEST_UNSET

# --- key import ---------------------------------------------------------------------------
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/imp.pem" 2>/dev/null
openssl pkey -in "$W/imp.pem" -pubout -out "$W/imp.pub.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/ecimp.key" 2>/dev/null
openssl ec -in "$W/ecimp.key" -outform DER -out "$W/ecimp.der" 2>/dev/null
openssl pkey -in "$W/ecimp.key" -pubout -out "$W/ecimp.pub.pem"
check 0 "key import of an RSA PKCS#8 PEM key" '^imported rsa:2048 key "imp" \(ID 10\) into token "cli"' \
	"$TPMHA" key import --token cli --file "$W/imp.pem" --label imp --id 10 --pin-file "$W/user.pin"
check 0 "key import of an EC SEC1 DER key, label and ID by default" \
	'^imported ec:p256 key "ecimp" \(ID [0-9a-f]{40}\)' \
	"$TPMHA" key import --token cli --file "$W/ecimp.der" --pin-file "$W/user.pin"
ECIMP_ID=$(sed -n 's/.*(ID \([0-9a-f]*\)).*/\1/p' "$OUT")
check 0 "the imported RSA key signs (pkcs11-tool)" '' \
	p11 --login --pin "$PIN" --sign --id 10 -m SHA256-RSA-PKCS -i "$W/data" -o "$W/imp.sig"
check 0 "openssl verifies it with the original public key" 'Verified OK' \
	openssl dgst -sha256 -verify "$W/imp.pub.pem" -signature "$W/imp.sig" "$W/data"
check 0 "the imported EC key signs (pkcs11-tool)" '' \
	p11 --login --pin "$PIN" --sign --id "$ECIMP_ID" -m ECDSA-SHA256 --signature-format openssl \
	-i "$W/data" -o "$W/ecimp.sig"
check 0 "openssl verifies it with the original public key" 'Verified OK' \
	openssl dgst -sha256 -verify "$W/ecimp.pub.pem" -signature "$W/ecimp.sig" "$W/data"
check 0 "an imported key gets its public key object too" "^public key +ec:p256 +$ECIMP_ID +ecimp$" \
	"$TPMHA" key list --token cli
openssl genpkey -algorithm ED25519 -out "$W/ed.pem" 2>/dev/null
check 2 "an Ed25519 key is refused with a reason" 'tpmha takes RSA and EC keys' \
	"$TPMHA" key import --token cli --file "$W/ed.pem" --pin-file "$W/user.pin"
check 2 "a file without a key is refused" 'no private key in' \
	"$TPMHA" key import --token cli --file "$W/data" --pin-file "$W/user.pin"
check 2 "a missing file is refused" 'cannot open' \
	"$TPMHA" key import --token cli --file "$W/nonexistent.pem" --pin-file "$W/user.pin"

# --- cert import / delete ------------------------------------------------------------------
openssl req -new -x509 -key "$W/imp.pem" -subj "/CN=imp.example" -days 30 -out "$W/imp.crt" 2>/dev/null
openssl x509 -in "$W/imp.crt" -outform DER -out "$W/imp.crt.der"
openssl req -new -x509 -key "$W/ecimp.key" -subj "/CN=ec.example" -days 30 -outform DER \
	-out "$W/ecimp.crt.der" 2>/dev/null
check 0 "cert import (PEM) with --id" '^imported certificate "imp" \(ID 10\) into token "cli"' \
	"$TPMHA" cert import --token cli --file "$W/imp.crt" --id 10 --pin-file "$W/user.pin"
check 0 "pkcs11-tool reads the certificate back" '' \
	p11 --read-object --type cert --id 10 -o "$W/imp.back.der"
cmp "$W/imp.crt.der" "$W/imp.back.der" >/dev/null 2>&1
tap_result $? "the certificate read back is identical"
check 0 "cert import (DER) takes its key's ID and label by default" \
	"^imported certificate \"ecimp\" \\(ID $ECIMP_ID\\)" \
	"$TPMHA" cert import --token cli --file "$W/ecimp.crt.der" --pin-file "$W/user.pin"
check 0 "key list shows the certificate next to its key" \
	"^certificate +x509 +$ECIMP_ID +ecimp +CN=ec.example$" "$TPMHA" key list --token cli
check 0 "pkcs11-tool -O shows the certificate's subject" 'subject: +DN: CN=ec.example' p11 -O --type cert
check 2 "a second certificate with the same ID is refused" 'certificate with ID 10 exists already' \
	"$TPMHA" cert import --token cli --file "$W/imp.crt" --id 10 --pin-file "$W/user.pin"
check 2 "a file without a certificate is refused" 'no X.509 certificate' \
	"$TPMHA" cert import --token cli --file "$W/data" --pin-file "$W/user.pin"
check 0 "cert delete --id" '^deleted certificate "imp" \(ID 10\)' \
	"$TPMHA" cert delete --token cli --id 10 --pin-file "$W/user.pin"
check 1 "pkcs11-tool no longer finds it" '' p11 --read-object --type cert --id 10 -o "$W/gone.der"

# --- key delete ------------------------------------------------------------------------------
check 0 "key delete --id removes both halves" '^deleted public key "ek" \(ID 02\)' \
	"$TPMHA" key delete --token cli --id 02 --pin-file "$W/user.pin"
grep -q '^deleted private key "ek" (ID 02)' "$OUT"
tap_result $? "key delete reports the private key" "$(cat "$OUT")"
check 0 "key delete --label" '^deleted private key "rk3" \(ID 04\)' \
	"$TPMHA" key delete --token cli --label rk3 --pin-file "$W/user.pin"
check 0 "pkcs11-tool -O no longer sees them" '' p11 -O --login --pin "$PIN"
! grep -Eq 'label: +(ek|rk3)$' "$OUT"
tap_result $? "the deleted keys are gone" "$(cat "$OUT")"
check 2 "deleting a key that is not there fails" 'no key labelled "nosuch"' \
	"$TPMHA" key delete --token cli --label nosuch --pin-file "$W/user.pin"

# --- wrong PINs and the TPM's lockout ------------------------------------------------------
check 3 "a wrong user PIN exits 3" 'CKR_PIN_INCORRECT: wrong PIN \(the TPM counted the failure\)' \
	"$TPMHA" key list --token cli --pin-file "$W/wrong.pin"
grep -q 'the TPM has counted 1 failed authorizations (lockout at' "$OUT"
tap_result $? "a wrong PIN's message says how close the TPM is to lockout" "$(cat "$OUT")"
check 0 "status shows the failure the TPM counted" 'lockout: +1 of [0-9]+ failed tries' "$TPMHA" status
MAX=$(sed -n 's/.*lockout: *1 of \([0-9]*\) failed.*/\1/p' "$OUT")
if [ -n "$MAX" ] && [ "$MAX" -le 10 ] && command -v tpm2_dictionarylockout >/dev/null; then
	for _ in $(seq 2 "$MAX"); do
		"$TPMHA" key list --token cli --pin-file "$W/wrong.pin" >/dev/null 2>&1
	done
	check 3 "in lockout, even the right PIN exits 3" \
		'CKR_PIN_LOCKED: the TPM is in dictionary-attack lockout' \
		"$TPMHA" key list --token cli --pin-file "$W/user.pin"
	grep -q 'counted [0-9]* failed authorizations (lockout at [0-9]*); it forgets one every' "$OUT"
	tap_result $? "the lockout message says when it ends" "$(cat "$OUT")"
	check 0 "status shows the lockout" 'not locked|LOCKED' "$TPMHA" status
	grep -q 'LOCKED' "$OUT"
	tap_result $? "status says LOCKED" "$(cat "$OUT")"
	check 0 "the TPM owner clears the lockout (tpm2_dictionarylockout -c)" '' \
		tpm2_dictionarylockout -T "$A_TCTI" -c
else
	tap_skip "lockout" "needs tpm2_dictionarylockout and a TPM locking out within 10 tries (max: ${MAX:-?})"
fi
check 0 "after that the right PIN works again" '^private key' \
	"$TPMHA" key list --token cli --pin-file "$W/user.pin"

# --- pin change ----------------------------------------------------------------------------
check 1 "pin change --so with a user PIN option is a usage error" 'with --so, the current PIN' \
	"$TPMHA" pin change --token cli --so --pin-file "$W/user.pin" --new-pin-file "$W/new.pin"
check 1 "pin change to a too short PIN is a usage error" 'must have 4 to 128' \
	"$TPMHA" pin change --token cli --pin-file "$W/user.pin" --new-pin-file "$W/short.pin"
check 0 "pin change (user)" 'the user PIN of token "cli" is changed' \
	"$TPMHA" pin change --token cli --pin-file "$W/user.pin" --new-pin-file "$W/new.pin"
check 0 "pkcs11-tool logs in with the new user PIN" 'Private Key Object' p11 -O --login --pin "$NEW_PIN"
check 3 "the old user PIN is refused" 'CKR_PIN_INCORRECT' \
	"$TPMHA" key list --token cli --pin-file "$W/user.pin"
check 0 "pin change --so" 'the SO PIN of token "cli" is changed' \
	"$TPMHA" pin change --token cli --so --so-pin-file "$W/so.pin" --new-pin-file "$W/newso.pin"

# --- PINs at the terminal --------------------------------------------------------------------
if command -v python3 >/dev/null; then
	check 0 "a PIN typed at the terminal logs in" '^private key' \
		python3 "$PTYRUN" "$NEW_PIN" -- "$TPMHA" key list --token cli --login
	grep -q 'User PIN of token "cli": ' "$OUT"
	tap_result $? "the prompt names the PIN and the token" "$(cat "$OUT")"
	check_not "the typed PIN is not echoed" "$NEW_PIN"
	check 1 "a new PIN typed twice differently is refused" 'the two entries of the new user PIN .* differ' \
		python3 "$PTYRUN" "$NEW_PIN" "$NEW_PIN" "other-pin-1" -- \
		"$TPMHA" pin change --token cli
	check 0 "a new PIN typed twice at the terminal" 'the user PIN of token "cli" is changed' \
		python3 "$PTYRUN" "$NEW_PIN" "$PIN" "$PIN" -- "$TPMHA" pin change --token cli
	grep -q 'Repeat the new user PIN' "$OUT"
	tap_result $? "the new PIN is asked twice" "$(cat "$OUT")"
	check_not "neither PIN is echoed" "$PIN|$NEW_PIN"
	check 0 "pkcs11-tool logs in with the PIN set at the terminal" 'Private Key Object' \
		p11 -O --login --pin "$PIN"
else
	tap_skip "PINs at the terminal" "needs python3 for a pseudo-terminal"
fi

# --- token delete ------------------------------------------------------------------------------
check 0 "status lists the token and its public objects" \
	"\"cli\"  serial $SERIAL  slot [0-9]+  user PIN set" "$TPMHA" status
grep -Eq '[0-9]+ public keys, 1 certificate \(without login' "$OUT"
tap_result $? "status counts the objects visible without login" "$(cat "$OUT")"
check 0 "status --json with a token" "\"label\": \"cli\"" "$TPMHA" status --json
json_ok "$OUT"
tap_result $? "status --json parses as JSON"
check 3 "token delete with a wrong SO PIN exits 3" 'CKR_PIN_INCORRECT' \
	"$TPMHA" token delete --token cli --so-pin-file "$W/so.pin"
check 0 "token delete" "^token \"cli\" \\(serial $SERIAL\\) deleted" \
	"$TPMHA" token delete --token cli --so-pin-file "$W/newso.pin"
check 0 "token list no longer shows it" '^no tokens' "$TPMHA" token list
check 0 "pkcs11-tool -L no longer shows it" '' p11 -L
! grep -Eq 'token label +: cli' "$OUT"
tap_result $? "the token is gone for pkcs11-tool too" "$(cat "$OUT")"
check 0 "status shows no tokens" 'Tokens: 0' "$TPMHA" status

tap_finish
