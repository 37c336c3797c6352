#!/usr/bin/env bash
# CI's hostile-input checks (docs/FUZZING.md): the tests of every parser
# under ASan + UBSan, then every fuzz target for a few seconds.
#
#   tools/ci_extra.sh
#
# Environment:
#   KILN_CI_FUZZ_SECONDS      seconds per fuzz target (default 6)
#   KILN_CI_SANITIZE_TARGETS  what runs under ASan + UBSan. Default: the tests
#                             that read files or text (fuzz replays, models,
#                             IR, tokenizer, chat templates, kiln-serve
#                             request bodies) and the CUDA
#                             emulator's own tests, ~9 min cold on
#                             2 cores;
#                             "//..." (the whole suite) takes ~14 min cold.
#
# Run it after tools/test.sh, whose setup it relies on (Bazel, clang).
set -euo pipefail
cd "$(dirname "$0")/.."
# The engine loader is sanitized through the fuzz replays (engine_manifest
# harness); its end-to-end test, which builds compile-model under ASan, is
# left to the full run, to keep CI near 25 minutes.
# The CUDA emulator's own tests run here too: its fibers, stacks and red
# zones are ASan-annotated, and kernel faults unwind through them.
default_targets="//tests/fuzz/... //tests/models/... //tests/ir/... //tests/runtime/tokenizer/...
                 //tests/runtime/generate:chat_template_test //tests/runtime/emulator/...
                 //tests/tools/serve:openai_request_test"
# shellcheck disable=SC2206  # split on whitespace on purpose
targets=(${KILN_CI_SANITIZE_TARGETS:-$default_targets})

# The tokenizer differential test's HF tokenizers venv, as tools/test.sh
# sets it (tools/setup.sh makes it).
export KILN_TOKENIZERS_PYTHON="${KILN_TOKENIZERS_PYTHON:-${KILN_TOKENIZERS_VENV:-$HOME/.cache/kiln/tokenizers-venv}/bin/python}"

start=$SECONDS
tools/sanitize.sh "${targets[@]}"
echo "ci_extra: sanitizer suite took $((SECONDS - start)) s"
start=$SECONDS
tools/fuzz.sh --seconds "${KILN_CI_FUZZ_SECONDS:-6}"
echo "ci_extra: fuzzing took $((SECONDS - start)) s"
