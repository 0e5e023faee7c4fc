# Emulated TPMs for tests: each test starts its own on free loopback ports in a
# temporary directory and stops them by PID. Source this file from bash.
#
#   tpmenv_init                 make $TPMENV_DIR and arrange cleanup at exit
#   tpmenv_start_tpm2 NAME      start swtpm (TPM 2.0); sets NAME_TCTI, NAME_PORT, NAME_DIR, NAME_PID
#   tpmenv_start_abrmd NAME     put tpm2-abrmd (on a private D-Bus session bus) in front of
#                               the started TPM 2.0 NAME, so several processes can share it;
#                               NAME_TCTI becomes the tabrmd TCTI, DBUS_SESSION_BUS_ADDRESS is
#                               exported (one bus per test, shared by all units); sets
#                               NAME_ABRMD_PID, NAME_BUS_NAME, NAME_DBUS_PID (= TPMENV_DBUS_PID)
#   tpmenv_start_tpm12 NAME     start swtpm (TPM 1.2) and its own tcsd, create the EK and take
#                               ownership with the well-known secrets; sets NAME_PORT,
#                               NAME_TCSD_PORT, NAME_DIR, NAME_PID, NAME_TCSD_PID (clients
#                               need TSS_TCSD_PORT=$NAME_TCSD_PORT)
#   tpmenv_stop NAME            stop NAME's processes (as if the machine died)
#   tpmenv_stop_tcsd NAME       stop only the tcsd of the TPM 1.2 NAME, by its PID (the TPM runs on)
#   tpmenv_start_tcsd NAME      start it again: same port, configuration and state; sets
#                               NAME_TCSD_PID. Both work from another process too (a test
#                               program's callback) given TPMENV_DIR, NAME_DIR and NAME_PORT:
#                               the running tcsd's PID is kept in NAME_DIR/tcsd.pid
#   tpmenv_tpm12_ready          status 0 if TPM 1.2 units can start here, else says why
#   tpmenv_config NAME [STORE]  write NAME_DIR/tpmha.conf for the module (TPM 2.0, or 1.2 for a
#                               tpmenv_start_tpm12 unit); sets NAME_CONF
#   tpmenv_atexit CMD...        run CMD at exit, before the emulators are stopped
#   tpmenv_leftovers            print processes still running from $TPMENV_DIR (none: status 1)
#
# Everything started is recorded in $TPMENV_DIR/pids and killed by tpmenv_cleanup.
# TPMENV_KEEP=1 keeps the directory (logs, state) for a post-mortem.

tpmenv_init() {
	TPMENV_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tpmha-test.XXXXXX")
	: >"$TPMENV_DIR/pids"
	TPMENV_ATEXIT=()
	trap tpmenv_cleanup EXIT
	trap 'exit 130' INT TERM
}

tpmenv_atexit() {
	TPMENV_ATEXIT+=("$*")
}

