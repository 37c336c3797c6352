// The sampling kernel on any device (a KernelRunner: the CUDA emulator or
// a GPU, tests/support/kernel_job.h) against the specification,
// runtime/generate's SampleToken, shared by sampling_emulator_test and
// sampling_gpu_test. The launch is sampling_cuda.h's: grid (rows), block
// (threads), (logits, params, int vocab, tokens, faults).
//
// The kernel must pick SampleToken's token, and for a row with a NaN logit
// set its fault flag with token -1 (SampleToken's DataLossError). The one
// tolerated difference is the documented boundary case
// (codegen/sampling/sampling_params.h; docs/CODEGEN.md "Sampling kernel"):
// kernel and SampleToken sum in different orders and exp differs by <= 1
// ulp, so where one of SampleToken's decisions -- u < cumulative,
// mass >= top_p, p >= floor -- lies within kBoundaryEps of its threshold
// (recomputed in long double) the tokens may differ. Such rows are counted
// and printed; any other difference fails the test.
#ifndef KILN_TESTS_CODEGEN_SAMPLING_SAMPLING_CHECK_H_
#define KILN_TESTS_CODEGEN_SAMPLING_SAMPLING_CHECK_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/sampling/sampling_params.h"
#include "runtime/generate/generation_config.h"
#include "tests/support/kernel_job.h"

namespace kiln::codegen::sampling {

using ::kiln::testing::KernelRunner;

// Left-to-right double sums of up to 2^17 terms <= 1 are within ~2^-36 of
// the exact sum; block-tree sums closer still.
inline constexpr long double kBoundaryEps = 1e-10L;

// The kernel's tokens and fault flags, one per row.
struct SampledRows {
  std::vector<int32_t> tokens, faults;
};
// `logits` [params.size(), vocab] as the device holds them (each value
// exactly representable in `variant.dtype`).
absl::StatusOr<SampledRows> RunSampling(const KernelRunner& run, const SamplingVariant& variant,
                                        int vocab, const std::vector<float>& logits,
                                        const std::vector<SampleParams>& params);

// The request a row's parameters stand for (SampleToken's view of them).
GenerationConfig ConfigOf(const SampleParams& params);

// Which of SampleToken's decisions for this row lies within kBoundaryEps of
// its threshold ("top_p", "min_p", "draw", space-separated), or "".
std::string NearDecisionBoundary(std::span<const float> logits, const GenerationConfig& c,
                                 uint64_t step);

struct SampleCounts {
  int64_t rows = 0, equal = 0, boundary = 0, mismatches = 0;
};
// One row's kernel result against SampleToken (EXPECTs naming `what`).
void CheckRow(int32_t token, int32_t fault, std::span<const float> logits,
              const SampleParams& params, const std::string& what, SampleCounts& counts);

}  // namespace kiln::codegen::sampling

#endif  // KILN_TESTS_CODEGEN_SAMPLING_SAMPLING_CHECK_H_
