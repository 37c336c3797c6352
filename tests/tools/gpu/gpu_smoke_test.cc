// The GPU probe's device checks as a GoogleTest suite: the first test binary
// bundled for the GPU host (tools/gpu/bundle.sh), and the pattern for the
// GPU test suite to come. Without a device every test is reported SKIPPED,
// never passed; check.sh fails the run if they skip on a host that has one.
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tools/gpu/device_checks.h"
#include "tools/gpu/gemm_check.h"
#include "tools/gpu/nvrtc_compile.h"
#include "tools/gpu/probe_kernels.h"

namespace kiln::gpu {
namespace {

// Skips the test when cudart finds no device; any other failure to reach
// the device fails it.
class GpuSmokeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<DeviceInfo> device = QueryDevice();
    if (absl::IsUnavailable(device.status())) {
      GTEST_SKIP() << "no CUDA device: " << device.status().message();
    }
    ASSERT_TRUE(device.ok()) << device.status();
    info_ = *device;
  }

  // The axpy kernel compiled by NVRTC for this device and loaded from its
  // cubin.
  LoadedAxpyKernel LoadAxpy() {
    const std::string arch = ArchForComputeCapability(info_.cc_major, info_.cc_minor);
    absl::StatusOr<CompiledCubin> compiled =
        CompileToCubin(kAxpyBf16Source, "axpy.cu", arch, {});
    EXPECT_TRUE(compiled.ok()) << compiled.status();
    if (!compiled.ok()) return {};
    absl::StatusOr<LoadedAxpyKernel> kernel = LoadedAxpyKernel::Load(compiled->cubin);
    EXPECT_TRUE(kernel.ok()) << kernel.status();
    return kernel.ok() ? *std::move(kernel) : LoadedAxpyKernel();
  }

  DeviceInfo info_;
};

TEST_F(GpuSmokeTest, DriverWasLoadedLazilyByCudart) {
  EXPECT_TRUE(DriverLibraryMapped());
  EXPECT_GT(info_.sm_count, 0);
}

TEST_F(GpuSmokeTest, NvrtcKernelMatchesTheCpuBitForBit) {
  const LoadedAxpyKernel kernel = LoadAxpy();
  absl::StatusOr<AxpyCheck> check = RunAxpyCheck(kernel, 1 << 16);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->mismatches, 0);
}

TEST_F(GpuSmokeTest, GraphReplayEqualsEagerLaunchesAndTheCpu) {
  const LoadedAxpyKernel kernel = LoadAxpy();
  absl::StatusOr<GraphCheck> check = RunGraphCheck(kernel, 4096, 100);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->eager_mismatches, 0);
  EXPECT_EQ(check->graph_mismatches, 0);
}

TEST_F(GpuSmokeTest, CublasLtBf16GemmMatchesFloat64) {
  absl::StatusOr<GemmCheck> check = RunGemmCheck(128, 96, 256);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_EQ(check->mismatches, 0) << "max |error| " << check->max_abs_error;
  EXPECT_LT(check->nmse, 1e-4);
}

}  // namespace
}  // namespace kiln::gpu
