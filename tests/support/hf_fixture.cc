#include "tests/support/hf_fixture.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "models/checkpoint.h"
#include "models/weights.h"
#include "tests/support/error_metrics.h"

namespace kiln::testing {
namespace {

std::vector<int32_t> ToIds(const HostTensor& t) { return {t.ints.begin(), t.ints.end()}; }

// Max |a[row_a] - b[row_b]| over one vocabulary row of each (same width).
double MaxAbsDiffRow(const HostTensor& a, int64_t row_a, const HostTensor& b, int64_t row_b) {
  const int64_t v = a.shape.back();
  double max = 0.0;
  for (int64_t i = 0; i < v; ++i) {
    max = MaxKeepingNan(
        max, std::fabs(static_cast<double>(a.floats[row_a * v + i]) - b.floats[row_b * v + i]));
  }
  return max;
}

// FailedPrecondition unless `got` holds `rows` rows of `want`'s width.
absl::Status CheckLogitsShape(const HostTensor& got, int64_t rows, const HostTensor& want) {
  if (got.shape.size() != 2 || got.shape[0] != rows || got.shape[1] != want.shape.back()) {
    return absl::FailedPreconditionError(absl::StrCat("the session returned logits of shape [",
                                                      absl::StrJoin(got.shape, ", "), "], want [",
                                                      rows, ", ", want.shape.back(), "]"));
  }
  return absl::OkStatus();
}

int32_t ArgmaxRow(const HostTensor& t, int64_t row) {
  const int64_t v = t.shape.back();
  const float* p = t.floats.data() + row * v;
  return static_cast<int32_t>(std::max_element(p, p + v) - p);
}

}  // namespace

absl::StatusOr<HfExpected> ReadHfExpected(const std::string& fixture_dir) {
  KILN_ASSIGN_OR_RETURN(Checkpoint file,
                        Checkpoint::OpenFile(fixture_dir + "/expected.safetensors"));
  auto read = [&](const char* name, DType dtype) -> absl::StatusOr<HostTensor> {
    const TensorEntry* entry = file.Find(name);
    if (entry == nullptr) {
      return absl::NotFoundError(absl::StrCat(fixture_dir, "/expected.safetensors has no ", name));
    }
    return HostTensorFromEntry(*entry, dtype);
  };
  HfExpected e;
  KILN_ASSIGN_OR_RETURN(HostTensor prompt, read("prompt_ids", DType::kI64));
  KILN_ASSIGN_OR_RETURN(HostTensor tokens, read("tokens", DType::kI64));
  KILN_ASSIGN_OR_RETURN(e.prefill_logits, read("prefill_logits", DType::kF32));
  KILN_ASSIGN_OR_RETURN(e.decode_logits, read("decode_logits", DType::kF32));
  e.prompt = ToIds(prompt);
  e.tokens = ToIds(tokens);
  if (e.tokens.size() != static_cast<size_t>(e.decode_logits.shape[0]) + 1) {
    return absl::FailedPreconditionError(absl::StrCat(fixture_dir, ": ", e.tokens.size(),
                                                      " tokens for ", e.decode_logits.shape[0],
                                                      " decode steps (want one more)"));
  }
  return e;
}

double HfLogitTolerance(DType dtype) { return dtype == DType::kF32 ? 1e-4 : 0.12; }

double HfReorderedAttentionTolerance(DType dtype, double dtype_noise) {
  const double atol = HfLogitTolerance(dtype);
  return dtype == DType::kF32 ? atol : std::max(atol, dtype_noise);
}

absl::StatusOr<double> HfDtypeNoise(const std::string& dtype_dir, const std::string& f32_dir) {
  KILN_ASSIGN_OR_RETURN(HfExpected low, ReadHfExpected(dtype_dir));
  KILN_ASSIGN_OR_RETURN(HfExpected f32, ReadHfExpected(f32_dir));
  if (low.prompt != f32.prompt || low.tokens != f32.tokens ||
      low.prefill_logits.shape != f32.prefill_logits.shape ||
      low.decode_logits.shape != f32.decode_logits.shape) {
    return absl::FailedPreconditionError(absl::StrCat(
        dtype_dir, " and ", f32_dir, " ran different prompts or tokens: no common reference"));
  }
  double noise = 0;
  for (const auto [a, b] : {std::pair{&low.prefill_logits, &f32.prefill_logits},
                            std::pair{&low.decode_logits, &f32.decode_logits}}) {
    for (size_t i = 0; i < a->floats.size(); ++i) {
      noise = MaxKeepingNan(noise, std::fabs(static_cast<double>(a->floats[i]) - b->floats[i]));
    }
  }
  if (!std::isfinite(noise)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dtype_dir, " or ", f32_dir, " holds a non-finite logit"));
  }
  return noise;
}

absl::StatusOr<HfComparison> CompareWithTransformers(SequenceSession& session,
                                                     const HfExpected& expected) {
  HfComparison result;
  KILN_ASSIGN_OR_RETURN(HostTensor prefill, session.Forward(expected.prompt));
  const int64_t p = static_cast<int64_t>(expected.prompt.size());
  KILN_RETURN_IF_ERROR(CheckLogitsShape(prefill, p, expected.prefill_logits));
  for (int64_t row = 0; row < p; ++row) {
    result.max_logit_diff = MaxKeepingNan(
        result.max_logit_diff, MaxAbsDiffRow(prefill, row, expected.prefill_logits, row));
  }
  if (ArgmaxRow(prefill, p - 1) != expected.tokens[0]) result.argmax_mismatches.push_back(0);
  const int64_t steps = expected.decode_logits.shape[0];
  for (int64_t step = 0; step < steps; ++step) {
    const int32_t token = expected.tokens[step];
    KILN_ASSIGN_OR_RETURN(HostTensor logits, session.Forward(std::span<const int32_t>(&token, 1)));
    KILN_RETURN_IF_ERROR(CheckLogitsShape(logits, 1, expected.decode_logits));
    result.max_logit_diff = MaxKeepingNan(result.max_logit_diff,
                                          MaxAbsDiffRow(logits, 0, expected.decode_logits, step));
    if (ArgmaxRow(logits, 0) != expected.tokens[step + 1]) {
      result.argmax_mismatches.push_back(static_cast<int>(step) + 1);
    }
  }
  return result;
}

}  // namespace kiln::testing
