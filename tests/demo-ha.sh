#!/usr/bin/env bash
# The tpmha failover demo: two units A and B, each with an emulated TPM and its own
# tpmha configuration and store, and a migration authority (MA) whose RSA-2048 key is
# in SoftHSM.
#
#   tests/demo-ha.sh          (./quickstart demo) TPM 2.0 units: swtpm each
#   tests/demo-ha.sh --tpm12  (./quickstart demo --tpm12) TPM 1.2 units: swtpm in
#                             TPM 1.2 mode and its own trousers tcsd each; tcsd runs
#                             as root: so does the demo
#
# On A, a token bound to the MA's domain gets an RSA-2048 key made in A's TPM (on
# TPM 1.2 a certifiable migratable key) and a certificate; OpenSSL signs with the key
# by its PKCS#11 URI and a secret is encrypted to it. Replicating to B before the MA
# approved it is refused; so A asks first (replicate --request-out), the MA signs what
# it was shown (domain approve --request: unit B, and on TPM 1.2, whose TPM checks an
# MA signature for each key it lets go, each key), and A replicates the token to B.
# Then A dies (its swtpm is killed, on TPM 1.2 its tcsd too), and on B the same URI
# decrypts the secret, signs, and serves TLS with gnutls-serv (TLS 1.2 on TPM 1.2:
# TLS 1.3 would need RSA-PSS, which a TPM 1.2 cannot do) to a client that verifies
# the certificate. Each step is one line; the last line says whether everything
# worked; the exit status is non-zero if any step failed.
#
# DEMO_KEEP=1 keeps the working folder (logs, files, the units' stores).
TPM12=
case ${1:-} in
"") ;;
--tpm12) TPM12=1 ;;
*)
	echo "usage: $0 [--tpm12]" >&2
	exit 2
	;;
esac

# What differs between the TPM versions.
if [ -n "$TPM12" ]; then
	DEMO="tpmha TPM 1.2 HA demo" TPM="TPM 1.2" DOMAIN=demo12
	TOOLS="root for tcsd, swtpm, trousers"
	START=tpmenv_start_tpm12 UNITS="an emulated TPM 1.2 (swtpm) and its own tcsd each"
	MA_NOTE="RSA-2048 (what a TPM 1.2 verifies)"
	KEY_NOTE=", a certifiable migratable key bound to the MA"
	# A TPM 1.2 decrypts RSA PKCS#1 v1.5 only.
	PAD=(-pkeyopt rsa_padding_mode:pkcs1) PAD_NOTE="RSA PKCS#1 v1.5 (what a TPM 1.2 decrypts)"
	UNAPPROVED='approved key by key' UNAPPROVED_NOTE="these keys for B"
	REQUEST_FOR=" for the token's keys" REQUEST_NOTE="unit B and the token's keys"
	IMPORTS="converts the migrated key" DIES="its TPM and tcsd are stopped"
	# TLS 1.3 signs with RSA-PSS only, which a TPM 1.2 cannot do.
	TLS=(--priority 'NORMAL:-VERS-TLS1.3') TLS_NOTE="; TLS 1.2 (TLS 1.3 needs RSA-PSS)"
else
	DEMO="tpmha HA demo" TPM=TPM DOMAIN=demo
	TOOLS="tpmha, swtpm"
	START=tpmenv_start_tpm2 UNITS="an emulated TPM 2.0 (swtpm) each"
	MA_NOTE="RSA-2048"
	KEY_NOTE=
	PAD=(-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256)
	PAD_NOTE="RSA-OAEP SHA-256"
	UNAPPROVED='has not approved unit' UNAPPROVED_NOTE="unit B"
	REQUEST_FOR='' REQUEST_NOTE="unit B"
	IMPORTS="imports the key" DIES="its TPM is stopped (swtpm killed)"
	TLS=() TLS_NOTE=
fi

top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-$top}
. "$top/tests/lib/p11env.sh"

[ -n "${DEMO_KEEP:-}" ] && TPMENV_KEEP=1
tpmenv_init
N=0
TOTAL=21
TPMHA=$build/tpmha
MODULE=${TPMHA_MODULE:-$build/.libs/tpmha-pkcs11.so}
SOFTHSM=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
P11ENV_WORK=$TPMENV_DIR/work
mkdir -p "$P11ENV_WORK/softhsm"
export MODULE P11ENV_WORK
W=$P11ENV_WORK
cd "$W" || exit 1
umask 077

