// The CUDA executor on the CUDA emulator (runtime/emulator/emulated_device.h):
// executor_checks.h's end-to-end checks — the plan test model families
// against the reference executor, the CPU twin and eager launches, and the
// tiny HF fixtures against Transformers — with the real CudaExecutor,
// graph capture and replay, arena, GEMV kernels and on-device sampling,
// every kernel the bundle's CUDA source run by the emulator with its race,
// divergence and bounds checks, and cuBLASLt's GEMMs by the emulator's
// reference GEMM. Kernels are compiled for sm_90 with the H100 preset (the
// bundle's NVRTC compile checks the text, the emulator runs it).
//
// CI compares every family with Transformers and runs the scenario on a
// subset; KILN_EMULATOR_FULL=1 runs the scenario on all of them.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/emulator/emulated_device.h"
#include "tests/runtime/cuda/executor_checks.h"

namespace kiln {
namespace {

using testing::ExecutorCase;

std::vector<ExecutorCase> ScenarioCases() {
  const char* full = std::getenv("KILN_EMULATOR_FULL");
  if (full != nullptr && std::string(full) == "1") return testing::AllExecutorCases();
  return {{"llama3", DType::kF32}, {"llama3", DType::kBF16}, {"gemma", DType::kBF16},
          {"opt", DType::kF32}};
}

const testing::DeviceOptions kEmulator = [] {
  CudaExecutorOptions options;
  absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> device =
      emulator::MakeEmulatedDevice({.arch = "sm_90"});
  EXPECT_TRUE(device.ok()) << device.status();
  if (device.ok()) options.device_api = std::move(*device);
  return options;
};

std::string Name(const ::testing::TestParamInfo<ExecutorCase>& info) {
  return testing::CaseName(info.param);
}

class CudaExecutorEmulatorTest : public ::testing::TestWithParam<ExecutorCase> {};

TEST_P(CudaExecutorEmulatorTest, MatchesReferenceAndEagerLaunches) {
  testing::CheckScenario(GetParam(), codegen::H100Target(), kEmulator);
}

INSTANTIATE_TEST_SUITE_P(Families, CudaExecutorEmulatorTest, ::testing::ValuesIn(ScenarioCases()),
                         Name);

class CudaHfParityEmulatorTest : public ::testing::TestWithParam<ExecutorCase> {};

TEST_P(CudaHfParityEmulatorTest, TinyHfFixturesMatchTransformers) {
  testing::CheckHfParity(GetParam(), codegen::H100Target(), kEmulator);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaHfParityEmulatorTest,
                         ::testing::ValuesIn(testing::AllExecutorCases()), Name);

}  // namespace
}  // namespace kiln
