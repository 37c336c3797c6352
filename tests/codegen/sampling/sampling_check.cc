#include "tests/codegen/sampling/sampling_check.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <utility>

#include "base/status_macros.h"
#include "gtest/gtest.h"
#include "runtime/generate/sampler.h"

namespace kiln::codegen::sampling {

using ::kiln::testing::KernelCall;
using ::kiln::testing::KernelJob;
using ::kiln::testing::KernelParam;

absl::StatusOr<SampledRows> RunSampling(const KernelRunner& run, const SamplingVariant& variant,
                                        int vocab, const std::vector<float>& logits,
                                        const std::vector<SampleParams>& params) {
  const int rows = static_cast<int>(params.size());
  KernelCall call;
  KILN_ASSIGN_OR_RETURN(call.source, RenderSamplingCuda(variant));
  call.function = SamplingKernelName(variant);
  call.grid = {static_cast<unsigned>(rows), 1, 1};
  call.block = {static_cast<unsigned>(variant.threads), 1, 1};
  KernelJob job;
  const int x = job.AddBuffer(::kiln::testing::FloatBytes(logits, variant.dtype));
  std::vector<uint8_t> param_bytes(params.size() * sizeof(SampleParams));
  if (!params.empty()) std::memcpy(param_bytes.data(), params.data(), param_bytes.size());
  const int p = job.AddBuffer(std::move(param_bytes));
  const int tokens = job.AddBuffer(::kiln::testing::PoisonBytes(rows * 4));
  const int faults = job.AddBuffer(::kiln::testing::PoisonBytes(rows * 4));
  call.params = {KernelParam::Buffer(x), KernelParam::Buffer(p), KernelParam::Scalar(vocab),
                 KernelParam::Buffer(tokens), KernelParam::Buffer(faults)};
  job.calls.push_back(std::move(call));
  KILN_RETURN_IF_ERROR(run(job));
  return SampledRows{::kiln::testing::BytesToInts(job.buffers[tokens]),
                     ::kiln::testing::BytesToInts(job.buffers[faults])};
}

GenerationConfig ConfigOf(const SampleParams& params) {
  GenerationConfig c;
  c.do_sample = params.greedy == 0;
  c.temperature = params.temperature;
  c.top_k = params.top_k;
  c.top_p = params.top_p;
  c.min_p = params.min_p;
  c.seed = params.seed;
  return c;
}

std::string NearDecisionBoundary(std::span<const float> logits, const GenerationConfig& c,
                                 uint64_t step) {
  const size_t n = logits.size();
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(logits[i]) / c.temperature;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  size_t keep = c.top_k > 0 ? std::min(n, static_cast<size_t>(c.top_k)) : n;
  std::vector<long double> p(n, 0.0L);
  long double s1 = 0;
  for (size_t i = 0; i < keep; ++i) {
    s1 += (p[order[i]] = std::exp(static_cast<long double>(x[order[i]]) - x[order[0]]));
  }
  for (size_t i = 0; i < keep; ++i) p[order[i]] /= s1;
  std::string near;
  auto note = [&](bool close, const char* what) {
    if (close && near.find(what) == std::string::npos) near += near.empty() ? what : std::string(" ") + what;
  };
  if (c.top_p < 1.0) {
    long double mass = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      mass += p[order[i]];
      note(std::fabs(mass - c.top_p) <= kBoundaryEps, "top_p");
      if (mass >= c.top_p + kBoundaryEps) break;
    }
    keep = std::min(keep, i + 1);
  }
  if (c.min_p > 0.0) {
    const long double floor = c.min_p * p[order[0]];
    for (size_t i = 1; i < keep; ++i) {
      note(std::fabs(p[order[i]] - floor) <= kBoundaryEps * p[order[0]], "min_p");
    }
    size_t i = 1;
    while (i < keep && p[order[i]] >= floor) ++i;
    keep = i;
  }
  long double s2 = 0;
  for (size_t i = 0; i < keep; ++i) s2 += p[order[i]];
  std::vector<bool> kept(n, false);
  for (size_t i = 0; i < keep; ++i) kept[order[i]] = true;
  const long double u = CounterUniform(c.seed, step);
  long double cumulative = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!kept[i] || p[i] == 0) continue;
    cumulative += p[i] / s2;
    note(std::fabs(cumulative - u) <= kBoundaryEps, "draw");
  }
  return near;
}

void CheckRow(int32_t token, int32_t fault, std::span<const float> logits,
              const SampleParams& params, const std::string& what, SampleCounts& counts) {
  const GenerationConfig c = ConfigOf(params);
  const absl::StatusOr<int32_t> want = SampleToken(logits, c, {}, params.counter);
  ++counts.rows;
  if (!want.ok()) {
    // NaN logits: SampleToken's DataLossError is the kernel's fault flag.
    const bool ok = fault == 1 && token == -1;
    counts.equal += ok;
    counts.mismatches += !ok;
    EXPECT_EQ(fault, 1) << what << ": SampleToken says " << want.status();
    EXPECT_EQ(token, -1) << what;
    return;
  }
  EXPECT_EQ(fault, 0) << what;
  if (token == *want && fault == 0) {
    ++counts.equal;
    return;
  }
  const std::string near = c.do_sample ? NearDecisionBoundary(logits, c, params.counter) : "";
  if (!near.empty() && fault == 0) {
    ++counts.boundary;
    std::printf("boundary case (near %s): %s: kernel %d, SampleToken %d\n", near.c_str(),
                what.c_str(), token, *want);
    return;
  }
  ++counts.mismatches;
  ADD_FAILURE() << what << ": kernel " << token << ", SampleToken " << *want << " (do_sample "
                << c.do_sample << ", T " << c.temperature << ", top_k " << c.top_k << ", top_p "
                << c.top_p << ", min_p " << c.min_p << ", seed " << c.seed << ", step "
                << params.counter << ")";
}

}  // namespace kiln::codegen::sampling
