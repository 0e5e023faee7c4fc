#!/usr/bin/env bash
# The tpmha demo (./quickstart demo): a token on an emulated TPM 2.0, an RSA and
# an EC key generated inside the TPM, a certificate made for the key by
# certtool, a TLS handshake served with that key by gnutls-serv and verified by
# a client, and data signed and decrypted by OpenSSL through the pkcs11 engine.
# Each step is one line; the last line says whether everything worked; the exit
# status is non-zero if any step failed.
#
# P11_TEST_MODULE=softhsm runs the same story on SoftHSM (to check the script).
# DEMO_KEEP=1 keeps the working folder (logs, keys' public halves, certificates).
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
. "$top/tests/lib/p11env.sh"

[ -n "${DEMO_KEEP:-}" ] && TPMENV_KEEP=1
tpmenv_init
N=0
TOTAL=11
WHERE="the TPM"
[ "${P11_TEST_MODULE:-tpmha}" = softhsm ] && WHERE="SoftHSM"
export P11ENV_TOKEN_LABEL=${P11ENV_TOKEN_LABEL:-tpmha-demo}

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
	echo "tpmha demo: FAILED at step $N ($text)"
	[ -n "${DEMO_KEEP:-}" ] && echo "(working folder kept: $TPMENV_DIR)"
	exit 1
}

demo_require() {
	p11env_require pkcs11-tool openssl certtool p11tool gnutls-serv gnutls-cli swtpm
}
step "Checking the tools the demo uses (pkcs11-tool, openssl, GnuTLS, swtpm)" demo_require

setup() {
	p11env_setup || return 1
	case $P11_TEST_MODULE in
	tpmha) STEP_NOTE="swtpm on 127.0.0.1:$P11_PORT, token \"$TOKEN_LABEL\", module $MODULE" ;;
	*) STEP_NOTE="token \"$TOKEN_LABEL\", module $MODULE" ;;
	esac
}
if [ "${P11_TEST_MODULE:-tpmha}" = tpmha ]; then
	step "Starting an emulated TPM 2.0 and creating a token in it (C_InitToken, C_InitPIN)" setup
else
	step "Creating a SoftHSM token in place of the TPM (C_InitToken, C_InitPIN)" setup
fi
W=$P11ENV_WORK
cd "$W" || exit 1
T="pkcs11:token=$TOKEN_LABEL"
RSA="$T;object=demo-rsa;type=private"
EC="$T;object=demo-ec;type=private"

rsakey() {
	p11env_keypair demo-rsa 01 rsa:2048 &&
		STEP_NOTE="$(openssl pkey -pubin -in demo-rsa.pub.pem -noout -text | head -1), URI $RSA"
}
step "Generating an RSA key inside $WHERE" rsakey
eckey() {
	p11env_keypair demo-ec 02 EC:prime256v1 &&
		STEP_NOTE="P-256, URI $EC"
}
step "Generating an EC key inside $WHERE" eckey

cat >server.tmpl <<'TMPL'
cn = localhost
dns_name = localhost
serial = 1
expiration_days = 30
tls_www_server
signing_key
encryption_key
TMPL
cert() {
	GNUTLS_PIN=$PIN certtool --generate-self-signed --provider "$MODULE" --load-privkey "$RSA" \
		--template server.tmpl --outfile demo-rsa.crt &&
		openssl verify -CAfile demo-rsa.crt demo-rsa.crt &&
		GNUTLS_PIN=$PIN p11tool --provider "$MODULE" --login --write --load-certificate demo-rsa.crt \
			--label demo-rsa --id 01 "$T" &&
		STEP_NOTE="$(openssl x509 -in demo-rsa.crt -noout -subject), stored next to the key"
}
step "Making a certificate for the RSA key with certtool (signed in $WHERE)" cert

serve() {
	p11env_serve demo-tls 'HTTP Server listening on IPv4' gnutls-serv --provider "$MODULE" \
		--x509keyfile "$RSA;pin-value=$PIN" --x509certfile "$T;object=demo-rsa;type=cert" \
		--port @PORT@ --http &&
		STEP_NOTE="port $SERVE_PORT, key and certificate by PKCS#11 URI"
}
step "Serving TLS with gnutls-serv using the key in $WHERE" serve
handshake() {
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 gnutls-cli --x509cafile demo-rsa.crt --verify-hostname localhost \
		--port "$SERVE_PORT" 127.0.0.1 >handshake.txt 2>&1
	cat handshake.txt
	grep -q -- '- Status: The certificate is trusted' handshake.txt &&
		grep -q -- '- Handshake was completed' handshake.txt &&
		grep -q '^HTTP/1.0 200 OK' handshake.txt &&
		STEP_NOTE="$(sed -n 's/^- Description: //p' handshake.txt), certificate trusted"
}
step "Connecting with gnutls-cli, which verifies the server's certificate" handshake
tpmenv_kill "$SERVE_PID"

p11env_engine_conf >/dev/null
E=(-engine pkcs11 -keyform engine)
echo "tpmha demo: a document to sign, $(date -u +%FT%TZ)" >document.txt
sign() {
	p11env_openssl dgst -sha256 "${E[@]}" -sign "$RSA;pin-value=$PIN" -out document.sig document.txt &&
		openssl dgst -sha256 -verify demo-rsa.pub.pem -signature document.sig document.txt &&
		STEP_NOTE="RSA PKCS#1 v1.5 SHA-256, verified by openssl in software"
}
step "Signing a document with OpenSSL through the pkcs11 engine (RSA key by URI)" sign
ecsign() {
	p11env_openssl dgst -sha256 "${E[@]}" -sign "$EC;pin-value=$PIN" -out document.ecsig document.txt &&
		openssl dgst -sha256 -verify demo-ec.pub.pem -signature document.ecsig document.txt &&
		STEP_NOTE="ECDSA P-256 SHA-256, verified by openssl in software"
}
step "Signing it with the EC key too" ecsign

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >secret.txt
encrypt() {
	openssl pkeyutl -encrypt -pubin -inkey demo-rsa.pub.pem -in secret.txt -out secret.enc \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 &&
		STEP_NOTE="RSA-OAEP SHA-256, $(stat -c %s secret.enc) bytes"
}
step "Encrypting a secret to the RSA public key with openssl (software)" encrypt
decrypt() {
	p11env_openssl pkeyutl -decrypt "${E[@]}" -inkey "$RSA;pin-value=$PIN" -in secret.enc -out secret.dec \
		-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 &&
		cmp secret.txt secret.dec && STEP_NOTE="the secret came back intact"
}
step "Decrypting it with OpenSSL through the pkcs11 engine (key in $WHERE)" decrypt

if [ "$P11_TEST_MODULE" = tpmha ]; then
	echo "tpmha demo: SUCCESS - all $N steps passed; the private keys were created in the TPM and never left it."
else
	echo "tpmha demo: SUCCESS - all $N steps passed (on SoftHSM: this checked the demo script, not tpmha)."
fi
