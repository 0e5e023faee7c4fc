#!/usr/bin/env bash
# p11-kit: the module registered by a tpmha.module file, seen by
# `p11-kit list-modules` and used through p11-kit-proxy.so (pkcs11-tool, GnuTLS
# without --provider, libp11's engine without MODULE_PATH).
#
# p11-kit 0.24 never reads ~/.config/pkcs11 in a process running as root
# (conf.c: "skipping user config in program running as root"; no environment
# variable changes that). So, as root, the user-config part runs as the
# unprivileged user `nobody` with a private HOME, and the root case is tested
# the way root really gets modules: the module file in p11-kit's system module
# folder (where `make install` puts it), bind-mounted in a private mount
# namespace so the real system is untouched.
top=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/p11env.sh"

tpmenv_init
tap_init

PROXY=${P11KIT_PROXY:-/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so}
if ! p11env_require p11-kit pkcs11-tool openssl p11tool setpriv 2>"$TPMENV_DIR/require.err" || [ ! -f "$PROXY" ]; then
	tap_notok "p11-kit, p11-kit-proxy.so, pkcs11-tool, p11tool and setpriv are installed" \
		"$(cat "$TPMENV_DIR/require.err")" "proxy: $PROXY"
	tap_finish
fi
if ! p11env_setup 2>"$TPMENV_DIR/setup.err"; then
	tap_notok "a token is initialized on the $P11_TEST_MODULE module" "$(cat "$TPMENV_DIR/setup.err")"
	tap_finish
fi
cd "$P11ENV_WORK" || exit 1
if p11env_keypair rsa-key 01 rsa:2048 >keys.log 2>&1; then
	tap_ok "token on $P11_TEST_MODULE with an RSA-2048 key pair"
else
	tap_notok "token on $P11_TEST_MODULE with an RSA-2048 key pair" "$(tail -20 keys.log)"
	tap_finish
fi
head -c 500 /dev/urandom >data

# The module file: the project's own (conf/tpmha.module.in) with the module
# line pointing at the module under test.
modfile() {
	if [ -f "$top/conf/tpmha.module.in" ]; then
		grep -v '^module:' "$top/conf/tpmha.module.in"
	fi
	echo "module: $MODULE"
}
H=$TPMENV_DIR/home
U=$TPMENV_DIR/user
mkdir -p "$H/.config/pkcs11/modules" "$U"
modfile >"$H/.config/pkcs11/modules/tpmha.module"
cp data rsa-key.pub.pem "$U/"

