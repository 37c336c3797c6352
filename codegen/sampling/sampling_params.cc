#include "codegen/sampling/sampling_params.h"

#include "absl/strings/str_cat.h"

namespace kiln::codegen::sampling {

absl::Status ValidateSampleParams(const SampleParams& p) {
  if (p.greedy != 0) return absl::OkStatus();
  if (!(p.temperature > 0 && p.temperature <= kMaxKernelTemperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be in (0, 2^800] for the sampling kernel, got ",
                     p.temperature));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0 && p.min_p < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1), got ", p.min_p));
  }
  if (p.top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", p.top_k));
  return absl::OkStatus();
}

}  // namespace kiln::codegen::sampling
