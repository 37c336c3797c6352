#include "codegen/loop/loop_cuda.h"

#include "absl/strings/str_cat.h"

namespace kiln::codegen::loop {

extern const char kLoopControlText[];

namespace {

// NVRTC compiles without the runtime headers: the conditional-node device
// call is declared here (cuda_device_runtime_api.h declares the same); the
// emulator's prelude defines its own.
constexpr char kDeclarations[] = R"(
#ifndef KILN_EMULATED
typedef unsigned long long cudaGraphConditionalHandle;
extern "C" __device__ void cudaGraphSetConditional(cudaGraphConditionalHandle handle,
                                                   unsigned int value);
#define KILN_LOOP_PUBLISH() __threadfence_system()
#endif
#define KILN_LOOP_FN static __device__ __forceinline__
)";

constexpr char kKernels[] = R"(
// Whether the logit at `index` is a NaN (f32, or f16/bf16 bits).
static __device__ __forceinline__ int kiln_loop_logit_is_nan(const void* logits, int dtype,
                                                              long long index) {
  if (dtype == 0) {
    const float v = ((const float*)logits)[index];
    return v != v;
  }
  const unsigned short bits = ((const unsigned short*)logits)[index];
  const unsigned short exponent = dtype == 1 ? 0x7c00 : 0x7f80;
  return (bits & exponent) == exponent && (bits & (unsigned short)~(exponent | 0x8000)) != 0;
}

extern "C" __global__ void kiln_loop_prepare(int* state, const int* config, const int* history,
                                             int* step_ids, int* step_positions,
                                             unsigned long long* sample_counter,
                                             cudaGraphConditionalHandle bucket) {
  const int branch = kiln_loop_prepare_round(state, config, history, step_ids, step_positions);
  // A sampled plan: row r of the step draws generated token `generated + r`
  // (counters are 6 words apart: SampleParams is 48 bytes).
  if (config[kLoopSampled] != 0) {
    const unsigned long long first = kiln_loop_sample_counter(state, config);
    for (int r = 0; r < config[kLoopWidths + branch]; ++r) sample_counter[6 * r] = first + r;
  }
  cudaGraphSetConditional(bucket, (unsigned int)branch);
}

extern "C" __global__ void kiln_loop_finish(int* state, const int* config, int* history,
                                            const int* step_ids,
                                            const unsigned long long* bucket_outputs, int* out,
                                            int* out_count, const int* host_stop,
                                            cudaGraphConditionalHandle go) {
  const int branch = state[kLoopBranch];
  const int* next = (const int*)bucket_outputs[3 * branch];
  const int* fault = (const int*)bucket_outputs[3 * branch + 1];
  const void* logits = (const void*)bucket_outputs[3 * branch + 2];
  // The argmax names a row's first NaN (the reference's rule), so one load
  // a row tells whether its logits hold one. The sampler marks a NaN row
  // with token -1 itself.
  int row_nan[kLoopMaxDraft + 1];
  const int vocab = config[kLoopVocab];
  int bad_index = 0;
  for (int r = 0; r <= state[kLoopDrafted]; ++r) {
    const int token = next[r];
    if (config[kLoopSampled] != 0) {
      row_nan[r] = token < 0;
      bad_index |= token >= vocab;
      continue;
    }
    bad_index |= token < 0 || token >= vocab;
    row_nan[r] = token < 0 || token >= vocab
                     ? 0
                     : kiln_loop_logit_is_nan(logits, config[kLoopLogitsDtype],
                                              (long long)r * vocab + token);
  }
  const int stop = *(const volatile int*)host_stop;
  const int going = kiln_loop_finish_round(state, config, history, step_ids, next, row_nan,
                                           *fault | bad_index, stop, out, out_count);
  cudaGraphSetConditional(go, going ? 1u : 0u);
}
)";

}  // namespace

std::string RenderLoopCuda() {
  return absl::StrCat(
      "// kiln_loop_prepare, kiln_loop_finish: the generate loop's rounds "
      "(codegen/loop/loop_cuda.h).\n",
      kDeclarations, kLoopControlText, kKernels);
}

}  // namespace kiln::codegen::loop
