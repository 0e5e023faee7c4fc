#!/usr/bin/env bash
# The tpmha failover demo on TPM 1.2 units (./quickstart demo --tpm12): the story of
# tests/demo-ha.sh with two units A and B that each have an emulated TPM 1.2 (swtpm in
# TPM 1.2 mode and its own trousers tcsd), and a migration authority (MA) whose
# RSA-2048 key is in SoftHSM. On A, a token bound to the MA's domain gets an RSA-2048
# key made in A's TPM (a certifiable migratable key) and a certificate; OpenSSL signs
# with the key by its PKCS#11 URI and a secret is encrypted to it. A TPM 1.2 checks an
# MA signature for each key it lets go, so A asks first (replicate --request-out), the
# MA signs what it was shown (domain approve --request), and A replicates the token to
# B. Then A dies (its swtpm and tcsd are killed), and on B the same PKCS#11 URI
# decrypts the secret, signs, and serves TLS 1.2 with gnutls-serv (TLS 1.3 would need
# RSA-PSS, which a TPM 1.2 cannot do) to a client that verifies the certificate. Each
# step is one line; the last line says whether everything worked; the exit status is
# non-zero if any step failed. tcsd runs as root: so does this demo.
#
# DEMO_KEEP=1 keeps the working folder (logs, files, the units' stores).
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
	echo "tpmha TPM 1.2 HA demo: FAILED at step $N ($text)"
	[ -n "${DEMO_KEEP:-}" ] && echo "(working folder kept: $TPMENV_DIR)"
	exit 1
}

onA() { TPMHA_CONF=$A_CONF "$@"; }
onB() { TPMHA_CONF=$B_CONF "$@"; }

requirements() {
	tpmenv_tpm12_ready || return 1
	p11env_require pkcs11-tool openssl gnutls-serv gnutls-cli swtpm tcsd softhsm2-util || return 1
	[ -x "$TPMHA" ] || { echo "the tpmha CLI is not built: $TPMHA"; return 1; }
	[ -f "$MODULE" ] || { echo "the tpmha module is not built: $MODULE"; return 1; }
	[ -f "$SOFTHSM" ] || { echo "SoftHSM's module is not there: $SOFTHSM"; return 1; }
	p11env_engine_conf
}
step "Checking the tools (root for tcsd, swtpm, trousers, SoftHSM, pkcs11-tool, OpenSSL's pkcs11 engine, GnuTLS)" \
	requirements

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
	tpmenv_start_tpm12 A && tpmenv_start_tpm12 B && tpmenv_config A && tpmenv_config B &&
		STEP_NOTE="A: swtpm port $A_PORT + tcsd port $A_TCSD_PORT, B: swtpm port $B_PORT + tcsd port $B_TCSD_PORT; owned, a store each"
}
step "Starting two units, A and B: an emulated TPM 1.2 (swtpm) and its own tcsd each" units

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
		STEP_NOTE="RSA-2048 (what a TPM 1.2 verifies), pkcs11:token=ma;object=ma (in production: an HSM)"
}
step "Creating the migration authority's key in SoftHSM" ma_key
MA=(--ma-module "$SOFTHSM" --ma-key 'pkcs11:token=ma;object=ma' --ma-pin-file ma.pin)

domain() {
	"$TPMHA" domain create --out domain.tpmha --label demo12 "${MA[@]}" &&
		grep -q 'TPM versions: 2.0 and 1.2' "$TPMENV_DIR/step$N.log" &&
		STEP_NOTE="domain.tpmha for TPM 2.0 and 1.2 units, fingerprint $(sed -n 's/^  fingerprint:  \(.\{16\}\).*/\1/p' "$TPMENV_DIR/step$N.log")..."
}
step "Creating the migration domain (tpmha domain create)" domain

unit_b() {
	onB "$TPMHA" unit init --out unitB.tpmha --label unit-B &&
		STEP_NOTE="$(sed -n 's/^unit "unit-B" (id \([0-9a-f]*\), \(TPM 1.2\)).*/id \1, \2/p' "$TPMENV_DIR/step$N.log"): its TPM's storage key"
}
step "Unit B: writing its identity (tpmha unit init)" unit_b

token() {
	onA "$TPMHA" token init --label web --domain domain.tpmha --so-pin-file so.pin --pin-file user.pin &&
		STEP_NOTE="token \"web\", serial $(sed -n 's/.*serial \([0-9a-f]*\),.*/\1/p' "$TPMENV_DIR/step$N.log")"
}
step "Unit A: a token in the domain (tpmha token init --domain)" token

key() {
	onA "$TPMHA" key generate --token web --type rsa:2048 --label web-key --id 01 --pubout web-key.pub.pem \
		--pin-file user.pin && STEP_NOTE="$URI, a certifiable migratable key bound to the MA"
}
step "Unit A: an RSA-2048 key generated inside A's TPM 1.2 (tpmha key generate)" key

