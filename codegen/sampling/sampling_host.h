// The CPU twin of the on-device sampling kernel (sampling_cuda.h), and the
// per-row parameters both share. The twin runs the kernel's algorithm step
// by step on the host, including the order of every floating-point sum (it
// replays the block reductions and scans of `threads` simulated threads),
// so kernel and twin pick the same token bit for bit.
//
// Semantics: runtime/generate/sampler.cc's SampleToken for the same logits,
// GenerationConfig and step, with two exceptions:
//   1. no repetition penalty: the kernel never sees the history. A request
//      with repetition_penalty != 1 must sample on the host path (the
//      caller checks; SampleParams has no field for it);
//   2. sums are block-tree sums, not SampleToken's left-to-right sums, and
//      exp is the kernel's own (SampleExp, <= 1 ulp from glibc's). A draw
//      can therefore differ only where one of SampleToken's decisions
//      (u < cumulative, mass >= top_p, p >= floor) is within a few ulps of
//      its threshold; docs/CODEGEN.md "Sampling kernel" has the maths and
//      tests/codegen/sampling/sampling_twin_test.cc counts such cases.
// The kernel also requires temperature <= kMaxKernelTemperature (see
// ValidateSampleParams for why); larger ones sample on the host path.
#ifndef KILN_CODEGEN_SAMPLING_SAMPLING_HOST_H_
#define KILN_CODEGEN_SAMPLING_SAMPLING_HOST_H_

#include <cstdint>
#include <span>

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

// CounterUniform(seed, counter) of runtime/generate/sampler.h, computed the
// way the kernel does (SplitMix64 of SplitMix64(seed) ^ counter, top 53
// bits times 2^-53).
double SampleUniform(uint64_t seed, uint64_t counter);

// e^d for d <= 0 (and d = -inf), as the kernel computes it: d = k ln2 + r
// with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its degree-13 Taylor
// polynomial in Horner form with explicit fma (truncation error < 2^-60
// relative), then times 2^k in one or two exact-power multiplications.
// Every step is an IEEE-754 operation, so host and device agree bit for
// bit; SampleExp(0) == 1 exactly and d <= -746 gives 0 (as e^d rounds to).
double SampleExp(double d);

// The order key of a non-NaN logit: an unsigned integer that compares as
// the floats do (-0 and +0 share a key; -inf has the smallest).
uint32_t LogitKey(float logit);
float LogitFromKey(uint32_t key);

// The kernel's result for one row: the token, or -1 with fault set when the
// row holds a NaN (SampleToken's DataLossError).
struct SampleResult {
  int32_t token = -1;
  bool fault = false;
};

// Runs the kernel's algorithm (sampling_cuda.cc) on one row of logits with
// `threads` simulated threads (SamplingThreads(vocab)), params validated.
SampleResult SampleRowTwin(std::span<const float> logits, const SampleParams& params,
                           int threads);

}  // namespace kiln::codegen::sampling

#endif  // KILN_CODEGEN_SAMPLING_SAMPLING_HOST_H_
