#!/usr/bin/env bash
# The first run's promise (README, "Two commands"): scripts/run builds only the
# `attn` program and the library it links, and scripts/test, run right after
# it, compiles nothing of that again. Checked without compiling anything, on a
# scratch tree configured like build/release:
#
#   1. scripts/run's build line names exactly one target, attn_cli.
#   2. Building attn_cli (a dry run: make -n / ninja -n) compiles the library
#      and train/cli/ only: no test, example, benchmark or fuzz harness.
#   3. Configuring again (scripts/test does, after scripts/run) rewrites no
#      file that a compile depends on: no generated header or source, no
#      flags file. (A generated header rewritten on every configure once made
#      scripts/test recompile 26 files that scripts/run had just compiled.)
#
#   bash tests/scripts/first_run_test.sh SOURCE_DIR WORK_DIR CMAKE [GENERATOR]
#
# Each check prints "ok - ..." or "FAIL - ..."; the script exits non-zero if
# any failed. Two configures: ten to twenty seconds.
set -u

SRC=${1:?usage: first_run_test.sh SOURCE_DIR WORK_DIR CMAKE [GENERATOR]}
WORK=${2:?usage: first_run_test.sh SOURCE_DIR WORK_DIR CMAKE [GENERATOR]}
CMAKE=${3:?usage: first_run_test.sh SOURCE_DIR WORK_DIR CMAKE [GENERATOR]}
GENERATOR=${4:-Unix Makefiles}
failures=0
ok() { echo "ok - $1"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# --- 1. the build line of scripts/run ---
build_line=$(grep -E '^[[:space:]]*cmake --build' "$SRC/scripts/run")
if [ "$(grep -c . <<<"$build_line")" -ne 1 ]; then
  fail "scripts/run: expected one 'cmake --build' line, found: '$build_line'"
else
  targets=$(grep -oE -- '--target( [A-Za-z0-9_]+)+' <<<"$build_line" | cut -d' ' -f2-)
  if [ "$targets" = "attn_cli" ]; then
    ok "scripts/run builds one target: $targets"
  else
    fail "scripts/run: expected '--target attn_cli' alone, got targets '$targets' in: $build_line"
  fi
fi

# --- 2. what building attn_cli compiles ---
# CUDA and the fuzz probe off: they only slow the configure; neither changes
# which targets attn_cli depends on.
rm -rf "$WORK"
configure() {
  "$CMAKE" -S "$SRC" -B "$WORK" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
    -DATTN_CUDA=OFF -DATTN_FUZZ=OFF >"$WORK.configure.log" 2>&1
}
if ! configure; then
  fail "configure of $WORK failed:"
  cat "$WORK.configure.log"
  exit 1
fi
plan=$("$CMAKE" --build "$WORK" --target attn_cli -- -n 2>&1)
objects=$(grep -oE 'Building (CXX|CUDA) object [^ "]+' <<<"$plan" | awk '{print $4}' | sort -u)
count=$(grep -c . <<<"$objects")
strays=$(grep -E '^(tests|examples|bench)/|fuzz' <<<"$objects")
if [ -n "$strays" ]; then
  fail "building attn_cli compiles what the main job does not run: $(tr '\n' ' ' <<<"$strays")"
elif ! grep -q 'attn_cli.dir/train/cli/main.cpp' <<<"$objects" ||
     ! grep -q 'attn.dir/tensor/tensor.cpp' <<<"$objects"; then
  fail "the dry run of attn_cli does not compile train/cli/main.cpp and tensor/tensor.cpp" \
       "(generator '$GENERATOR'; $count objects): $(head -c 2000 <<<"$plan")"
else
  ok "building attn_cli compiles $count files, the library's and train/cli/'s only"
fi

# --- 3. configuring again rewrites nothing a compile depends on ---
marker="$WORK.marker"
touch "$marker"
sleep 1  # file systems with coarse time stamps
if ! configure; then
  fail "second configure of $WORK failed:"
  cat "$WORK.configure.log"
  exit 1
fi
# Compile inputs: sources and headers the build generates, and the flag files
# every object depends on (flags.make; build.ninja's rules are compared by
# content, so ninja does not care when it was written).
rewritten=$(find "$WORK" -type f -newer "$marker" \
  \( -name '*.h' -o -name '*.hpp' -o -name '*.cpp' -o -name '*.cu' -o -name '*.inc' \
     -o -name 'flags.make' \) | sed "s|^$WORK/||")
if [ -n "$rewritten" ]; then
  fail "configuring again rewrote files that compiles depend on (make recompiles what" \
       "includes them): $(tr '\n' ' ' <<<"$rewritten")"
else
  ok "configuring again rewrites no generated header, source or flags file"
fi
rm -rf "$WORK" "$marker" "$WORK.configure.log"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed"; exit 1; }
echo "all first-run checks passed"
