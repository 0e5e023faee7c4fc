# Emulated TPMs for tests: each test starts its own on free loopback ports in a
# temporary directory and stops them by PID. Source this file from bash.
#
#   tpmenv_init                 make $TPMENV_DIR and arrange cleanup at exit
#   tpmenv_start_tpm2 NAME      start swtpm (TPM 2.0); sets NAME_TCTI, NAME_PORT, NAME_DIR
#   tpmenv_stop NAME            stop NAME's processes (as if the machine died)
#   tpmenv_config NAME [STORE]  write NAME_DIR/tpmha.conf for the module; sets NAME_CONF
#
# Everything started is recorded in $TPMENV_DIR/pids and killed by tpmenv_cleanup.

tpmenv_init() {
	TPMENV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tpmha-test.XXXXXX")
	: >"$TPMENV_DIR/pids"
	trap tpmenv_cleanup EXIT
	trap 'exit 130' INT TERM
}

tpmenv_cleanup() {
	local pid
	if [ -n "${TPMENV_DIR:-}" ] && [ -f "$TPMENV_DIR/pids" ]; then
		while read -r pid; do
			[ -n "$pid" ] && kill "$pid" 2>/dev/null
		done <"$TPMENV_DIR/pids"
		sleep 0.1
		while read -r pid; do
			[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
		done <"$TPMENV_DIR/pids"
		[ -n "${TPMENV_KEEP:-}" ] || rm -rf "$TPMENV_DIR"
	fi
}

# A port nobody listens on (and port+1 for swtpm's control channel).
tpmenv_free_port() {
	local p tries=0
	while [ $tries -lt 200 ]; do
		p=$(( (RANDOM % 20000) * 2 + 20000 ))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
		   ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1))") 2>/dev/null; then
			echo "$p"
			return 0
		fi
		tries=$((tries + 1))
	done
	return 1
}

tpmenv_wait_port() {
	local port=$1 i=0
	while [ $i -lt 100 ]; do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

tpmenv_start_tpm2() {
	local name=$1 dir port pid attempt
	dir="$TPMENV_DIR/$name"
	mkdir -p "$dir/state"
	for attempt in 1 2 3 4 5; do
		port=$(tpmenv_free_port) || return 1
		rm -f "$dir/swtpm.pid"
		if swtpm socket --tpm2 --tpmstate dir="$dir/state" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--pid file="$dir/swtpm.pid" --log file="$dir/swtpm.log" --daemon 2>>"$dir/swtpm.err" &&
		   tpmenv_wait_port "$port"; then
			pid=$(cat "$dir/swtpm.pid")
			echo "$pid" >>"$TPMENV_DIR/pids"
			eval "${name}_PID=$pid ${name}_PORT=$port ${name}_DIR='$dir'"
			eval "${name}_TCTI='swtpm:host=127.0.0.1,port=$port'"
			return 0
		fi
		[ -f "$dir/swtpm.pid" ] && kill "$(cat "$dir/swtpm.pid")" 2>/dev/null
	done
	echo "tpmenv: cannot start swtpm for $name (see $dir/swtpm.err)" >&2
	return 1
}

tpmenv_stop() {
	local name=$1 pid
	eval "pid=\${${name}_PID:-}"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null
}

# Write a module configuration for unit NAME: its TPM, its own store.
tpmenv_config() {
	local name=$1 store=${2:-} dir tcti
	eval "dir=\${${name}_DIR} tcti=\${${name}_TCTI}"
	[ -n "$store" ] || store="$dir/store"
	mkdir -p "$store"
	cat >"$dir/tpmha.conf" <<CONF
# written by tests/lib/tpmenv.sh
store = $store
tcti = $tcti
log = file:$dir/tpmha.log
log_level = ${TPMENV_LOG_LEVEL:-info}
CONF
	eval "${name}_CONF='$dir/tpmha.conf'"
}
