#!/usr/bin/env bash
# OpenSSL through libp11's pkcs11 engine on a token of a TPM 1.2 unit, the key named by
# PKCS#11 URI: pkeyutl sign (PKCS#1 v1.5) and decrypt (PKCS#1 v1.5), dgst, req -x509,
# x509 -req, and s_server over TLS 1.2 with PKCS#1 v1.5 signatures — each result
# checked by OpenSSL in software. What a TPM 1.2 cannot do (PSS, OAEP) fails cleanly:
# the engine never does it in software with the key. Needs root (tcsd): SKIPs
# otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

p11env_tpm12_or_skip
tpmenv_init
tap_init

if ! p11env_require pkcs11-tool openssl 2>"$TPMENV_DIR/require.err"; then
	tap_notok "pkcs11-tool and openssl are installed" "$(cat "$TPMENV_DIR/require.err")"
	tap_finish
fi
export P11ENV_TOKEN_LABEL=tpm12-openssl
if ! p11env_setup --tpm12 2>"$TPMENV_DIR/setup.err"; then
	tap_notok "a token is initialized on a TPM 1.2 unit" "$(cat "$TPMENV_DIR/setup.err")"
	tap_finish
fi
cd "$P11ENV_WORK" || exit 1
if p11env_keypair rsa-key 01 rsa:2048 >keys.log 2>&1; then
	tap_ok "a token on a TPM 1.2 unit with an RSA-2048 key pair made in the TPM"
else
	tap_notok "a token on a TPM 1.2 unit with an RSA-2048 key pair made in the TPM" "$(tail -20 keys.log)"
	tap_finish
fi
if ! p11env_engine_conf 2>engine.err; then
	tap_notok "libp11's pkcs11 engine is installed" "$(cat engine.err)"
	tap_finish
fi
tap_expect "openssl engine -t pkcs11 loads the engine on the module" '\[ available \]' \
	env OPENSSL_CONF="$P11ENV_OPENSSL_CONF" openssl engine -t pkcs11

RSA="pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private;pin-value=$PIN"
E=(-engine pkcs11 -keyform engine)

head -c 3000 /dev/urandom >data
openssl dgst -sha256 -binary data >data.sha256
openssl dgst -sha1 -binary data >data.sha1

# --- pkeyutl / dgst -----------------------------------------------------------------
tap_run "pkeyutl -sign, PKCS#1 v1.5 over SHA-256, key by URI" \
	p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -sign -in data.sha256 -out sig.pkcs1 -pkeyopt digest:sha256
tap_expect "openssl verifies it in software" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha256 -sigfile sig.pkcs1 -pkeyopt digest:sha256
tap_run "pkeyutl -sign, PKCS#1 v1.5 over SHA-1" \
	p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -sign -in data.sha1 -out sig.sha1 -pkeyopt digest:sha1
tap_expect "openssl verifies the SHA-1 signature" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha1 -sigfile sig.sha1 -pkeyopt digest:sha1
tap_run "dgst -sha384 -sign with the token's key" \
	p11env_openssl dgst -sha384 "${E[@]}" -sign "$RSA" -out sig.dgst data
tap_expect "openssl dgst -verify accepts it" '^Verified OK$' \
	openssl dgst -sha384 -verify rsa-key.pub.pem -signature sig.dgst data
pss() {
	! p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -sign -in data.sha256 -out sig.pss \
		-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 &&
		! openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha256 -sigfile sig.pss \
			-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32 2>/dev/null
}
tap_run "pkeyutl -sign with PSS padding fails, and no PSS signature appears (no PSS in a TPM 1.2)" pss