# step TEXT CMD...: run CMD, print one line with the outcome; stop on failure.
step() {
	local text=$1 log
	shift
	N=$((N + 1))
	log="$TPMENV_DIR/step$N.log"
	printf '[%2d/%d] %s ... ' "$N" "$TOTAL" "$text"
	if "$@" >"$log" 2>&1 </dev/null; then
		echo "ok${STEP_NOTE:+ ($STEP_NOTE)}"
		STEP_NOTE=
		return 0
	fi
	echo "FAILED"
	echo "------ last lines of $log:"
	tail -n 25 "$log" | sed 's/^/  | /'
	echo "$DEMO: FAILED at step $N ($text)"
	[ -n "${DEMO_KEEP:-}" ] && echo "(working folder kept: $TPMENV_DIR)"
	exit 1
}

onA() { TPMHA_CONF=$A_CONF "$@"; }
onB() { TPMHA_CONF=$B_CONF "$@"; }

requirements() {
	[ -z "$TPM12" ] || tpmenv_tpm12_ready || return 1
	p11env_require pkcs11-tool openssl gnutls-serv gnutls-cli swtpm softhsm2-util || return 1
	[ -x "$TPMHA" ] || { echo "the tpmha CLI is not built: $TPMHA"; return 1; }
	[ -f "$MODULE" ] || { echo "the tpmha module is not built: $MODULE"; return 1; }
	[ -f "$SOFTHSM" ] || { echo "SoftHSM's module is not there: $SOFTHSM"; return 1; }
	p11env_engine_conf
}
step "Checking the tools ($TOOLS, SoftHSM, pkcs11-tool, OpenSSL's pkcs11 engine, GnuTLS)" requirements

PIN=demo-user-pin SO_PIN=demo-so-pin MA_PIN=demo-ma-pin
echo "$PIN" >user.pin
echo "$SO_PIN" >so.pin
echo "$MA_PIN" >ma.pin
# The PIN for OpenSSL's engine is in its configuration (a file), not on a command line.
sed -i "s|^init = 0|PIN = $PIN\ninit = 0|" "$P11ENV_OPENSSL_CONF"
URI="pkcs11:token=web;object=web-key;type=private"
CERT_URI="pkcs11:token=web;object=web-key;type=cert"
E=(-engine pkcs11 -keyform engine)

units() {
	"$START" A && "$START" B && tpmenv_config A && tpmenv_config B &&
		STEP_NOTE="A: swtpm on port $A_PORT${TPM12:+ + tcsd on port $A_TCSD_PORT}, B: swtpm on port $B_PORT${TPM12:+ + tcsd on port $B_TCSD_PORT}; ${TPM12:+owned, }a store each"
}
step "Starting two units, A and B: $UNITS" units

