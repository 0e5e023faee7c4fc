#!/usr/bin/env bash
# OpenSSL through libp11's pkcs11 engine, keys named by PKCS#11 URI: pkeyutl
# sign and decrypt, dgst, req -x509, x509 -req signing with the token key, and
# TLS served by s_server with the token key (TLS 1.3 RSA-PSS, TLS 1.2 PKCS#1
# v1.5, ECDSA). Every result is checked by OpenSSL in software.
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
cd "$P11ENV_WORK" || exit 1
if p11env_keypair rsa-key 01 rsa:2048 >keys.log 2>&1 && p11env_keypair ec-key 02 EC:prime256v1 >>keys.log 2>&1; then
	tap_ok "token on $P11_TEST_MODULE with an RSA-2048 and an EC P-256 key pair"
else
	tap_notok "token on $P11_TEST_MODULE with an RSA-2048 and an EC P-256 key pair" "$(tail -20 keys.log)"
	tap_finish
fi
if ! p11env_engine_conf 2>engine.err; then
	tap_notok "libp11's pkcs11 engine is installed" "$(cat engine.err)"
	tap_finish
fi
tap_expect "openssl engine -t pkcs11 loads the engine on the module" '\[ available \]' \
	env OPENSSL_CONF="$P11ENV_OPENSSL_CONF" openssl engine -t pkcs11

RSA="pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private;pin-value=$PIN"
EC="pkcs11:token=$TOKEN_LABEL;object=ec-key;type=private;pin-value=$PIN"
E=(-engine pkcs11 -keyform engine)

head -c 3000 /dev/urandom >data
openssl dgst -sha256 -binary data >data.sha256

# --- pkeyutl / dgst -----------------------------------------------------------------
tap_run "pkeyutl -sign, RSA PKCS#1 v1.5 over SHA-256, key by URI" \
	p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -sign -in data.sha256 -out sig.pkcs1 -pkeyopt digest:sha256
tap_expect "openssl verifies it in software" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha256 -sigfile sig.pkcs1 -pkeyopt digest:sha256
tap_run "pkeyutl -sign, RSA-PSS (SHA-256, salt 32)" \
	p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -sign -in data.sha256 -out sig.pss \
	-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32
tap_expect "openssl verifies the PSS signature" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha256 -sigfile sig.pss \
	-pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32
tap_run "pkeyutl -sign, ECDSA P-256" \
	p11env_openssl pkeyutl "${E[@]}" -inkey "$EC" -sign -in data.sha256 -out sig.ecdsa
tap_expect "openssl verifies the ECDSA signature" 'Signature Verified Successfully' \
	openssl pkeyutl -verify -pubin -inkey ec-key.pub.pem -in data.sha256 -sigfile sig.ecdsa
tap_run "dgst -sha384 -sign with the token's RSA key" \
	p11env_openssl dgst -sha384 "${E[@]}" -sign "$RSA" -out sig.dgst data
tap_expect "openssl dgst -verify accepts it" '^Verified OK$' \
	openssl dgst -sha384 -verify rsa-key.pub.pem -signature sig.dgst data

