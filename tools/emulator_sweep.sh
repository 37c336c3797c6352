#!/usr/bin/env bash
# The full CUDA-emulator sweep, beyond CI's subset (docs/EMULATOR.md): every
# fixture family in f32, bf16 and f16, on the A100 (sm_80) and H100 (sm_90)
# presets' kernel texts, through the CUDA executor on the emulator — the
# plan scenario against the reference executor and eager launches, and the
# tiny HF fixtures against Transformers. About 10 minutes on 2 cores.
#
#   tools/emulator_sweep.sh [extra bazel flags]
set -euo pipefail
cd "$(dirname "$0")/.."
exec bazel test //tests/runtime/cuda:cuda_executor_emulator_test \
  --test_env=KILN_EMULATOR_FULL=1 --test_timeout=3600 --test_output=all "$@"
