#!/usr/bin/env bash
# A configure that failed must not poison the build directory: the next tools/build configures
# again and succeeds once the cause is gone. Each case makes the state a real failure leaves behind
# in a scratch build directory, then runs tools/build as tools/run does (no options given again).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
scratch=$(mktemp -d /tmp/triage-configure-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
# One cheap target that still needs a generated Makefile: one family's BPF object and skeleton.
build_one() { TRIAGE_BUILD_DIR=$1 TRIAGE_BUILD_TARGETS=oom_skel_gen "$here/tools/build" >"$scratch/log" 2>&1; }

# 1. The compilers were missing (a package not yet installed): CMake writes CMakeCache.txt with
#    NOTFOUND entries and no Makefile — the state behind "No rule to make target 'Makefile'".
dir=$scratch/missing-compiler
mkdir -p "$scratch/bin"
ln -s "$(command -v cmake)" "$scratch/bin/cmake"
if PATH=$scratch/bin cmake -S "$here" -B "$dir" >"$scratch/log" 2>&1; then
  fail "case 1: the configure without compilers succeeded, so this case tests nothing"
fi
[ -f "$dir/CMakeCache.txt" ] && [ ! -f "$dir/Makefile" ] ||
  fail "case 1: expected a cache without a Makefile after the failed configure"
if build_one "$dir"; then
  [ -f "$dir/skel/oom.skel.h" ] || fail "case 1: tools/build succeeded but built nothing"
else
  cat "$scratch/log" >&2; fail "case 1: tools/build did not recover from a failed configure"
fi

# 2. The generate step never finished (Ctrl-C, a full disk) after a configure that had: the cache
#    and an old stamp are there, the Makefile is not.
rm -f "$dir/Makefile"
if build_one "$dir"; then
  [ -f "$dir/Makefile" ] || fail "case 2: no Makefile after tools/build"
else
  cat "$scratch/log" >&2; fail "case 2: tools/build did not recover from a missing Makefile"
fi

# 3. The configure itself failed half-way (here: a bad option value) after a successful one: the
#    stamp is gone, so the next run configures again instead of building the stale tree.
if TRIAGE_BUILD_DIR=$dir TRIAGE_CMAKE_ARGS="-DTRIAGE_TESTS=bogus" "$here/tools/build" >"$scratch/log" 2>&1; then
  fail "case 3: TRIAGE_TESTS=bogus was accepted"
fi
grep -q "TRIAGE_TESTS is 'bogus'" "$scratch/log" || { cat "$scratch/log" >&2; fail "case 3: no clear error for TRIAGE_TESTS"; }
[ ! -f "$dir/.triage-configured" ] || fail "case 3: the stamp survived a failed configure"
if TRIAGE_BUILD_DIR=$dir TRIAGE_CMAKE_ARGS="-DTRIAGE_TESTS=AUTO" TRIAGE_BUILD_TARGETS=oom_skel_gen \
     "$here/tools/build" >"$scratch/log" 2>&1; then
  [ -f "$dir/.triage-configured" ] || fail "case 3: no stamp after the configure that succeeded"
else
  cat "$scratch/log" >&2; fail "case 3: tools/build did not recover once the option was right"
fi

# 4. Without Catch2 (what tools/run installs), the default configure succeeds and says the tests
#    are off; asking for the tests then fails with CMake's own missing-package error.
dir=$scratch/no-catch2
if cmake -S "$here" -B "$dir" -DCMAKE_DISABLE_FIND_PACKAGE_Catch2=ON >"$scratch/log" 2>&1; then
  grep -q "Tests not configured: Catch2 is not installed" "$scratch/log" ||
    fail "case 4: the configure without Catch2 did not say the tests are off"
  [ ! -f "$dir/CTestTestfile.cmake" ] || fail "case 4: tests configured without Catch2"
else
  cat "$scratch/log" >&2; fail "case 4: the configure without Catch2 failed"
fi
if cmake -S "$here" -B "$dir" -DTRIAGE_TESTS=ON >"$scratch/log" 2>&1; then
  fail "case 4: TRIAGE_TESTS=ON configured without Catch2"
fi

[ "$failures" -eq 0 ] || exit 1
echo "configure recovery: 4 cases passed"
