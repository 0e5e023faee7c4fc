#!/usr/bin/env bash
# GnuTLS on a token of a TPM 1.2 unit: p11tool listings (with and without login),
# certtool --generate-self-signed with the token's RSA-2048 key by PKCS#11 URI, the
# certificate stored in the token by p11tool, and TLS served by gnutls-serv with key
# and certificate from the token, verified by gnutls-cli. TLS 1.3 signs with RSA-PSS,
# which a TPM 1.2 cannot do, so the handshakes are TLS 1.2 with PKCS#1 v1.5
# signatures — forced by the client, or by the server's priority string. Needs root
# (tcsd): SKIPs otherwise, except under CI.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

p11env_tpm12_or_skip
tpmenv_init
tap_init

if ! p11env_require pkcs11-tool openssl p11tool certtool gnutls-serv gnutls-cli 2>"$TPMENV_DIR/require.err"; then
	tap_notok "GnuTLS tools (gnutls-bin) and pkcs11-tool are installed" "$(cat "$TPMENV_DIR/require.err")"
	tap_finish
fi
export P11ENV_TOKEN_LABEL=tpm12-gnutls
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
export GNUTLS_PIN=$PIN
T="pkcs11:token=$TOKEN_LABEL"

# --- p11tool --------------------------------------------------------------------------
tap_expect "p11tool --list-tokens shows the token, model TPM 1.2" "URL: pkcs11:model=TPM%201\\.2.*token=$TOKEN_LABEL" \
	p11tool --provider "$MODULE" --list-tokens
count() { # WANT ERE ARGS... : p11tool ARGS lists WANT objects whose Type matches ERE
	local want=$1 ere=$2 n
	shift 2
	p11tool --provider "$MODULE" "$@" >list.txt 2>&1 || { cat list.txt; return 1; }
	cat list.txt
	n=$(grep -Ec "^[[:space:]]*Type: ($ere)" list.txt)
	[ "$n" -eq "$want" ] || { echo "expected $want objects of type /$ere/, got $n"; return 1; }
}
tap_run "p11tool --list-all (no login): the public key" count 1 'Public key \(RSA-2048\)' --list-all "$T"
tap_run "p11tool --list-all (no login): no private key" count 0 'Private key' --list-all "$T"
tap_run "p11tool --login --list-all (GNUTLS_PIN): the RSA-2048 private key" \
	count 1 'Private key \(RSA-2048\)' --login --list-all "$T"
tap_expect "p11tool: the private key is sensitive and never extractable" \
	'Flags: CKA_PRIVATE; CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' cat list.txt
tap_expect "p11tool gives the key a URL with token, id and object" \
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
selfsigned() {
	certtool --generate-self-signed --provider "$MODULE" \
		--load-privkey "$T;object=rsa-key;type=private" --template server.tmpl --outfile rsa-key.crt &&
		openssl verify -CAfile rsa-key.crt rsa-key.crt &&
		openssl x509 -in rsa-key.crt -noout -text | grep -q 'Signature Algorithm: sha256WithRSAEncryption' &&
		openssl x509 -in rsa-key.crt -pubkey -noout | cmp - rsa-key.pub.pem && echo "key matches"
}
tap_expect "certtool --generate-self-signed with the key by URI (PKCS#1 v1.5); openssl verifies it" \
	'key matches' selfsigned
store() {
	p11tool --provider "$MODULE" --login --write --load-certificate rsa-key.crt --label rsa-key --id 01 "$T" &&
		p11tool --provider "$MODULE" --export "$T;object=rsa-key;type=cert" --outfile back.crt &&
		openssl x509 -in back.crt -outform DER | cmp - <(openssl x509 -in rsa-key.crt -outform DER) &&
		echo "stored and read back"
}
tap_expect "p11tool --write stores the certificate next to its key; --export reads it back" \
	'stored and read back' store
tap_run "p11tool --list-all: public key and certificate" count 2 'Public key|X.509 Certificate' --list-all "$T"

