// The odd-size row-kernel suites on some device against their host
// renderings, shared by the GPU suite and the emulator suite: every kernel
// of the f32, f16 and bf16 suites at 7 and 300 rows (and with a bad
// embedding id where the kernel has a fault flag), on the same random
// inputs (NaN and -inf rows included) as the host rendering. Outputs must
// be bit-identical except the last ulps of expf/tanhf/erff (SiLU, GELU),
// within TESTING.md's kernel tolerance.
#ifndef KILN_TESTS_CODEGEN_ROW_KERNEL_CHECK_H_
#define KILN_TESTS_CODEGEN_ROW_KERNEL_CHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "codegen/gpu_target.h"
#include "codegen/kernel_desc.h"

namespace kiln::codegen::testing {

// Runs the kernel `desc` (its CUDA text is CudaPrelude() + "\n" +
// RenderCuda(desc)) over `rows` rows, grid (rows), block (desc.threads),
// with `buffers` as its pointer arguments in order (inputs, outputs, the
// fault flag) followed by `long long rows`; copies every buffer back.
using RowKernelRunner = std::function<absl::Status(const KernelDesc& desc, int64_t rows,
                                                   std::vector<std::vector<uint8_t>>& buffers)>;

// Elements compared and bit-identical over the three suites, with each
// mismatch beyond tolerance an EXPECT failure naming kernel and element.
struct RowSuiteResult {
  int64_t kernels = 0;
  int64_t compared = 0;
  int64_t identical = 0;
};
absl::StatusOr<RowSuiteResult> CheckOddSizeRowSuites(const GpuTarget& preset,
                                                     const RowKernelRunner& run);

}  // namespace kiln::codegen::testing

#endif  // KILN_TESTS_CODEGEN_ROW_KERNEL_CHECK_H_