# as_user CMD...: CMD as an unprivileged user with HOME=$H, in $U.
if [ "$(id -u)" -eq 0 ]; then
	chmod 711 "$TPMENV_DIR"
	# The user runs the module: it needs its store, config and log (tpmha) or
	# its token folder (SoftHSM).
	chown -R nobody:nogroup "$H" "$U"
	[ -d "$TPMENV_DIR/P11" ] && chown -R nobody:nogroup "$TPMENV_DIR/P11"
	[ -d "$TPMENV_DIR/softhsm" ] && chown -R nobody:nogroup "$TPMENV_DIR/softhsm"
	as_user() { (cd "$U" && setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$H" "$@"); }
	who="user nobody"
	P11_KIT_DEBUG=conf HOME=$H p11-kit list-modules >root-list.txt 2>&1
	tap_diag "as root, p11-kit $(pkg-config --modversion p11-kit-1 2>/dev/null) with HOME=$H:" \
		"$(grep -i 'user config' root-list.txt)" \
		"so the user-config checks below run as $who"
else
	as_user() { (cd "$U" && env HOME="$H" "$@"); }
	who="user $(id -un)"
fi

listed() { # list-modules shows tpmha with our module and token
	"$@" p11-kit list-modules >mods.txt 2>&1
	cat mods.txt
	grep -q "^tpmha: $MODULE\$" mods.txt && grep -q "^    token: $TOKEN_LABEL\$" mods.txt
}
tap_run "p11-kit list-modules ($who) lists tpmha from ~/.config/pkcs11/modules with the token" listed as_user
tap_expect "pkcs11-tool through p11-kit-proxy.so sees the token ($who)" "token label +: $TOKEN_LABEL\$" \
	as_user pkcs11-tool --module "$PROXY" -L
proxysign() {
	"$@" pkcs11-tool --module "$PROXY" --token-label "$TOKEN_LABEL" --login --pin "$PIN" \
		--sign -m SHA256-RSA-PKCS --id 01 -i data -o sig.proxy &&
		openssl dgst -sha256 -verify "$P11ENV_WORK/rsa-key.pub.pem" -signature "$U/sig.proxy" "$P11ENV_WORK/data"
}
tap_expect "a signature through p11-kit-proxy.so verifies in openssl ($who)" '^Verified OK$' proxysign as_user
tap_expect "GnuTLS without --provider (p11-kit's modules) lists the token ($who)" \
	"URL: pkcs11:.*token=$TOKEN_LABEL" as_user p11tool --list-tokens
tap_expect "p11tool by URI through p11-kit finds the private key after login ($who)" \
	"token=$TOKEN_LABEL;id=%01;object=rsa-key;type=private" \
	as_user env GNUTLS_PIN="$PIN" p11tool --login --list-privkeys "pkcs11:token=$TOKEN_LABEL"
# libp11 falls back to p11-kit-proxy.so when MODULE_PATH is not set.
p11env_engine_conf >/dev/null 2>&1 || true
if [ -n "${P11ENV_OPENSSL_CONF:-}" ]; then
	grep -v '^MODULE_PATH' "$P11ENV_OPENSSL_CONF" >"$U/openssl-proxy.cnf"
	chmod 644 "$U/openssl-proxy.cnf"
fi
enginesign() {
	"$@" env OPENSSL_CONF="$U/openssl-proxy.cnf" openssl dgst -sha256 -engine pkcs11 -keyform engine \
		-sign "pkcs11:token=$TOKEN_LABEL;object=rsa-key;type=private;pin-value=$PIN" -out sig.engine data &&
		openssl dgst -sha256 -verify "$P11ENV_WORK/rsa-key.pub.pem" -signature "$U/sig.engine" "$P11ENV_WORK/data"
}
tap_expect "OpenSSL's pkcs11 engine without MODULE_PATH signs through p11-kit ($who)" '^Verified OK$' \
	enginesign as_user

# --- root: the module file in p11-kit's system folder ---------------------------------
sysdir=$(pkg-config --variable=p11_module_configs p11-kit-1 2>/dev/null)
sysdir=${sysdir:-/usr/share/p11-kit/modules}
mkdir -p "$TPMENV_DIR/sysmods"
modfile >"$TPMENV_DIR/sysmods/tpmha.module"
rootns() { # CMD... in a mount namespace where $sysdir holds only tpmha.module
	unshare -m --propagation private bash -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
		rootns "$TPMENV_DIR/sysmods" "$sysdir" "$@"
}
if [ "$(id -u)" -ne 0 ]; then
	tap_skip "as root, p11-kit finds tpmha.module in $sysdir" "needs root (tests run as $(id -un))"
elif ! rootns true 2>"$TPMENV_DIR/unshare.err"; then
	tap_skip "as root, p11-kit finds tpmha.module in $sysdir" \
		"no private mount namespace here: $(head -1 "$TPMENV_DIR/unshare.err")"
else
	rootlisted() {
		rootns p11-kit list-modules >rootmods.txt 2>&1
		cat rootmods.txt
		grep -q "^tpmha: $MODULE\$" rootmods.txt && grep -q "^    token: $TOKEN_LABEL\$" rootmods.txt
	}
	tap_run "as root, p11-kit list-modules finds tpmha.module in $sysdir (private mount namespace)" rootlisted
	rootsign() {
		rootns pkcs11-tool --module "$PROXY" --token-label "$TOKEN_LABEL" --login --pin "$PIN" \
			--sign -m SHA256-RSA-PKCS --id 01 -i data -o sig.root &&
			openssl dgst -sha256 -verify rsa-key.pub.pem -signature sig.root data
	}
	tap_expect "as root, a signature through p11-kit-proxy.so verifies in openssl" '^Verified OK$' rootsign
fi

tap_finish
