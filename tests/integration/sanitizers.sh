#!/bin/bash
# The unit, backend, integration and migration tests once more, built with AddressSanitizer and
# UndefinedBehaviorSanitizer (./configure --enable-sanitizers): 0 errors, 0 leaks.
# Run by `make check-sanitizers` (not part of `make check`: it rebuilds everything).
#
# The build goes to $top_builddir/_asan (SANITIZERS_DIR to change), from a copy of
# the sources (the source tree itself may be configured in place, which rules out a
# VPATH build). Every sanitizer report, from any process the tests start (forked
# children included), lands in _asan/reports/; the run fails if there is one.
#
#   tests/integration/sanitizers.sh [TEST...]   default: `make print-sanitizer-tests`

set -u
here=$(cd "$(dirname "$0")" && pwd)
srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
builddir=${top_builddir:-$srcdir}
out=${SANITIZERS_DIR:-$builddir/_asan}
src=$out/src
reports=$out/reports
jobs=${SANITIZERS_JOBS:-2}

say() { echo "sanitizers: $*"; }
die() { echo "sanitizers: $*" >&2; exit 1; }

mkdir -p "$src" "$reports" || die "cannot make $out"
src=$(cd "$src" && pwd)
reports=$(cd "$reports" && pwd)

# 1. The sources, copied with their times (unchanged files are not rebuilt). Build
# products of an in-tree build are left behind: an uninstrumented test program
# copied here would look up to date and dlopen the instrumented module.
say "copying the sources of $srcdir to $src"
sources() {
	if git -C "$srcdir" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$srcdir" && git ls-files -co --exclude-standard -z)
	else
		(cd "$srcdir" && find . -path ./.git -prune -o -type f -print0 | sed -z 's|^\./||')
	fi
}
not_built() {
	local f
	while IFS= read -r -d '' f; do
		case $f in
		_asan/* | */.libs/* | .libs/* | */.deps/* | *.o | *.lo | *.la | *.a | *.so | *.log | *.trs | \
			Makefile | */Makefile | config.status | config.log | config.h | libtool | stamp-h1) continue ;;
		esac
		[ -f "$srcdir/$f" ] || continue
		[ "$(head -c 4 "$srcdir/$f" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ] && continue
		printf '%s\0' "$f"
	done
}
(cd "$srcdir" && sources | not_built | tar --null -T - -cf -) | (cd "$src" && tar -xpf -) ||
	die "cannot copy the sources"

# 2. Configure (once) and build with the sanitizers.
cd "$src" || exit 1
if [ ! -f config.status ] || [ configure.ac -nt config.status ] || [ Makefile.am -nt Makefile ]; then
	say "configuring with --enable-sanitizers"
	autoreconf -fi >"$out/autoreconf.log" 2>&1 || die "autoreconf failed: see $out/autoreconf.log"
	./configure --enable-sanitizers --disable-werror >"$out/configure.log" 2>&1 ||
		die "configure failed: see $out/configure.log"
fi
say "building"
make -j"$jobs" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; die "the build failed: see $out/build.log"; }

# 3. The tests.
if [ $# -gt 0 ]; then
	tests="$*"
else
	tests=$(make -s print-sanitizer-tests 2>/dev/null)
	[ -n "$tests" ] || die "no tests to run"
fi
rm -f "$reports"/*
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="log_path=$reports/lsan${LSAN_SUPPRESSIONS:+:suppressions=$LSAN_SUPPRESSIONS}"
say "running: $(echo $tests)"
make -j"$jobs" check TESTS="$tests" >"$out/check.log" 2>&1
check_status=$?
grep -E '^(# )?(TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):' "$out/check.log" | sed 's/^/  /'

# 4. Every report is a failure. UBSan ignores log_path (GCC 12): its reports, and
# anything else a sanitizer printed, are in the tests' logs (their stderr).
find "$src/tests" -name '*.log' ! -name 'test-suite.log' -print0 |
	xargs -0 grep -l -E 'runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer' 2>/dev/null |
	while read -r log; do
		cp "$log" "$reports/from-$(basename "$(dirname "$log")")-$(basename "$log")"
	done
# A report with no error in it only lists the suppressions it used (trousers' own
# leak, tests/tpm12/lsan.supp): it is kept aside, counted, and not a finding.
mkdir -p "$out/suppressed" && rm -f "$out/suppressed"/*
for f in "$reports"/*; do
	[ -f "$f" ] || continue
	grep -q -E 'ERROR: |runtime error' "$f" || mv "$f" "$out/suppressed/"
done
nsuppressed=$(find "$out/suppressed" -type f | wc -l)
[ "$nsuppressed" -eq 0 ] || say "$nsuppressed report(s) with suppressed known leaks of libraries only: $out/suppressed"
nreports=$(find "$reports" -type f | wc -l)
if [ "$nreports" -gt 0 ]; then
	say "$nreports sanitizer report(s):"
	for f in "$reports"/*; do
		echo "--- $f"
		grep -E 'ERROR: (Address|Leak|Undefined)Sanitizer|SUMMARY|runtime error' "$f" | head -5
	done
fi
errors=$(cat "$reports"/* 2>/dev/null | grep -E 'ERROR: AddressSanitizer|runtime error' | sort -u | wc -l)
leaks=$(cat "$reports"/* 2>/dev/null | grep -E 'ERROR: LeakSanitizer' | sort -u | wc -l)
say "ASan/UBSan errors: $errors; LSan leak reports: $leaks; test harness status: $check_status"
[ "$check_status" -eq 0 ] && [ "$nreports" -eq 0 ]
