// A launch plan's GEMM step (launch_plan.h GemmStep) on cuBLASLt.
//
// The IR's out[m, n] = x[m, k] . w[n, k]^T (+ bias[n]) is, read column-major
// (cuBLASLt's convention), D (n x m, ld n) = op(A) . B with A = w as a k x n
// matrix (ld k) transposed and B = x as k x m (ld k): TRANSA = T, TRANSB = N.
// Inputs and output in the step's dtype (f32, f16 or bf16), accumulation and
// scale in f32 (CUBLAS_COMPUTE_32F: no TF32 for f32, so an f32 engine stays
// within f32 rounding of the reference); the bias is the BIAS epilogue, added
// to the f32 accumulator before the one rounding, as the reference does.
// The algorithm is the one compile-model measured fastest on this device
// (gemm_choices.h, rebuilt with FromConfig) when the engine records one,
// else cuBLASLt's heuristic top choice for the shape on the device at load.
#ifndef KILN_RUNTIME_CUDA_CUDA_GEMM_H_
#define KILN_RUNTIME_CUDA_CUDA_GEMM_H_

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_handles.h"
#include "codegen/plan/arena_plan.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"

namespace kiln::gpu {

// Scratch every GEMM may use (codegen/plan/arena_plan.h plans it).
inline constexpr size_t kGemmWorkspaceBytes = static_cast<size_t>(kCudaGemmWorkspaceBytes);

// One GemmStep's descriptors and algorithm. Move-only; `handle` must outlive it.
class PlannedGemm {
 public:
  // The heuristic's first choice.
  static absl::StatusOr<PlannedGemm> Plan(cublasLtHandle_t handle, const GemmStep& step);

  // The heuristic's first `count` choices that cuBLASLt marks usable (at
  // least one, else NotFound), for timing.
  static absl::StatusOr<std::vector<PlannedGemm>> Candidates(cublasLtHandle_t handle,
                                                             const GemmStep& step, int count);

  // The recorded algorithm `config`, rebuilt and checked by cuBLASLt on this
  // device: an error when it cannot be rebuilt, does not run here or needs
  // more than kGemmWorkspaceBytes (the caller then asks the heuristic).
  static absl::StatusOr<PlannedGemm> FromConfig(cublasLtHandle_t handle, const GemmStep& step,
                                                const LtAlgoConfig& config);

  // The algorithm's id and configuration attributes, for the record.
  absl::StatusOr<LtAlgoConfig> Config() const;
  int64_t workspace_bytes() const { return static_cast<int64_t>(heuristic_.workspaceSize); }

  // Enqueues the product on `stream`, operands at their arena addresses.
  absl::Status Enqueue(const void* x, const void* w, const void* bias, void* out, void* workspace,
                       cudaStream_t stream) const;

  // "m=1 n=2048 k=2048 bf16 +bias: workspace 0 B, waves 0.5".
  std::string Summary() const;

 private:
  // The operation and layout descriptors of `step`, no algorithm yet.
  static absl::StatusOr<PlannedGemm> Describe(cublasLtHandle_t handle, const GemmStep& step);

  cublasLtHandle_t handle_ = nullptr;
  GemmStep step_;
  LtMatmulDesc desc_;
  LtLayout a_, b_, d_;
  cublasLtMatmulHeuristicResult_t heuristic_{};
};

}  // namespace kiln::gpu

#endif  // KILN_RUNTIME_CUDA_CUDA_GEMM_H_
