// The CUDA executor on the CUDA emulator (runtime/emulator/emulated_device.h):
// executor_checks.h's end-to-end checks — the plan test model families
// against the reference executor and eager launches, and the
// tiny HF fixtures against Transformers — with the real CudaExecutor,
// graph capture and replay, arena, GEMV kernels and on-device sampling,
// every kernel the bundle's CUDA source run by the emulator with its race,
// divergence and bounds checks, and cuBLASLt's GEMMs by the emulator's
// reference GEMM. Kernels are compiled for sm_90 with the H100 preset (the
// bundle's NVRTC compile checks the text, the emulator runs it); some
// scenario cases use the A100 preset's sm_80 texts.
//
// CI compares every fixture (6 families × f32/bf16/f16) with Transformers
// and runs the scenario on a subset; KILN_EMULATOR_FULL=1 (tools/
// emulator_sweep.sh) runs everything on both presets.
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

// A case on one preset's kernel texts: sm_90 (H100 tiles) or sm_80 (A100).
struct EmulatedCase {
  ExecutorCase c;
  codegen::GpuTarget target;
};

bool Full() {
  const char* full = std::getenv("KILN_EMULATOR_FULL");
  return full != nullptr && std::string(full) == "1";
}

// CI: every fixture against Transformers on the sm_90 texts, the scenario
// on four families (sm_90) and two (sm_80); the full sweep: everything on
// both.
std::vector<EmulatedCase> ScenarioCases() {
  std::vector<EmulatedCase> out;
  if (Full()) {
    for (const codegen::GpuTarget& t : {codegen::H100Target(), codegen::A100Target()}) {
      for (const ExecutorCase& c : testing::AllExecutorCases()) out.push_back({c, t});
    }
    return out;
  }
  for (const ExecutorCase& c : std::vector<ExecutorCase>{{"llama3", DType::kF32},
                                                         {"llama3", DType::kBF16},
                                                         {"gemma", DType::kF16},
                                                         {"opt", DType::kF32}}) {
    out.push_back({c, codegen::H100Target()});
  }
  out.push_back({{"mistral", DType::kBF16}, codegen::A100Target()});
  out.push_back({{"opt350", DType::kF16}, codegen::A100Target()});
  return out;
}

std::vector<EmulatedCase> HfCases() {
  std::vector<EmulatedCase> out;
  for (const ExecutorCase& c : testing::AllExecutorCases()) out.push_back({c, codegen::H100Target()});
  if (Full()) {
    for (const ExecutorCase& c : testing::AllExecutorCases()) out.push_back({c, codegen::A100Target()});
  }
  return out;
}

std::string Name(const ::testing::TestParamInfo<EmulatedCase>& info) {
  return testing::CaseName(info.param.c) + "_" + info.param.target.sm_arch();
}

testing::DeviceOptions EmulatorFor(const codegen::GpuTarget& target) {
  return [arch = target.sm_arch()] {
    CudaExecutorOptions options;
    absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> device =
        emulator::MakeEmulatedDevice({.arch = arch});
    EXPECT_TRUE(device.ok()) << device.status();
    if (device.ok()) options.device_api = std::move(*device);
    return options;
  };
}

class CudaExecutorEmulatorTest : public ::testing::TestWithParam<EmulatedCase> {};

TEST_P(CudaExecutorEmulatorTest, MatchesReferenceAndEagerLaunches) {
  testing::CheckScenario(GetParam().c, GetParam().target, EmulatorFor(GetParam().target));
}

INSTANTIATE_TEST_SUITE_P(Families, CudaExecutorEmulatorTest, ::testing::ValuesIn(ScenarioCases()),
                         Name);

class CudaHfParityEmulatorTest : public ::testing::TestWithParam<EmulatedCase> {};

TEST_P(CudaHfParityEmulatorTest, TinyHfFixturesMatchTransformers) {
  testing::CheckHfParity(GetParam().c, GetParam().target, EmulatorFor(GetParam().target));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CudaHfParityEmulatorTest, ::testing::ValuesIn(HfCases()), Name);

}  // namespace
}  // namespace kiln
