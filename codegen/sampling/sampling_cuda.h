// The on-device sampler: one CUDA C++ translation unit per (logit dtype,
// block size), compiled by NVRTC, that picks the next token of every batch
// row from its logits without copying them to the host. Its per-row
// parameters, the semantics and their one documented difference from
// SampleToken are in sampling_params.h; the algorithm is in sampling_cuda.cc
// and docs/CODEGEN.md "Sampling kernel".
//
// Launch: grid (rows), block (threads), no dynamic shared memory:
//   kernel(const T* logits,                  // [rows, vocab], T = float,
//                                            // or f16/bf16 bits (ushort)
//          const KilnSampleParams* params,   // [rows], = SampleParams
//          int vocab,                        // >= 1
//          int* tokens,                      // [rows] out
//          int* faults)                      // [rows] out: 1 = NaN logits
// A row with a NaN logit gets token -1 and fault 1 (SampleToken's
// DataLossError); every other row gets fault 0. No repetition penalty (the
// runtime applies it on the host path). Parameters must pass
// ValidateSampleParams.
#ifndef KILN_CODEGEN_SAMPLING_SAMPLING_CUDA_H_
#define KILN_CODEGEN_SAMPLING_SAMPLING_CUDA_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "base/dtype.h"

namespace kiln::codegen::sampling {

// What one compiled sampler is specialised for; vocab and rows are launch
// arguments, so one cubin serves every vocabulary and batch size.
struct SamplingVariant {
  DType dtype = DType::kF32;  // of the logits: f32, f16 or bf16
  int threads = 512;          // a multiple of 32 in [32, 512]
};

// Threads per row: one per 16 columns in whole warps, 64..512 (and at most
// the device's block limit). 512 caps registers at 128 a thread, which the
// 16 double bucket accumulators of the top-p search need (32 registers).
int SamplingThreads(int64_t vocab, const GpuTarget& info);

// "kiln_sample_bf16_t512".
std::string SamplingKernelName(const SamplingVariant& variant);

// The complete translation unit (no #include) defining the one
// `extern "C" __global__` kernel SamplingKernelName(variant). An error for
// a dtype other than f32/f16/bf16 or a bad block size.
absl::StatusOr<std::string> RenderSamplingCuda(const SamplingVariant& variant);

}  // namespace kiln::codegen::sampling

#endif  // KILN_CODEGEN_SAMPLING_SAMPLING_CUDA_H_