# True while PID runs (a zombie of ours no longer counts).
tpmenv_alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Ask PID to stop, wait up to 2 s, then kill it.
tpmenv_kill() {
	local pid=$1 i=0
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	while [ $i -lt 40 ] && tpmenv_alive "$pid"; do
		sleep 0.05
		i=$((i + 1))
	done
	tpmenv_alive "$pid" && kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

tpmenv_cleanup() {
	TPMENV_EXIT_STATUS=$?
	local pid i
	for ((i = ${#TPMENV_ATEXIT[@]} - 1; i >= 0; i--)); do
		eval "${TPMENV_ATEXIT[i]}"
	done
	TPMENV_ATEXIT=()
	if [ -n "${TPMENV_DIR:-}" ] && [ -f "$TPMENV_DIR/pids" ]; then
		# Newest first: daemons go before the TPMs and buses they use.
		for pid in $(tac "$TPMENV_DIR/pids"); do
			tpmenv_alive "$pid" && kill "$pid" 2>/dev/null
		done
		for pid in $(tac "$TPMENV_DIR/pids"); do
			tpmenv_kill "$pid"
		done
		if tpmenv_leftovers >"$TPMENV_DIR/leftovers" 2>/dev/null; then
			echo "tpmenv: processes left running:" >&2
			cat "$TPMENV_DIR/leftovers" >&2
		fi
		[ -n "${TPMENV_KEEP:-}" ] || rm -rf "$TPMENV_DIR"
	fi
}

# Processes still running that were started for $TPMENV_DIR: recorded PIDs
# and anything whose command line names the directory. Status 0 if any.
tpmenv_leftovers() {
	local pid found=1
	[ -n "${TPMENV_DIR:-}" ] || return 1
	if [ -f "$TPMENV_DIR/pids" ]; then
		while read -r pid; do
			if [ -n "$pid" ] && tpmenv_alive "$pid"; then
				ps -o pid=,args= -p "$pid"
				found=0
			fi
		done <"$TPMENV_DIR/pids"
	fi
	for pid in $(pgrep -f -- "$TPMENV_DIR/" 2>/dev/null); do
		[ "$pid" = "$$" ] && continue
		[ "$pid" = "${BASHPID:-}" ] && continue
		if tpmenv_alive "$pid" && ! grep -qx "$pid" "$TPMENV_DIR/pids" 2>/dev/null; then
			ps -o pid=,args= -p "$pid"
			found=0
		fi
	done
	return $found
}

# A port nobody uses (and port+1 for swtpm's control channel). Ports come from
# below the kernel's ephemeral range, where outgoing connections (and their
# TIME_WAIT leftovers) would make bind() fail though nothing listens.
tpmenv_free_port() {
	local p tries=0 low=32768 span used=
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
	[ "$low" -gt 12000 ] || low=32768
	span=$(( (low - 10002) / 2 ))
	while [ $tries -lt 200 ]; do
		p=$(( (RANDOM % span) * 2 + 10000 ))
		command -v ss >/dev/null && used=$(ss -Htan "( sport = :$p or sport = :$((p + 1)) )" 2>/dev/null)
		if [ -z "$used" ] &&
		   ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null &&
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

# One private D-Bus session bus per test ($TPMENV_DIR/dbus.socket), shared by
# every resource manager of the test (the tabrmd TCTI finds its daemon by bus
# name on $DBUS_SESSION_BUS_ADDRESS, so all units must be on one bus).
tpmenv_start_dbus() {
	local bus pid i
	if [ -n "${TPMENV_DBUS_PID:-}" ] && tpmenv_alive "$TPMENV_DBUS_PID"; then
		export DBUS_SESSION_BUS_ADDRESS=$TPMENV_DBUS_ADDRESS
		return 0
	fi
	bus="unix:path=$TPMENV_DIR/dbus.socket"
	dbus-daemon --session --nofork --nopidfile --address="$bus" \
		</dev/null >"$TPMENV_DIR/dbus.log" 2>&1 &
	pid=$!
	echo "$pid" >>"$TPMENV_DIR/pids"
	for ((i = 0; i < 100; i++)); do
		[ -S "$TPMENV_DIR/dbus.socket" ] &&
			DBUS_SESSION_BUS_ADDRESS=$bus dbus-send --session --print-reply \
				--dest=org.freedesktop.DBus / org.freedesktop.DBus.GetId >/dev/null 2>&1 &&
			break
		tpmenv_alive "$pid" || break
		sleep 0.05
	done
	if ! tpmenv_alive "$pid" || [ $i -ge 100 ]; then
		echo "tpmenv: cannot start a D-Bus session bus (see $TPMENV_DIR/dbus.log)" >&2
		return 1
	fi
	TPMENV_DBUS_PID=$pid TPMENV_DBUS_ADDRESS=$bus
	export DBUS_SESSION_BUS_ADDRESS=$bus
	return 0
}

# tpm2-abrmd in front of the TPM 2.0 NAME (started by tpmenv_start_tpm2): swtpm's
# socket serves one connection at a time, the resource manager lets several
# processes share the TPM. After this, only the resource manager talks to swtpm.
tpmenv_start_abrmd() {
	local name=$1 dir port pid busname i
	eval "dir=\${${name}_DIR:-} port=\${${name}_PORT:-}"
	if [ -z "$dir" ] || [ -z "$port" ]; then
		echo "tpmenv: start the TPM 2.0 $name before its resource manager" >&2
		return 1
	fi
	tpmenv_start_dbus || return 1
	eval "${name}_DBUS_PID=$TPMENV_DBUS_PID"

	busname="com.intel.tss2.Tabrmd.tpmenv${name//[^A-Za-z0-9_]/_}$$"
	tpm2-abrmd --session --allow-root --flush-all \
		--tcti="swtpm:host=127.0.0.1,port=$port" --dbus-name="$busname" \
		</dev/null >"$dir/abrmd.log" 2>&1 &
	pid=$!
	echo "$pid" >>"$TPMENV_DIR/pids"
	eval "${name}_ABRMD_PID=$pid ${name}_BUS_NAME=$busname"
	for ((i = 0; i < 200; i++)); do
		dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
			org.freedesktop.DBus.NameHasOwner string:"$busname" 2>/dev/null |
			grep -q 'boolean true' && break
		tpmenv_alive "$pid" || break
		sleep 0.05
	done
	if ! tpmenv_alive "$pid" || [ $i -ge 200 ]; then
		echo "tpmenv: tpm2-abrmd for $name did not come up (see $dir/abrmd.log)" >&2
		return 1
	fi
	eval "${name}_TCTI='tabrmd:bus_name=$busname,bus_type=session'"
	return 0
}

# TPM 1.2: swtpm without --tpm2 and trousers' tcsd talking to it over TCP, on
# ports of their own, then the EK and ownership with the well-known secrets
# (owner and SRK auth = 20 zero bytes), as `tpm_takeownership -y -z` sets them.
tpmenv_start_tpm12() {
	local name=$1 dir port tport pid tpid attempt i ok
	dir="$TPMENV_DIR/$name"
	mkdir -p "$dir/state" "$dir/tcsd"
	# tcsd drops to the tss user: it must reach its own directory.
	chmod 711 "$TPMENV_DIR" "$dir"
	chown tss:tss "$dir/tcsd" && chmod 700 "$dir/tcsd" || {
		echo "tpmenv: cannot give $dir/tcsd to the tss user (run as root)" >&2
		return 1
	}
	ok=
	for attempt in 1 2 3 4 5; do
		port=$(tpmenv_free_port) || return 1
		rm -f "$dir/swtpm.pid"
		if swtpm socket --tpmstate dir="$dir/state" \
			--server type=tcp,port="$port",bindaddr=127.0.0.1 \
			--ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
			--flags not-need-init,startup-clear \
			--pid file="$dir/swtpm.pid" --log file="$dir/swtpm.log" --daemon \
			</dev/null >/dev/null 2>>"$dir/swtpm.err" &&
		   tpmenv_wait_port "$port"; then
			pid=$(cat "$dir/swtpm.pid")
			echo "$pid" >>"$TPMENV_DIR/pids"
			ok=1
			break
		fi
		[ -f "$dir/swtpm.pid" ] && kill "$(cat "$dir/swtpm.pid")" 2>/dev/null
	done
	if [ -z "$ok" ]; then
		echo "tpmenv: cannot start swtpm (TPM 1.2) for $name (see $dir/swtpm.err)" >&2
		return 1
	fi
	eval "${name}_PID=$pid ${name}_PORT=$port ${name}_DIR='$dir'"

	ok=
	for attempt in 1 2 3 4 5; do
		tport=$(tpmenv_free_port) || return 1
		# tcsd insists on a config owned by root:tss, mode 640.
		{
			grep -v -E '^[[:space:]]*(port|system_ps_file)[[:space:]]*=' /etc/tcsd.conf
			echo "port = $tport"
			echo "system_ps_file = $dir/tcsd/system.data"
		} >"$dir/tcsd.conf"
		chown root:tss "$dir/tcsd.conf" && chmod 640 "$dir/tcsd.conf"
		TCSD_TCP_DEVICE_PORT=$port TCSD_TCP_DEVICE_HOSTNAME=127.0.0.1 \
			tcsd -f -e -c "$dir/tcsd.conf" </dev/null >>"$dir/tcsd.log" 2>&1 &
		tpid=$!
		echo "$tpid" >>"$TPMENV_DIR/pids"
		if tpmenv_wait_port "$tport" && sleep 0.1 && tpmenv_alive "$tpid"; then
			ok=1
			break
		fi
		tpmenv_kill "$tpid"
	done
	if [ -z "$ok" ]; then
		echo "tpmenv: cannot start tcsd for $name (see $dir/tcsd.log)" >&2
		return 1
	fi
	eval "${name}_TCSD_PID=$tpid ${name}_TCSD_PORT=$tport"
	echo "$tpid" >"$dir/tcsd.pid"

	for i in 1 2 3; do
		TSS_TCSD_PORT=$tport tpm_version </dev/null >"$dir/tpm_version.out" 2>&1 && break
		sleep 0.2
	done
	if ! grep -q 'TPM 1.2 Version Info' "$dir/tpm_version.out"; then
		echo "tpmenv: tcsd for $name does not reach its TPM:" >&2
		cat "$dir/tpm_version.out" >&2
		return 1
	fi
	if ! TSS_TCSD_PORT=$tport tpm_createek </dev/null >"$dir/createek.out" 2>&1; then
		echo "tpmenv: tpm_createek failed for $name:" >&2
		cat "$dir/createek.out" >&2
		return 1
	fi
	if ! TSS_TCSD_PORT=$tport tpm_takeownership -y -z </dev/null >"$dir/takeownership.out" 2>&1; then
		echo "tpmenv: tpm_takeownership -y -z failed for $name:" >&2
		cat "$dir/takeownership.out" >&2
		return 1
	fi
	return 0
}

# Can TPM 1.2 units (swtpm + tcsd) start here? tcsd runs as root and drops to
# the tss user; tpm-tools prepare the TPM.
tpmenv_tpm12_ready() {
	local t missing=
	if [ "$(id -u)" != 0 ]; then
		echo "TPM 1.2 units need root (tcsd starts as root and drops to the tss user); CI runs as root"
		return 1
	fi
	for t in swtpm tcsd tpm_version tpm_createek tpm_takeownership; do
		command -v "$t" >/dev/null 2>&1 || missing+=" $t"
	done
	if [ -n "$missing" ]; then
		echo "missing:$missing (./quickstart installs swtpm, trousers and tpm-tools)"
		return 1
	fi
	if ! getent passwd tss >/dev/null 2>&1; then
		echo "no tss user (the trousers package makes it)"
		return 1
	fi
	return 0
}

# The PID of the TPM 1.2 NAME's running tcsd: NAME_DIR/tcsd.pid, else NAME_TCSD_PID.
tpmenv__tcsd_pid() {
	local name=$1 dir pid
	eval "dir=\${${name}_DIR:-} pid=\${${name}_TCSD_PID:-}"
	if [ -n "$dir" ] && [ -s "$dir/tcsd.pid" ]; then
		pid=$(cat "$dir/tcsd.pid")
	fi
	echo "$pid"
}

tpmenv_stop_tcsd() {
	local name=$1 pid i
	pid=$(tpmenv__tcsd_pid "$name")
	if [ -z "$pid" ]; then
		echo "tpmenv: $name has no tcsd to stop" >&2
		return 1
	fi
	# tcsd waits for its clients on SIGTERM, so with a client connected this ends in
	# SIGKILL; the tcsd need not be our child (a callback's), so wait for it to die.
	tpmenv_kill "$pid"
	for ((i = 0; i < 100; i++)); do
		tpmenv_alive "$pid" || return 0
		sleep 0.05
	done
	echo "tpmenv: the tcsd of $name (PID $pid) does not die" >&2
	return 1
}

tpmenv_start_tcsd() {
	local name=$1 dir port tport tpid attempt
	eval "dir=\${${name}_DIR:-} port=\${${name}_PORT:-}"
	if [ -z "$dir" ] || [ -z "$port" ] || [ ! -f "$dir/tcsd.conf" ]; then
		echo "tpmenv: $name is not a TPM 1.2 unit started by tpmenv_start_tpm12" >&2
		return 1
	fi
	tport=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$dir/tcsd.conf")
	tpid=$(tpmenv__tcsd_pid "$name")
	if [ -n "$tpid" ] && tpmenv_alive "$tpid"; then
		echo "tpmenv: the tcsd of $name runs already (PID $tpid)" >&2
		return 1
	fi
	# The old daemon's port can linger a moment after it died.
	for attempt in $(seq 25); do
		TCSD_TCP_DEVICE_PORT=$port TCSD_TCP_DEVICE_HOSTNAME=127.0.0.1 \
			tcsd -f -e -c "$dir/tcsd.conf" </dev/null >>"$dir/tcsd.log" 2>&1 &
		tpid=$!
		echo "$tpid" >>"$TPMENV_DIR/pids"
		echo "$tpid" >"$dir/tcsd.pid"
		if tpmenv_wait_port "$tport" && sleep 0.1 && tpmenv_alive "$tpid"; then
			eval "${name}_TCSD_PID=$tpid"
			return 0
		fi
		tpmenv_kill "$tpid"
		sleep 0.2
	done
	echo "tpmenv: cannot start the tcsd of $name again (see $dir/tcsd.log)" >&2
	return 1
}

# Stop everything of unit NAME: its resource manager or tcsd, then its TPM.
# (The test's D-Bus bus stays up for the other units; tpmenv_cleanup ends it.)
tpmenv_stop() {
	local name=$1 var pid
	# (a tcsd restarted by another process is in NAME_DIR/tcsd.pid)
	pid=$(tpmenv__tcsd_pid "$name")
	[ -n "$pid" ] && tpmenv_kill "$pid"
	for var in TCSD_PID ABRMD_PID PID; do
		eval "pid=\${${name}_${var}:-}"
		[ -n "$pid" ] && tpmenv_kill "$pid"
	done
	return 0
}

# Write a module configuration for unit NAME: its TPM, its own store.
tpmenv_config() {
	local name=$1 store=${2:-} dir tcti tcsd_port
	eval "dir=\${${name}_DIR} tcti=\${${name}_TCTI:-} tcsd_port=\${${name}_TCSD_PORT:-}"
	[ -n "$store" ] || store="$dir/store"
	mkdir -p "$store"
	if [ -n "$tcsd_port" ]; then
		# A TPM 1.2 unit (tpmenv_start_tpm12): its own tcsd, well-known secrets.
		cat >"$dir/tpmha.conf" <<CONF
# written by tests/lib/tpmenv.sh
store = $store
tpm_version = 1.2
tcsd = 127.0.0.1:$tcsd_port
log = file:$dir/tpmha.log
log_level = ${TPMENV_LOG_LEVEL:-info}
CONF
	else
		cat >"$dir/tpmha.conf" <<CONF
# written by tests/lib/tpmenv.sh
store = $store
tcti = $tcti
log = file:$dir/tpmha.log
log_level = ${TPMENV_LOG_LEVEL:-info}
CONF
	fi
	eval "${name}_CONF='$dir/tpmha.conf'"
}
