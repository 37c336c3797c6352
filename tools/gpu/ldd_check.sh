#!/usr/bin/env bash
# ldd_check.sh BINARY...: fails unless each binary needs nothing but glibc and
# the CUDA libraries the GPU host's toolkit provides (docs/GPU_RECIPE.md).
#
# Two rules, because NVIDIA's own libraries have dependencies of their own:
#  1. What the binary itself asks for (its DT_NEEDED entries, `readelf -d`):
#     glibc (libc, libm, libpthread, libdl, librt, the loader) and libcudart,
#     libnvrtc, libcublasLt, libcublas. Abseil, GoogleTest and libstdc++ must
#     be linked in statically.
#  2. Everything the loader resolves (`ldd`, transitive): the same, plus
#     libgcc_s.so.1, which NVIDIA's libraries may need. (libcublasLt is no
#     longer linked: it is opened at first use, and gpu-probe reports which
#     one loaded.) Each entry must be
#     found, in a new enough version: "not found" and "version `GLIBC_2.35'
#     not found" would both stop the binary before main.
# libcuda is never allowed: cudart loads the driver lazily, so a binary that
# links it would not start on a machine without a driver.
#
# $LDD and $READELF replace the tools (the test feeds canned output). Where
# readelf is missing (a bare GPU host), rule 1 is skipped and said so.
set -uo pipefail

ldd_cmd=${LDD:-ldd}
readelf_cmd=${READELF:-readelf}

glibc='linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1'
cuda='libcudart\.so(\.[0-9]+)*|libnvrtc\.so(\.[0-9]+)*|libcublasLt\.so(\.[0-9]+)*|libcublas\.so(\.[0-9]+)*'
needed_ok="^(${glibc}|${cuda})$"
resolved_ok="^(${glibc}|${cuda}|libgcc_s\.so\.1)$"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 BINARY..." >&2
  exit 2
fi

status=0
fail() {
  echo "ldd_check: $1: $2" >&2
  status=1
}

for binary in "$@"; do
  name=$(basename "$binary")
  if [ ! -f "$binary" ]; then
    fail "$name" "no such file: $binary"
    continue
  fi

  # Rule 1: the binary's own DT_NEEDED list.
  if command -v "$readelf_cmd" >/dev/null 2>&1; then
    needed=$("$readelf_cmd" -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\].*/\1/p')
    for lib in $needed; do
      [[ "$lib" =~ $needed_ok ]] || fail "$name" "links $lib (only glibc and CUDA libraries may be DT_NEEDED)"
    done
  else
    echo "ldd_check: $name: no readelf here; checking only what ldd resolves"
  fi

  # Rule 2: everything the loader resolves.
  if ! resolved=$("$ldd_cmd" "$binary" 2>&1); then
    fail "$name" "ldd failed: $resolved"
    continue
  fi
  libs=()
  while read -r first rest; do
    [ -n "$first" ] || continue
    # "BIN: /lib/.../libc.so.6: version `GLIBC_2.36' not found (required by BIN)"
    if [[ "$rest" == *"version \`"*"not found"* ]]; then
      fail "$name" "this machine's libraries are too old: ${rest}"
      continue
    fi
    lib=$(basename "$first")
    libs+=("$lib")
    if [[ "$rest" == *"not found"* ]]; then
      fail "$name" "$lib is not found on this machine"
    elif ! [[ "$lib" =~ $resolved_ok ]]; then
      fail "$name" "loads $lib (${rest%% (*})"
    fi
  done <<<"$resolved"
  echo "ldd_check: $name: ${libs[*]}"
done

if [ "$status" -eq 0 ]; then
  echo "ldd_check: ok ($# binaries: glibc and CUDA libraries only)"
fi
exit "$status"