# --- TLS: gnutls-serv with key and certificate from the token ------------------------
handshake() { # NAME DESCRIPTION-ERE gnutls-cli options...
	local name=$1 ere=$2 st
	shift 2
	printf 'GET / HTTP/1.0\r\n\r\n' |
		timeout 30 gnutls-cli --x509cafile rsa-key.crt --verify-hostname localhost \
		--port "$SERVE_PORT" "$@" 127.0.0.1 >"$name.client" 2>&1
	st=$?
	cat "$name.client"
	[ $st -eq 0 ] || { echo "gnutls-cli exit status $st"; return 1; }
	grep -q -- '- Status: The certificate is trusted' "$name.client" || { echo "not trusted"; return 1; }
	grep -q -- '- Handshake was completed' "$name.client" || { echo "no handshake"; return 1; }
	grep -q '^HTTP/1.0 200 OK' "$name.client" || { echo "no HTTP answer over TLS"; return 1; }
	grep -Eq -- "- Description: $ere" "$name.client" || { echo "description not /$ere/"; return 1; }
}
serve() { # NAME [gnutls-serv options]
	local name=$1
	shift
	p11env_serve "$name" 'HTTP Server listening on IPv4' gnutls-serv --provider "$MODULE" \
		--x509keyfile "$T;object=rsa-key;type=private;pin-value=$PIN" \
		--x509certfile "$T;object=rsa-key;type=cert" --port @PORT@ --http "$@"
}
TLS12='\(TLS1\.2-X\.509\).*\(RSA-SHA(256|384|512)\)'
if serve serv 2>serve.err; then
	tap_ok "gnutls-serv starts with the key and certificate from the token (URIs)"
	tap_run "gnutls-cli --priority NORMAL:-VERS-TLS1.3 verifies gnutls-serv: TLS 1.2, PKCS#1 v1.5 signature by the TPM 1.2" \
		handshake tls12 "$TLS12" --priority 'NORMAL:-VERS-TLS1.3'
	tap_run "TLS 1.2 with RSA-SHA256 only" handshake tls12b '\(TLS1\.2-X\.509\).*\(RSA-SHA256\)' \
		--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.2:-SIGN-ALL:+SIGN-RSA-SHA256'
	# GnuTLS 3.7 takes CKM_RSA_PKCS_PSS in the token's mechanism list as "the key signs
	# PSS", whatever its flags: a TPM 1.2 token does not list it, so no TLS 1.3.
	tap_run "gnutls-cli with the default priority: GnuTLS settles on TLS 1.2 by itself" \
		handshake default "$TLS12"
	tap_expect_fail "a TLS 1.3-only client gets no handshake (it needs PSS), and nothing signs PSS in software" \
		'Fatal error|Error in handshake|alert' \
		timeout 30 gnutls-cli --x509cafile rsa-key.crt --verify-hostname localhost --port "$SERVE_PORT" \
		--priority 'NORMAL:-VERS-ALL:+VERS-TLS1.3' 127.0.0.1
	tap_run "the server still serves TLS 1.2 after that" handshake again "$TLS12" --priority 'NORMAL:-VERS-TLS1.3'
	tpmenv_kill "$SERVE_PID"
else
	tap_notok "gnutls-serv starts with the key and certificate from the token (URIs)" "$(cat serve.err)"
fi
if serve serv12 --priority 'NORMAL:-VERS-TLS1.3' 2>serve.err; then
	tap_ok "gnutls-serv --priority NORMAL:-VERS-TLS1.3 (the server side of the same choice)"
	tap_run "gnutls-cli with the default priority verifies it: TLS 1.2, PKCS#1 v1.5 by the TPM 1.2" \
		handshake srv12 "$TLS12"
	tpmenv_kill "$SERVE_PID"
else
	tap_notok "gnutls-serv --priority NORMAL:-VERS-TLS1.3 starts" "$(cat serve.err)"
fi

tap_finish
