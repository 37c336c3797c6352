#include "codegen/gpu_target.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace kiln::codegen {

std::string GpuTarget::sm_arch() const { return absl::StrCat("sm_", arch); }
std::string GpuTarget::compute_arch() const { return absl::StrCat("compute_", arch); }

GpuTarget A100Target() {
  return {.name = "A100", .arch = 80, .sm_count = 108, .max_shared_per_block = 163 * 1024};
}

GpuTarget H100Target() {
  return {.name = "H100", .arch = 90, .sm_count = 132, .max_shared_per_block = 227 * 1024};
}

absl::StatusOr<GpuTarget> GpuTargetByName(const std::string& target) {
  if (target == "sm_80" || target == "a100") return A100Target();
  if (target == "sm_90" || target == "h100") return H100Target();
  return absl::InvalidArgumentError(
      absl::StrCat("unknown GPU target '", target, "' (known: sm_80, a100, sm_90, h100)"));
}

int ThreadsPerRow(int64_t cols, const GpuTarget& info) {
  const int64_t warp = std::max(1, info.warp_size);
  const int64_t limit = std::max<int64_t>(warp, info.max_threads_per_block / warp * warp);
  const int64_t wanted = (cols + kElementsPerThread - 1) / kElementsPerThread;
  const int64_t warps = (wanted + warp - 1) / warp;
  return static_cast<int>(std::clamp(warps * warp, warp, limit));
}

}  // namespace kiln::codegen
