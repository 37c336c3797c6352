// The fixture the kernel GPU suites share when they run the per-family
// checks (tests/codegen/*/..._check.h): GpuKernelTest (each test SKIPS
// without a usable device) plus the CUDA device behind the executor's seam
// (runtime/cuda/device_api.h), opened on device 0, and a KernelRunner that
// compiles each text with NVRTC for the matching preset and runs jobs on it.
#ifndef KILN_TESTS_SUPPORT_GPU_DEVICE_TEST_H_
#define KILN_TESTS_SUPPORT_GPU_DEVICE_TEST_H_

#include <memory>

#include "gtest/gtest.h"
#include "runtime/cuda/device_api.h"
#include "tests/support/device_kernel_runner.h"
#include "tests/support/gpu_test_fixture.h"

namespace kiln::testing {

class GpuDeviceTest : public GpuKernelTest {
 protected:
  void SetUp() override {
    GpuKernelTest::SetUp();
    if (IsSkipped()) return;
    device_ = gpu::MakeCudaDevice();
    absl::StatusOr<gpu::DeviceDescription> opened = device_->Open(0);
    ASSERT_TRUE(opened.ok()) << opened.status();
    runner_ = std::make_unique<DeviceKernelRunner>(*device_, preset_);
  }

  KernelRunner run() { return runner_->runner(); }

  std::unique_ptr<gpu::DeviceApi> device_;
  std::unique_ptr<DeviceKernelRunner> runner_;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_GPU_DEVICE_TEST_H_