cert() {
	onA p11env_openssl req -new -x509 "${E[@]}" -key "$URI" -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost -addext extendedKeyUsage=serverAuth -days 30 -out web.crt &&
		openssl verify -CAfile web.crt web.crt &&
		onA "$TPMHA" cert import --token web --file web.crt --id 01 --label web-key --pin-file user.pin &&
		STEP_NOTE="CN=localhost, self-signed by the key in A's TPM"
}
step "Unit A: a certificate made with OpenSSL's pkcs11 engine, stored next to the key (tpmha cert import)" cert

echo "tpmha TPM 1.2 HA demo: a document signed on unit A, $(date -u +%FT%TZ)" >document.txt
sign_a() {
	onA p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out document.sig document.txt &&
		openssl dgst -sha256 -verify web-key.pub.pem -signature document.sig document.txt &&
		STEP_NOTE="RSA PKCS#1 v1.5 SHA-256, verified in software"
}
step "Unit A: OpenSSL signs a document with the key, by its PKCS#11 URI" sign_a

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >secret.txt
encrypt() {
	openssl pkeyutl -encrypt -pubin -inkey web-key.pub.pem -in secret.txt -out secret.enc \
		-pkeyopt rsa_padding_mode:pkcs1 &&
		STEP_NOTE="RSA PKCS#1 v1.5 (what a TPM 1.2 decrypts), $(stat -c %s secret.enc) bytes"
}
step "Encrypting a secret to the key's public key (openssl, software)" encrypt

unapproved() {
	if onA "$TPMHA" replicate --token web --to unitB.tpmha --out web-B.bundle --pin-file user.pin; then
		echo "replicated without an approval!"
		return 1
	fi
	grep -q 'approved key by key' "$TPMENV_DIR/step$N.log" && [ ! -e web-B.bundle ] &&
		STEP_NOTE="refused: the MA has not approved these keys for B; no bundle"
}
step "Unit A: replicating to B before the MA approved it is refused" unapproved

request() {
	onA "$TPMHA" replicate --token web --to unitB.tpmha --request-out request-B.tpmha --pin-file user.pin &&
		STEP_NOTE="request-B.tpmha: unit B and the token's keys, for the MA to sign"
}
step "Unit A: asking the MA to approve B for the token's keys (tpmha replicate --request-out)" request

approve() {
	"$TPMHA" domain approve --domain domain.tpmha --request request-B.tpmha --out approval-B.tpmha "${MA[@]}" &&
		STEP_NOTE="approval-B.tpmha, signed in SoftHSM for each of $(grep -c '^  key "' "$TPMENV_DIR/step$N.log") objects: $(sed -n 's/^  key "\(.*\)"$/\1/p' "$TPMENV_DIR/step$N.log" | paste -sd, | sed 's/,/, /g')"
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
step "Unit B: receiving it (tpmha receive); B's TPM 1.2 converts the migrated key" receive

stop_a() {
	local swtpm=$A_PID tcsd
	tcsd=$(cat "$A_DIR/tcsd.pid")
	tpmenv_stop A
	! tpmenv_alive "$swtpm" && ! tpmenv_alive "$tcsd" || return 1
	# Unit A can no longer use the key.
	if onA p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out /dev/null document.txt; then
		echo "unit A still signs"
		return 1
	fi
	STEP_NOTE="swtpm $swtpm and tcsd $tcsd killed; A can no longer sign"
}
step "Unit A dies: its TPM and tcsd are stopped" stop_a

decrypt_b() {
	onB p11env_openssl pkeyutl -decrypt "${E[@]}" -inkey "$URI" -in secret.enc -out secret.dec \
		-pkeyopt rsa_padding_mode:pkcs1 &&
		cmp secret.txt secret.dec && STEP_NOTE="same URI, the secret came back intact"
}
step "Unit B: OpenSSL decrypts the secret with the same PKCS#11 URI" decrypt_b

sign_b() {
	echo "tpmha TPM 1.2 HA demo: a document signed on unit B" >document-b.txt
	onB p11env_openssl dgst -sha256 "${E[@]}" -sign "$URI" -out document-b.sig document-b.txt &&
		openssl dgst -sha256 -verify web-key.pub.pem -signature document-b.sig document-b.txt &&
		STEP_NOTE="verified with the public key unit A wrote"
}
step "Unit B: OpenSSL signs with the same URI" sign_b

serve() {
	GNUTLS_PIN=$PIN TPMHA_CONF=$B_CONF p11env_serve demo-tls 'HTTP Server listening on IPv4' \
		gnutls-serv --provider "$MODULE" --x509keyfile "$URI" --x509certfile "$CERT_URI" \
		--priority 'NORMAL:-VERS-TLS1.3' --port @PORT@ --http &&
		STEP_NOTE="port $SERVE_PORT, key and certificate by PKCS#11 URI; TLS 1.2 (TLS 1.3 needs RSA-PSS)"
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
		grep -q 'version: *1\.2' status-B.txt && grep -q 'domain "demo12"' status-B.txt &&
		STEP_NOTE="TPM 1.2 through tcsd $(sed -n 's/^  tcsd: *//p' status-B.txt); token \"web\" in domain \"demo12\""
}
step "Unit B: tpmha status" status_b

echo "tpmha TPM 1.2 HA demo: SUCCESS - all $N steps passed; unit A's TPM 1.2 is gone and unit B uses the same key, under the same PKCS#11 URI, from its own TPM 1.2."
