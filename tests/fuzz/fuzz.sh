#!/bin/bash
# Fuzz the migration parsers for FUZZ_SECONDS (default 60) in a build of its own
# ($top_builddir/_fuzz), built by clang with libFuzzer, ASan and UBSan. Exit 0 when
# nothing crashed; the crashing input is kept in _fuzz/src/tests/fuzz/artifacts/.
set -u
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
out=${FUZZ_DIR:-$builddir/_fuzz}
src=$out/src
say() { echo "fuzz: $*"; }
die() { echo "fuzz: $*" >&2; exit 1; }

command -v clang >/dev/null || die "clang is not installed"
mkdir -p "$src" || die "cannot make $out"
# The sources, as the sanitizer run copies them (no build products).
if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$srcdir" && git ls-files -co --exclude-standard -z | grep -zv '^_' |
		xargs -0 tar -cf - 2>/dev/null) | (cd "$src" && tar -xpf -) || die "cannot copy the sources"
else
	(cd "$srcdir" && tar --exclude=./_fuzz --exclude=./_asan -cf - .) | (cd "$src" && tar -xpf -) ||
		die "cannot copy the sources"
fi
cd "$src" || exit 1
if [ ! -f config.status ] || [ configure.ac -nt config.status ]; then
	say "configuring with clang and --enable-fuzzing"
	autoreconf -fi >"$out/autoreconf.log" 2>&1 || die "autoreconf failed: see $out/autoreconf.log"
	CC=clang ./configure --enable-fuzzing --disable-werror >"$out/configure.log" 2>&1 ||
		die "configure failed: see $out/configure.log"
fi
say "building"
make -j"${FUZZ_JOBS:-2}" libtpmha-core.la tests/fuzz/fuzz_migration tests/fuzz/seeds >"$out/build.log" 2>&1 ||
	{ tail -20 "$out/build.log"; die "the build failed: see $out/build.log"; }
say "fuzzing for ${FUZZ_SECONDS:-60} s"
make fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-60}" >"$out/fuzz.log" 2>&1
status=$?
grep -E 'stat::number_of_executed_units|Done [0-9]+ runs|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY' "$out/fuzz.log" | sed 's/^/  /'
[ $status -eq 0 ] || { tail -30 "$out/fuzz.log"; die "the fuzzer found a crash: see $out/fuzz.log"; }
say "no crash"
