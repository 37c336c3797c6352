// The per-row parameters of the on-device sampling kernel (sampling_cuda.h)
// and their preconditions, shared by the kernel's launch (runtime/session's
// plan executor) and the host code that builds them from a request
// (runtime/generate/device_sampling.h).
//
// Semantics of the kernel: runtime/generate/sampler.cc's SampleToken for
// the same logits, GenerationConfig and step, with two exceptions:
//   1. no repetition penalty: the kernel never sees the history. A request
//      with repetition_penalty != 1 must sample on the host path (the
//      caller checks; SampleParams has no field for it);
//   2. sums are block-tree sums, not SampleToken's left-to-right sums, and
//      exp is the kernel's own (<= 1 ulp from glibc's). A draw can
//      therefore differ only where one of SampleToken's decisions
//      (u < cumulative, mass >= top_p, p >= floor) is within a few ulps of
//      its threshold; docs/CODEGEN.md "Sampling kernel" has the maths and
//      tests/codegen/sampling/sampling_check.h counts such cases.
// The kernel also requires temperature <= kMaxKernelTemperature (see
// below for why); larger ones sample on the host path.
#ifndef KILN_CODEGEN_SAMPLING_SAMPLING_PARAMS_H_
#define KILN_CODEGEN_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>

#include "absl/status/status.h"

namespace kiln::codegen::sampling {

// One row's parameters, laid out exactly as the kernel's KilnSampleParams
// (48 bytes, doubles first): the kernel reads an array of these, one per
// row. `counter` is SampleToken's `step`; greedy != 0 ignores the rest.
struct SampleParams {
  double temperature = 1.0;  // > 0, finite, <= kMaxKernelTemperature
  double top_p = 1.0;        // (0, 1]; 1: off
  double min_p = 0.0;        // [0, 1); 0: off
  uint64_t seed = 0;
  uint64_t counter = 0;
  int32_t top_k = 0;   // >= 0; 0 or >= vocab: off
  int32_t greedy = 1;  // SampleToken's !do_sample
};
static_assert(sizeof(SampleParams) == 48, "must match KilnSampleParams in sampling_cuda.cc");

// Above 2^800 a float logit divided by the temperature can underflow to
// a double subnormal or zero, so two different logits could tie after the
// division; the kernel orders tokens by their float logits and would then
// break such a tie differently from SampleToken (which orders by the
// quotient). Below it, x -> x / t is strictly increasing on floats.
inline constexpr double kMaxKernelTemperature = 0x1p800;

// InvalidArgument naming the field when `params` is outside the ranges
// above (the kernel's preconditions; ValidateGenerationConfig's ranges plus
// the temperature bound).
absl::Status ValidateSampleParams(const SampleParams& params);

}  // namespace kiln::codegen::sampling

#endif  // KILN_CODEGEN_SAMPLING_SAMPLING_PARAMS_H_
