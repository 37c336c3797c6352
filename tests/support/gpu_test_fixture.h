// The fixture the kernel GPU suites share: each test SKIPS without a usable
// device (GpuForTests says why), so a suite never passes silently; on a
// device, arch_ and preset_ name its architecture and GpuTarget preset, and
// the device, the preset and the test seed are printed.
#ifndef KILN_TESTS_SUPPORT_GPU_TEST_FIXTURE_H_
#define KILN_TESTS_SUPPORT_GPU_TEST_FIXTURE_H_

#include <cstdio>
#include <string>

#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "tests/support/gpu_buffers.h"
#include "tests/support/test_seed.h"

namespace kiln::testing {

class GpuKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<GpuUnderTest> gpu = GpuForTests();
    if (!gpu.ok()) GTEST_SKIP() << gpu.status().message();
    arch_ = gpu->arch;
    preset_ = gpu->preset;
    std::printf("device %s (%s), %s preset; %s\n", gpu->name.c_str(), arch_.c_str(),
                preset_.name.c_str(), SeedNote().c_str());
  }

  std::string arch_;
  codegen::GpuTarget preset_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_GPU_TEST_FIXTURE_H_