ma_key() {
	cat >softhsm/softhsm2.conf <<-CONF
		directories.tokendir = $W/softhsm
		objectstore.backend = file
		log.level = ERROR
		slots.removable = false
	CONF
	export SOFTHSM2_CONF=$W/softhsm/softhsm2.conf
	softhsm2-util --init-token --free --label ma --pin "$MA_PIN" --so-pin 9876543210 &&
		pkcs11-tool --module "$SOFTHSM" --token-label ma --login --pin "$MA_PIN" --keypairgen \
			--key-type rsa:2048 --label ma --id 01 &&
		STEP_NOTE="$MA_NOTE, pkcs11:token=ma;object=ma (in production: an HSM)"
}
step "Creating the migration authority's key in SoftHSM" ma_key
MA=(--ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma' --ma-pin-file ma.pin)

domain() {
	local log=$TPMENV_DIR/step$N.log
	"$TPMHA" domain create --out domain.tpmha --label "$DOMAIN" "${MA[@]}" || return 1
	# A TPM 1.2 unit needs a domain it can verify (an RSA-2048 MA).
	[ -z "$TPM12" ] || grep -q 'TPM versions: 2.0 and 1.2' "$log" || return 1
	STEP_NOTE="domain.tpmha${TPM12:+ for TPM 2.0 and 1.2 units}, fingerprint $(sed -n 's/^  fingerprint:  \(.\{16\}\).*/\1/p' "$log")..."
}
step "Creating the migration domain (tpmha domain create)" domain

unit_b() {
	onB "$TPMHA" unit init --out unitB.tpmha --label unit-B &&
		STEP_NOTE="$(sed -n 's/^unit "unit-B" (id \([0-9a-f]*\), \(TPM [0-9.]*\)).*/id \1, \2/p' "$TPMENV_DIR/step$N.log"): its TPM's storage key"
}
step "Unit B: writing its identity (tpmha unit init)" unit_b

token() {
	onA "$TPMHA" token init --label web --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin &&
		STEP_NOTE="token \"web\", serial $(sed -n 's/.*serial \([0-9a-f]*\),.*/\1/p' "$TPMENV_DIR/step$N.log")"
}
step "Unit A: a token in the domain (tpmha token init --domain)" token

key() {
	onA "$TPMHA" key generate --token web --type rsa:2048 --label web-key --id 01 --pubout web-key.pub.pem \
		--pin-file user.pin && STEP_NOTE="$URI$KEY_NOTE"
}
step "Unit A: an RSA-2048 key generated inside A's $TPM (tpmha key generate)" key

cert() {
	onA p11env_openssl req -new -x509 "${E[@]}" -key "$URI" -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -addext extendedKeyUsage=serverAuth -days 30 -out web.crt &&
		openssl verify -CAfile web.crt web.crt &&
		onA "$TPMHA" cert import --token web --file web.crt --id 01 --label web-key --pin-file user.pin &&
		STEP_NOTE="CN=localhost, self-signed by the key in A's TPM"
}
step "Unit A: a certificate made with OpenSSL's pkcs11 engine, stored next to the key (tpmha cert import)" cert

echo "$DEMO: a document signed on unit A, $(date -u +%FT%TZ)" >document.txt
sign_a() {
	onA p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out document.sig document.txt &&
		openssl dgst -sha256 -verify web-key.pub.pem -signature document.sig document.txt &&
		STEP_NOTE="RSA PKCS#1 v1.5 SHA-256, verified in software"
}
step "Unit A: OpenSSL signs a document with the key, by its PKCS#11 URI" sign_a

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >secret.txt
encrypt() {
	openssl pkeyutl -encrypt -pubin -inkey web-key.pub.pem -in secret.txt -out secret.enc "${PAD[@]}" &&
		STEP_NOTE="$PAD_NOTE, $(stat -c %s secret.enc) bytes"
}
step "Encrypting a secret to the key's public key (openssl, software)" encrypt

unapproved() {
	if onA "$TPMHA" replicate --token web --to unitB.tpmha --out web-B.bundle --pin-file user.pin; then
		echo "replicated without an approval!"
		return 1
	fi
	grep -q "$UNAPPROVED" "$TPMENV_DIR/step$N.log" && [ ! -e web-B.bundle ] &&
		STEP_NOTE="refused: the MA has not approved $UNAPPROVED_NOTE; no bundle"
}
step "Unit A: replicating to B before the MA approved it is refused" unapproved

request() {
	onA "$TPMHA" replicate --token web --to unitB.tpmha --request-out request-B.tpmha --pin-file user.pin &&
		STEP_NOTE="request-B.tpmha: $REQUEST_NOTE, for the MA to sign"
}
step "Unit A: asking the MA to approve B$REQUEST_FOR (tpmha replicate --request-out)" request

approve() {
	local log=$TPMENV_DIR/step$N.log keys
	"$TPMHA" domain approve --domain domain.tpmha --request request-B.tpmha --out approval-B.tpmha "${MA[@]}" ||
		return 1
	STEP_NOTE="approval-B.tpmha, signed in SoftHSM"
	# On TPM 1.2, the MA signs each key (and PIN object) too.
	keys=$(sed -n 's/^  key "\(.*\)"$/\1/p' "$log" | paste -sd, | sed 's/,/, /g')
	[ -z "$keys" ] || STEP_NOTE+=" for each of $(grep -c '^  key "' "$log") objects: $keys"
}
step "The migration authority signs what it was shown (tpmha domain approve --request)" approve

replicate() {
	onA "$TPMHA" replicate --token web --to unitB.tpmha --approval approval-B.tpmha --out web-B.bundle \
		--pin-file user.pin --json >replicate.json &&
		STEP_NOTE="web-B.bundle: $(python3 -c 'import json; j = json.load(open("replicate.json")); print("%d objects, %d key, %d bytes" % (j["objects"], j["keys"], j["size"]))' 2>/dev/null || echo written)"
}
step "Unit A: replicating the token to unit B (tpmha replicate --approval); only B's TPM can import it" replicate

receive() {
	onB "$TPMHA" receive --in web-B.bundle --domain domain.tpmha &&
		STEP_NOTE="$(sed -n 's/^received the whole token into the new \(token "web" ([^)]*)\).*/\1/p' "$TPMENV_DIR/step$N.log"), same PINs"
}
step "Unit B: receiving it (tpmha receive); B's $TPM $IMPORTS" receive

stop_a() {
	local swtpm=$A_PID tcsd=
	[ -z "$TPM12" ] || tcsd=$(cat "$A_DIR/tcsd.pid")
	tpmenv_stop A
	! tpmenv_alive "$swtpm" || return 1
	[ -z "$tcsd" ] || ! tpmenv_alive "$tcsd" || return 1
	# Unit A can no longer use the key.
	if onA p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out /dev/null document.txt; then
		echo "unit A still signs"
		return 1
	fi
	STEP_NOTE="swtpm $swtpm${tcsd:+ and tcsd $tcsd} killed; A can no longer sign"
}
step "Unit A dies: $DIES" stop_a

decrypt_b() {
	onB p11env_openssl pkeyutl -decrypt "${E[@]}" -inkey "$URI" -in secret.enc -out secret.dec "${PAD[@]}" &&
		cmp secret.txt secret.dec && STEP_NOTE="same URI, the secret came back intact"
}
step "Unit B: OpenSSL decrypts the secret with the same PKCS#11 URI" decrypt_b

sign_b() {
	echo "$DEMO: a document signed on unit B" >document-b.txt
	onB p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out document-b.sig document-b.txt &&
		openssl dgst -sha256 -verify web-key.pub.pem -signature document-b.sig document-b.txt &&
		STEP_NOTE="verified with the public key unit A wrote"
}
step "Unit B: OpenSSL signs with the same URI" sign_b

serve() {
	GNUTLS_PIN=$PIN TPMHA_CONF=$B_CONF p11env_serve demo-tls 'HTTP Server listening on IPv4' \
		gnutls-serv --provider "$MODULE" --x509keyfile "$URI" --x509certfile "$CERT_URI" \
		"${TLS[@]}" --port @PORT@ --http &&
		STEP_NOTE="port $SERVE_PORT, key and certificate by PKCS#11 URI$TLS_NOTE"
}
step "Unit B: gnutls-serv serves TLS with the same key and certificate" serve

handshake() {
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 gnutls-cli --x509cafile web.crt --verify-hostname localhost \
			--port "$SERVE_PORT" 127.0.0.1 >handshake.txt 2>&1
	cat handshake.txt
	grep -q -- '- Status: The certificate is trusted' handshake.txt &&
		grep -q -- '- Handshake was completed' handshake.txt &&
		grep -q '^HTTP/1.0 200 OK' handshake.txt &&
		STEP_NOTE="$(sed -n 's/^- Description: //p' handshake.txt), certificate trusted"
}
step "A client (gnutls-cli) connects to unit B and verifies the certificate" handshake
tpmenv_kill "$SERVE_PID"

status_b() {
	onB "$TPMHA" status >status-B.txt && cat status-B.txt &&
		grep -q "domain \"$DOMAIN\"" status-B.txt || return 1
	if [ -n "$TPM12" ]; then
		grep -q 'version: *1\.2' status-B.txt &&
			STEP_NOTE="TPM 1.2 through tcsd $(sed -n 's/^  tcsd: *//p' status-B.txt); token \"web\" in domain \"$DOMAIN\""
	else
		STEP_NOTE="token \"web\" in domain \"$DOMAIN\" on unit B"
	fi
}
step "Unit B: tpmha status" status_b

echo "$DEMO: SUCCESS - all $N steps passed; unit A's $TPM is gone and unit B uses the same key, under the same PKCS#11 URI, from its own $TPM."