head -c 100 /dev/urandom >secret
enc_dec() { # NAME ENCOPTS... : encrypt in software, decrypt with the token key
	local name=$1 o=()
	shift
	while [ $# -gt 0 ]; do o+=(-pkeyopt "$1"); shift; done
	openssl pkeyutl -encrypt -pubin -inkey rsa-key.pub.pem -in secret -out "$name.ct" "${o[@]}" &&
		p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -decrypt -in "$name.ct" -out "$name.pt" "${o[@]}" &&
		cmp secret "$name.pt" && echo "plaintext recovered"
}
tap_expect "pkeyutl -decrypt PKCS#1 v1.5 of an openssl ciphertext" 'plaintext recovered' \
	enc_dec pkcs1 rsa_padding_mode:pkcs1
tap_expect "pkeyutl -decrypt with the default padding (PKCS#1 v1.5)" 'plaintext recovered' enc_dec default
tap_expect_fail "pkeyutl -decrypt of a standard OAEP ciphertext fails (TPM 1.2 OAEP is the TCPA form only)" '.' \
	enc_dec oaep rsa_padding_mode:oaep rsa_oaep_md:sha256 rsa_mgf1_md:sha256
tap_expect_fail "a wrong pin-value in the URI is refused" 'PIN incorrect|CKR_PIN_INCORRECT' \
	p11env_openssl pkeyutl "${E[@]}" -inkey "pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private;pin-value=bad$PIN" \
	-sign -in data.sha256 -out sig.bad -pkeyopt digest:sha256

# --- certificates ---------------------------------------------------------------------
tap_run "req -new -x509: a self-signed certificate for the token's key (sha256WithRSAEncryption)" \
	p11env_openssl req -new -x509 "${E[@]}" -key "$RSA" -subj "/CN=localhost" -days 2 -sha256 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature \
	-addext subjectAltName=DNS:localhost -out ca.pem
tap_expect "openssl verify accepts its self-signature" '^ca.pem: OK$' openssl verify -CAfile ca.pem ca.pem
tap_expect "its public key is the token's key" '^same$' \
	sh -c 'openssl x509 -in ca.pem -pubkey -noout | cmp - rsa-key.pub.pem && echo same'
tap_expect "its signature is PKCS#1 v1.5" 'Signature Algorithm: sha256WithRSAEncryption' \
	openssl x509 -in ca.pem -noout -text
openssl req -new -newkey rsa:2048 -nodes -keyout leaf.key -subj /CN=leaf -out leaf.csr 2>/dev/null
tap_run "x509 -req: the token's key signs another key's certificate" \
	p11env_openssl x509 -req -in leaf.csr "${E[@]}" -CAkeyform engine -CAkey "$RSA" -CA ca.pem \
	-set_serial 2 -days 2 -sha256 -out leaf.pem
tap_expect "openssl verify: it chains to the token's certificate" '^leaf.pem: OK$' \
	openssl verify -CAfile ca.pem leaf.pem

# --- TLS 1.2: s_server with the token key, s_client verifies ------------------------------
tls() { # NAME SIG-ERE s_client options...
	local name=$1 sigre=$2 st
	shift 2
	p11env_serve "$name" '^ACCEPT' env OPENSSL_CONF="$P11ENV_OPENSSL_CONF" \
		openssl s_server -engine pkcs11 -keyform engine -key "$RSA" -cert ca.pem \
		-accept 127.0.0.1:@PORT@ -www -naccept 1 || return 1
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -CAfile ca.pem \
		-verify_return_error -verify_hostname localhost -ign_eof "$@" >"$name.client" 2>&1
	st=$?
	tpmenv_kill "$SERVE_PID"
	echo "--- client"
	cat "$name.client"
	echo "--- server"
	cat "$P11ENV_WORK/$name.out"
	[ $st -eq 0 ] || { echo "s_client exit status $st"; return 1; }
	grep -q 'Verify return code: 0 (ok)' "$name.client" || { echo "server not verified"; return 1; }
	grep -q '^HTTP/1.0 200 ok' "$name.client" || { echo "no HTTP answer over TLS"; return 1; }
	grep -Eq "$sigre" "$name.client" || { echo "peer signature not /$sigre/"; return 1; }
}
tap_run "s_server (token key) <-> s_client, TLS 1.2 with RSA+SHA256: a PKCS#1 v1.5 signature by the TPM 1.2" \
	tls tls12 'Peer signature type: RSA$' -tls1_2 -sigalgs RSA+SHA256

tap_finish
