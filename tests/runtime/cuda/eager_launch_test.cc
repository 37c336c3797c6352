// LaunchEachEagerly with stand-in launches and waits: no device needed, so
// this runs everywhere, while the executor's use of it runs only on a GPU.
#include "runtime/cuda/eager_launch.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"

namespace kiln::gpu {
namespace {

// Launches that append their name to `trace`; the one named `failing`
// returns `error` from its enqueue.
std::vector<NamedLaunch> Launches(std::vector<std::string>& trace, const std::string& failing,
                                  absl::Status error) {
  std::vector<NamedLaunch> out;
  for (std::string name : {"embed", "rms_norm_f32", "flash_prefill", "argmax"}) {
    out.push_back({name, [&trace, name, failing, error](StreamId) {
                     trace.push_back(name);
                     return name == failing ? error : absl::OkStatus();
                   }});
  }
  return out;
}

TEST(EagerLaunchTest, LaunchesEveryStepInOrderAndWaitsAfterEach) {
  std::vector<std::string> trace;
  const std::vector<NamedLaunch> launches = Launches(trace, "", absl::OkStatus());
  const absl::Status status = LaunchEachEagerly("decode_b1", launches, 0, [&](StreamId) {
    trace.push_back("wait");
    return absl::OkStatus();
  });
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(trace, (std::vector<std::string>{"embed", "wait", "rms_norm_f32", "wait",
                                             "flash_prefill", "wait", "argmax", "wait"}));
}

TEST(EagerLaunchTest, ALaunchErrorNamesPlanStepAndKernelAndStopsThere) {
  std::vector<std::string> trace;
  const std::vector<NamedLaunch> launches =
      Launches(trace, "rms_norm_f32", absl::InvalidArgumentError("cudaErrorInvalidConfiguration"));
  const absl::Status status =
      LaunchEachEagerly("prefill_b1_s16", launches, 0, [](StreamId) {
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "eager launch of plan @prefill_b1_s16, step 2 of 4 (rms_norm_f32): "
            "cudaErrorInvalidConfiguration");
  EXPECT_EQ(trace, (std::vector<std::string>{"embed", "rms_norm_f32"}));
}

// A kernel that faults launches fine; the wait after it reports the fault,
// and the step named is that kernel's, not a later one's.
TEST(EagerLaunchTest, AFaultSeenByTheWaitNamesTheKernelJustLaunched) {
  std::vector<std::string> trace;
  const std::vector<NamedLaunch> launches = Launches(trace, "", absl::OkStatus());
  const absl::Status status = LaunchEachEagerly("decode_b1", launches, 0, [&](StreamId) {
    return trace.back() == "flash_prefill" ? absl::InternalError("cudaErrorIllegalAddress")
                                           : absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "eager launch of plan @decode_b1, step 3 of 4 (flash_prefill): cudaErrorIllegalAddress");
  EXPECT_EQ(trace, (std::vector<std::string>{"embed", "rms_norm_f32", "flash_prefill"}));
}

TEST(EagerLaunchTest, AnEmptyPlanIsFine) {
  EXPECT_TRUE(LaunchEachEagerly("empty", {}, 0, [](StreamId) {
                return absl::InternalError("no wait without a launch");
              }).ok());
}

}  // namespace
}  // namespace kiln::gpu
