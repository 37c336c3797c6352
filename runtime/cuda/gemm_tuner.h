// Chooses the cuBLASLt algorithm of each GEMM shape by measuring on the GPU
// (gemm_choices.h is the record it writes; compile-model runs it when the
// machine has a GPU of the target's architecture).
#ifndef KILN_RUNTIME_CUDA_GEMM_TUNER_H_
#define KILN_RUNTIME_CUDA_GEMM_TUNER_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

// Algorithms timed per shape: the heuristic's first kTunedCandidates.
inline constexpr int kTunedCandidates = 8;

// For every distinct GEMM shape of `plans`: the heuristic's first
// kTunedCandidates algorithms, each enqueued 3 times to warm up and then
// timed over 20 runs with CUDA events on operands of the shape's dtype
// (filled with one small constant: tensor-core timing does not depend on
// the values); the fastest mean is kept, the heuristic's first choice's
// mean recorded beside it. `progress` (optional) gets (done, total) after
// each shape. FailedPrecondition without a usable device or when the
// device is not `arch` (the caller then records an untuned engine).
absl::StatusOr<GemmChoices> TuneGemms(const std::vector<LaunchPlan>& plans, const std::string& arch,
                                      int device = 0,
                                      const std::function<void(int, int)>& progress = nullptr);

}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_GEMM_TUNER_H_