head -c 100 /dev/urandom >secret
enc_dec() { # ENCOPTS... -- : encrypt in software, decrypt with the token key
	local o=()
	while [ $# -gt 0 ]; do o+=(-pkeyopt "$1"); shift; done
	openssl pkeyutl -encrypt -pubin -inkey rsa-key.pub.pem -in secret -out ct "${o[@]}" &&
		p11env_openssl pkeyutl "${E[@]}" -inkey "$RSA" -decrypt -in ct -out pt "${o[@]}" &&
		cmp secret pt && echo "plaintext recovered"
}
tap_expect "pkeyutl -decrypt RSA-OAEP SHA-256 (-pkeyopt) of an openssl ciphertext" 'plaintext recovered' \
	enc_dec rsa_padding_mode:oaep rsa_oaep_md:sha256 rsa_mgf1_md:sha256
tap_expect "pkeyutl -decrypt RSA-OAEP SHA-1" 'plaintext recovered' enc_dec rsa_padding_mode:oaep
tap_expect "pkeyutl -decrypt RSA PKCS#1 v1.5" 'plaintext recovered' enc_dec rsa_padding_mode:pkcs1

# The PIN from the engine's configuration instead of the URI.
sed "s|^init = 0|PIN = $PIN\ninit = 0|" "$P11ENV_OPENSSL_CONF" >openssl-pin.cnf
tap_expect "the PIN can come from the engine config (URI without pin-value)" 'Signature Verified Successfully' \
	sh -c 'OPENSSL_CONF=openssl-pin.cnf openssl pkeyutl -engine pkcs11 -keyform engine \
		-inkey "pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private" -sign -in data.sha256 -out sig.cfgpin \
		-pkeyopt digest:sha256 &&
		openssl pkeyutl -verify -pubin -inkey rsa-key.pub.pem -in data.sha256 -sigfile sig.cfgpin -pkeyopt digest:sha256'
tap_expect_fail "a wrong pin-value in the URI is refused (PIN incorrect)" 'PIN incorrect|CKR_PIN_INCORRECT' \
	p11env_openssl pkeyutl "${E[@]}" -inkey "pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private;pin-value=bad$PIN" \
	-sign -in data.sha256 -out sig.bad -pkeyopt digest:sha256

# --- certificates ---------------------------------------------------------------------
tap_run "req -new -x509: a self-signed CA certificate for the token's RSA key" \
	p11env_openssl req -new -x509 "${E[@]}" -key "$RSA" -subj "/CN=tpmha test CA" -days 2 -sha256 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature \
	-out ca.pem
tap_expect "openssl verify accepts its self-signature" '^ca.pem: OK$' openssl verify -CAfile ca.pem ca.pem
tap_expect "its public key is the token's key" '^same$' \
	sh -c 'openssl x509 -in ca.pem -pubkey -noout | cmp - rsa-key.pub.pem && echo same'
tap_run "req -new: a CSR signed by the token's EC key" \
	p11env_openssl req -new "${E[@]}" -key "$EC" -subj /CN=localhost -addext subjectAltName=DNS:localhost -out ec.csr
tap_expect "openssl req -verify accepts the CSR" 'self-signature ok|verify OK' \
	openssl req -in ec.csr -verify -noout
tap_run "x509 -req: the token's RSA CA key signs the EC key's certificate" \
	p11env_openssl x509 -req -in ec.csr "${E[@]}" -CAkeyform engine -CAkey "$RSA" -CA ca.pem \
	-set_serial 2 -days 2 -sha256 -copy_extensions copy -out ec.pem
tap_expect "openssl verify: the EC certificate chains to the CA" '^ec.pem: OK$' \
	openssl verify -CAfile ca.pem ec.pem
tap_expect "openssl x509 -text shows an EC P-256 key issued by the CA" 'Issuer: CN ?= ?tpmha test CA' \
	sh -c 'openssl x509 -in ec.pem -text -noout && openssl x509 -in ec.pem -noout -text | grep -q "NIST CURVE: P-256"'

# --- TLS: s_server with the token key, s_client verifies ------------------------------
# $1 name, $2 key URI, $3 cert, $4 CA file, $5 host name to verify,
# $6 expected peer signature, rest: s_client options
tls() {
	local name=$1 key=$2 cert=$3 ca=$4 host=$5 sigre=$6
	shift 6
	p11env_serve "$name" '^ACCEPT' env OPENSSL_CONF="$P11ENV_OPENSSL_CONF" \
		openssl s_server -engine pkcs11 -keyform engine -key "$key" -cert "$cert" \
		-accept 127.0.0.1:@PORT@ -www -naccept 1 || return 1
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 openssl s_client -connect "127.0.0.1:$SERVE_PORT" -CAfile "$ca" \
		-verify_return_error -verify_hostname "$host" -ign_eof "$@" >"$name.client" 2>&1
	local st=$?
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
# The self-signed CA certificate doubles as the RSA server's certificate.
tap_run "s_server (RSA token key) <-> s_client, TLS 1.3: verified, RSA-PSS signature from the token" \
	tls tls13-rsa "$RSA" ca.pem ca.pem "tpmha test CA" 'Peer signature type: RSA-PSS' -tls1_3
tap_run "s_server (RSA token key) <-> s_client, TLS 1.2 with RSA+SHA256: PKCS#1 v1.5 signature" \
	tls tls12-rsa "$RSA" ca.pem ca.pem "tpmha test CA" 'Peer signature type: RSA$' -tls1_2 -sigalgs RSA+SHA256
tap_run "s_server (EC token key, CA-issued cert) <-> s_client, TLS 1.3: ECDSA signature from the token" \
	tls tls13-ec "$EC" ec.pem ca.pem localhost 'Peer signature type: ECDSA' -tls1_3

tap_finish
