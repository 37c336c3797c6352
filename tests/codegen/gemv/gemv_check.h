// The GEMV kernel on any device (a KernelRunner: the CUDA emulator or a
// GPU, tests/support/kernel_job.h) against the reference executor's
// matmul_nt, shared by gemv_emulator_test and gemv_gpu_test. The launch is
// gemv_cuda.h's: grid GemvBlocks, block threads(), no dynamic shared
// memory, (x, w, bias or nullptr, out, int n, int rows).
//
// Tolerance (TESTING.md): f32 NMSE <= 1e-7, f16/bf16 vLLM's allclose
// (gemv_test_support.h AllCloseRatio <= 1). The kernel sums in a different
// order from the reference (lane chunks, then a butterfly), so equal bits
// are counted and printed, not required.
#ifndef KILN_TESTS_CODEGEN_GEMV_GEMV_CHECK_H_
#define KILN_TESTS_CODEGEN_GEMV_GEMV_CHECK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/host_tensor.h"
#include "codegen/gemv/gemv_config.h"
#include "tests/codegen/gemv/gemv_test_support.h"
#include "tests/support/error_metrics.h"
#include "tests/support/kernel_job.h"

namespace kiln::codegen::gemv::testing {

using ::kiln::testing::Agreement;
using ::kiln::testing::KernelRunner;

// The kernel's out [rows, n] for `p` (rows <= the variant's max_rows).
absl::StatusOr<std::vector<float>> RunGemv(const KernelRunner& run, const GemvVariant& variant,
                                           const Problem& p);

// matmul_nt(x, w[, bias]) on the reference executor.
absl::StatusOr<HostTensor> ReferenceMatmulNT(const Problem& p);

// f32: NMSE; f16/bf16: the allclose ratio. Passing is error <= GemvLimit.
double GemvError(const std::vector<float>& got, const std::vector<float>& want, DType dtype);
double GemvLimit(DType dtype);

// One launch against the reference: EXPECTs the tolerance (naming `what`)
// and returns the agreement and the error; the runner's failure unchanged.
struct GemvChecked {
  Agreement agreement;
  double error = 0;
  bool ok = false;
};
absl::StatusOr<GemvChecked> CheckGemv(const KernelRunner& run, const GemvVariant& variant,
                                      const Problem& p, const std::string& what);

}  // namespace kiln::codegen::gemv::testing

#endif  // KILN_TESTS_CODEGEN_GEMV_GEMV_CHECK_H_
