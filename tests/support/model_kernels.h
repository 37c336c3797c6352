// The kernels codegen generates for a model directory, compiled the way
// compile-model compiles an engine, and a fixed suite of kernels at odd
// sizes. The snapshot, the NVRTC test and the host-kernel test all read these.
#ifndef KILN_TESTS_SUPPORT_MODEL_KERNELS_H_
#define KILN_TESTS_SUPPORT_MODEL_KERNELS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/lower.h"
#include "base/dtype.h"

namespace kiln::codegen {

// A named list of kernels: a fixture model in one dtype, or a synthetic suite.
struct KernelSuite {
  std::string name;  // "llama3_bf16": a C identifier
  std::vector<KernelDesc> kernels;
  std::vector<NotGenerated> not_generated;  // of one bucket function
};

// Builds the model in `dir` in `dtype`, specialises @forward into a decode
// bucket (batch 1, seq 1) and a prefill bucket (batch 2, seq 8) with a cache
// of `cache` positions, runs compile-model's optimisation passes, and lowers
// every bucket. Kernels take rows at launch, so the buckets share them: a
// kernel that comes out differently in two buckets is an internal error.
// Appends "sample_argmax", greedy sampling over the logits.
absl::StatusOr<KernelSuite> ModelKernels(const std::string& name, const std::string& dir,
                                         DType dtype, const GpuTarget& info, int64_t cache = 64);

// Every kernel kind at odd sizes (hidden 769, vocabulary 1031, rows given at
// launch), in `dtype`: embedding with an index offset, residual add +
// rms_norm with and without weight_offset, residual add + layer_norm,
// SwiGLU, GeGLU (tanh and erf), ReLU, add of a full operand and of a bias
// vector, scale, cast and argmax.
absl::StatusOr<KernelSuite> OddSizeKernels(DType dtype, const GpuTarget& info);

// The fixture models the snapshot and tests cover: each family in f32 and
// bf16, as (suite name, directory under tests/fixtures/models, dtype).
struct FixtureModel {
  std::string name;
  std::string subdir;
  DType dtype;
};
std::vector<FixtureModel> FixtureModels();

// The snapshot text of a suite: the CUDA prelude, then every kernel.
absl::StatusOr<std::string> SuiteCudaSource(const KernelSuite& suite);

}  // namespace kiln::codegen

#endif  // KILN_TESTS_SUPPORT_MODEL_KERNELS_H_
