#include "tools/device_flag.h"

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "runtime/emulator/emulated_device.h"

namespace kiln {

absl::StatusOr<CudaExecutorOptions> ExecutorOptionsForDevice(const std::string& device,
                                                             const std::string& target) {
  CudaExecutorOptions options;
  if (device == "gpu" || device.empty()) return options;
  if (target == "cpu") {
    return absl::InvalidArgumentError("--device applies to CUDA engines; this one is a cpu engine");
  }
  if (device != "emulator") {
    return absl::InvalidArgumentError(
        absl::StrCat("--device must be gpu or emulator, not \"", device, "\""));
  }
  KILN_ASSIGN_OR_RETURN(options.device_api, emulator::MakeEmulatedDevice({.arch = target}));
  return options;
}

}  // namespace kiln
