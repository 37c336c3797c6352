// libFuzzer target: a CUDA engine's kernel.launch_plans.json, through
// LaunchPlansFromJson. The harness is kiln::fuzz::FuzzLaunchPlans
// (tests/fuzz/harness.h); docs/FUZZING.md says how to run it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::Report(kiln::fuzz::FuzzLaunchPlans(input));
  return 0;
}
