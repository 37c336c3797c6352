#include "runtime/cuda/eager_launch.h"

#include "absl/strings/str_cat.h"

namespace kiln::gpu {

absl::Status LaunchEachEagerly(const std::string& plan, std::span<const NamedLaunch> launches,
                               StreamId stream, const StreamWait& wait) {
  for (size_t i = 0; i < launches.size(); ++i) {
    absl::Status status = launches[i].enqueue(stream);
    // A launch error is reported at once; a fault inside the kernel only
    // when the stream is waited for, hence a wait after every step.
    if (status.ok()) status = wait(stream);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("eager launch of plan @", plan, ", step ", i + 1, " of ",
                                       launches.size(), " (", launches[i].name,
                                       "): ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::gpu
