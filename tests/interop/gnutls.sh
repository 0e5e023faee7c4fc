#!/usr/bin/env bash
# GnuTLS against the module: p11tool listings (with and without login),
# certtool self-signed certificates for token keys named by PKCS#11 URI,
# certificates stored into the token by p11tool, and TLS served by gnutls-serv
# with key and certificate taken from the token by URI, verified by gnutls-cli
# (RSA: TLS 1.3 RSA-PSS and TLS 1.2 PKCS#1 v1.5; EC: ECDSA).
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

tpmenv_init
tap_init

if ! p11env_require pkcs11-tool openssl p11tool certtool gnutls-serv gnutls-cli 2>"$TPMENV_DIR/require.err"; then
	tap_notok "GnuTLS tools (gnutls-bin) and pkcs11-tool are installed" "$(cat "$TPMENV_DIR/require.err")"
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
export GNUTLS_PIN=$PIN
T="pkcs11:token=$TOKEN_LABEL"

# --- p11tool --------------------------------------------------------------------------
tap_expect "p11tool --list-tokens shows the token by label" "URL: pkcs11:.*token=$TOKEN_LABEL" \
	p11tool --provider "$MODULE" --list-tokens
count() { # WANT ERE ARGS... : p11tool ARGS lists WANT objects whose Type matches ERE
	local want=$1 ere=$2 n
	shift 2
	p11tool --provider "$MODULE" "$@" >list.txt 2>&1 || { cat list.txt; return 1; }
	cat list.txt
	n=$(grep -Ec "^[[:space:]]*Type: ($ere)" list.txt)
	[ "$n" -eq "$want" ] || { echo "expected $want objects of type /$ere/, got $n"; return 1; }
}
tap_run "p11tool --list-all (no login): the 2 public keys" count 2 'Public key' --list-all "$T"
tap_run "p11tool --list-all (no login): no private key" count 0 'Private key' --list-all "$T"
tap_run "p11tool --login --list-all (GNUTLS_PIN): RSA-2048 and EC P-256 private keys" \
	count 2 'Private key \((RSA-2048|EC/ECDSA-SECP256R1)\)' --login --list-all "$T"
tap_expect "p11tool gives each key a URL with token, id and object" \
	"URL: pkcs11:.*token=$TOKEN_LABEL;id=%01;object=rsa-key;type=private" cat list.txt

# --- certtool -----------------------------------------------------------------------------
cat >server.tmpl <<'TMPL'
cn = localhost
dns_name = localhost
serial = 7
expiration_days = 2
tls_www_server
signing_key
encryption_key
TMPL
selfsigned() { # LABEL
	certtool --generate-self-signed --provider "$MODULE" \
		--load-privkey "$T;object=$1;type=private" --template server.tmpl --outfile "$1.crt" &&
		openssl verify -CAfile "$1.crt" "$1.crt" &&
		openssl x509 -in "$1.crt" -pubkey -noout | cmp - "$1.pub.pem" && echo "key matches"
}
tap_expect "certtool --generate-self-signed with the RSA key by URI; openssl verifies it" 'key matches' \
	selfsigned rsa-key
tap_expect "certtool --generate-self-signed with the EC key by URI; openssl verifies it" 'key matches' \
	selfsigned ec-key
store() { # LABEL ID
	p11tool --provider "$MODULE" --login --write --load-certificate "$1.crt" --label "$1" --id "$2" "$T" &&
		p11tool --provider "$MODULE" --export "$T;object=$1;type=cert" --outfile "$1.back.crt" &&
		openssl x509 -in "$1.back.crt" -outform DER | cmp - <(openssl x509 -in "$1.crt" -outform DER) &&
		echo "stored and read back"
}
tap_expect "p11tool --write stores the RSA certificate next to its key; --export reads it back" \
	'stored and read back' store rsa-key 01
tap_expect "the same for the EC certificate" 'stored and read back' store ec-key 02
tap_run "p11tool --list-all-certs: both certificates" count 2 'X.509 Certificate' --list-all-certs "$T"

# --- TLS: gnutls-serv with key and certificate from the token ------------------------
# $1 name, $2 key label, $3 expected description ERE, rest: gnutls-cli options
handshake() {
	local name=$1 label=$2 ere=$3 st
	shift 3
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 gnutls-cli --x509cafile "$label.crt" --verify-hostname localhost \
		--port "$SERVE_PORT" "$@" 127.0.0.1 >"$name.client" 2>&1
	st=$?
	cat "$name.client"
	[ $st -eq 0 ] || { echo "gnutls-cli exit status $st"; return 1; }
	grep -q -- '- Status: The certificate is trusted' "$name.client" || { echo "not trusted"; return 1; }
	grep -q -- '- Handshake was completed' "$name.client" || { echo "no handshake"; return 1; }
	grep -q '^HTTP/1.0 200 OK' "$name.client" || { echo "no HTTP answer over TLS"; return 1; }
	grep -Eq -- "- Description: $ere" "$name.client" || { echo "description not /$ere/"; return 1; }
}
serve() { # LABEL
	p11env_serve "serv-$1" 'HTTP Server listening on IPv4' gnutls-serv --provider "$MODULE" \
		--x509keyfile "$T;object=$1;type=private;pin-value=$PIN" \
		--x509certfile "$T;object=$1;type=cert" --port @PORT@ --http
}
if serve rsa-key 2>serve.err; then
	tap_ok "gnutls-serv starts with the RSA key and certificate from the token (URIs)"
	tap_run "gnutls-cli verifies gnutls-serv, TLS 1.3: RSA-PSS signature by the token" \
		handshake rsa13 rsa-key '\(TLS1\.3-X\.509\).*\(RSA-PSS-RSAE-SHA256\)'
	tap_run "gnutls-cli verifies gnutls-serv, TLS 1.2 RSA-SHA256: PKCS#1 v1.5 signature by the token" \
		handshake rsa12 rsa-key '\(TLS1\.2-X\.509\).*\(RSA-SHA256\)' \
		--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:+SIGN-RSA-SHA256'
	tap_expect_fail "gnutls-cli refuses the server against another CA" 'not trusted|verification failed|Error' \
		timeout 30 gnutls-cli --x509cafile ec-key.crt --verify-hostname localhost --port "$SERVE_PORT" 127.0.0.1
	tpmenv_kill "$SERVE_PID"
else
	tap_notok "gnutls-serv starts with the RSA key and certificate from the token (URIs)" "$(cat serve.err)"
fi
if serve ec-key 2>serve.err; then
	tap_ok "gnutls-serv starts with the EC key and certificate from the token (URIs)"
	tap_run "gnutls-cli verifies gnutls-serv, TLS 1.3: ECDSA signature by the token" \
		handshake ec13 ec-key '\(TLS1\.3-X\.509\).*\(ECDSA-SECP256R1-SHA256\)'
	tap_run "gnutls-cli verifies gnutls-serv, TLS 1.2: ECDSA signature by the token" \
		handshake ec12 ec-key '\(TLS1\.2-X\.509\).*\(ECDSA-SHA256\)' --priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2'
	tpmenv_kill "$SERVE_PID"
else
	tap_notok "gnutls-serv starts with the EC key and certificate from the token (URIs)" "$(cat serve.err)"
fi

tap_finish
