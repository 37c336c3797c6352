#!/usr/bin/env bash
# ldd_check.sh's two rules on canned `readelf -d` / `ldd` output, through its
# $READELF and $LDD hooks. Usage: ldd_check_test.sh PATH_TO_LDD_CHECK_SH
set -uo pipefail
check="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
dir="${TEST_TMPDIR:-$(mktemp -d)}/ldd_check"
mkdir -p "$dir"
failures=0

cat >"$dir/fake_readelf" <<'SH'
#!/usr/bin/env bash
# readelf -d BINARY: print BINARY.needed as NEEDED entries.
while read -r lib; do
  [ -n "$lib" ] && echo " 0x0000000000000001 (NEEDED)             Shared library: [$lib]"
done <"$2.needed"
SH
cat >"$dir/fake_ldd" <<'SH'
#!/usr/bin/env bash
cat "$1.ldd"
SH
chmod +x "$dir/fake_readelf" "$dir/fake_ldd"

# binary NAME NEEDED_LIBS LDD_LINES: a fake binary and its canned output.
binary() {
  touch "$dir/$1"
  printf '%s\n' $2 >"$dir/$1.needed"
  printf '%b' "$3" >"$dir/$1.ldd"
}

# expect RC PATTERN NAME [READELF]: runs the check on NAME and matches output.
expect() {
  local want_rc="$1" pattern="$2" name="$3" readelf="${4:-$dir/fake_readelf}" output rc
  output=$(READELF="$readelf" LDD="$dir/fake_ldd" "$check" "$dir/$name" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want_rc" ] || ! grep -q -- "$pattern" <<<"$output"; then
    echo "FAIL $name: want exit $want_rc and /$pattern/, got exit $rc:"
    echo "$output"
    failures=$((failures + 1))
  else
    echo "ok   $name"
  fi
}

glibc_ldd='\tlinux-vdso.so.1 (0x1)\n\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x2)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x3)\n\t/lib64/ld-linux-x86-64.so.2 (0x4)\n'
cuda_ldd='\tlibcudart.so.13 => /usr/local/cuda/lib64/libcudart.so.13 (0x5)\n\tlibnvrtc.so.13 => /usr/local/cuda/lib64/libnvrtc.so.13 (0x6)\n\tlibcublasLt.so.13 => /usr/local/cuda/lib64/libcublasLt.so.13 (0x7)\n'
gcc_s_ldd='\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x8)\n'
good_needed="libcudart.so.13 libnvrtc.so.13 libcublasLt.so.13 libm.so.6 libc.so.6 ld-linux-x86-64.so.2"

# A bundle-ready binary; libgcc_s arrives through libcublasLt, which is fine.
binary good "$good_needed" "$glibc_ldd$cuda_ldd$gcc_s_ldd"
expect 0 "ldd_check: ok" good
# Shared Abseil, libstdc++ or the driver: the binary asks for them itself.
binary absl "$good_needed libabsl_strings.so.20220623" \
  "$glibc_ldd$cuda_ldd\tlibabsl_strings.so.20220623 => /usr/lib/x86_64-linux-gnu/libabsl_strings.so.20220623 (0x9)\n"
expect 1 "links libabsl_strings" absl
binary stdcxx "$good_needed libstdc++.so.6" \
  "$glibc_ldd$cuda_ldd\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x9)\n"
expect 1 "links libstdc++.so.6" stdcxx
binary driver "$good_needed libcuda.so.1" "$glibc_ldd$cuda_ldd\tlibcuda.so.1 => /usr/lib/libcuda.so.1 (0x9)\n"
expect 1 "links libcuda.so.1" driver
# libgcc_s is allowed only as a dependency of NVIDIA's libraries.
binary gcc_s "$good_needed libgcc_s.so.1" "$glibc_ldd$cuda_ldd$gcc_s_ldd"
expect 1 "links libgcc_s.so.1" gcc_s
# A CUDA library the host lacks would stop the binary before main.
binary missing "$good_needed" "$glibc_ldd\tlibcudart.so.13 => not found\n"
expect 1 "libcudart.so.13 is not found" missing
# A host glibc older than the one the bundle was linked against.
binary old_glibc "$good_needed" \
  "/x/old_glibc: /lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.36' not found (required by /x/old_glibc)\n$glibc_ldd$cuda_ldd"
expect 1 "too old: .*GLIBC_2.36" old_glibc
# Without readelf only the ldd rule runs, and says so.
binary no_readelf "$good_needed" "$glibc_ldd$cuda_ldd"
expect 0 "no readelf here" no_readelf /nonexistent/readelf
binary no_readelf_bad "$good_needed" "$glibc_ldd$cuda_ldd\tlibabsl_base.so.20220623 => /usr/lib/libabsl_base.so (0x9)\n"
expect 1 "loads libabsl_base" no_readelf_bad /nonexistent/readelf

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures failed"; exit 1; }
