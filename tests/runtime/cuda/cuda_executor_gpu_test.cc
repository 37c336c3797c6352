// The CUDA executor on a GPU: executor_checks.h's end-to-end checks (every
// plan test model family in f32 and bf16 against the reference executor
// and eager launches; the tiny HF fixtures against
// Transformers) on the CUDA runtime, with kernels compiled for the device's
// architecture and its GpuTarget preset (sm_80: A100, sm_90: H100/H200).
// The same checks run in CI on the CUDA emulator
// (cuda_executor_emulator_test).
//
// cuBLASLt algorithms measured on the device (what compile-model records)
// are used when the record is this card's (CudaGemmChoicesGpuTest).
//
// Without a usable device every test is SKIPPED, never passed; check.sh on
// the GPU host treats a skip there as a failure. Not yet run on a GPU.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/kernel_bundle.h"
#include "gtest/gtest.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/cuda/gemm_tuner.h"
#include "tests/runtime/cuda/executor_checks.h"
#include "tests/runtime/cuda/plan_scenario.h"
#include "tests/support/gpu_buffers.h"

namespace kiln {
namespace {

using testing::ExecutorCase;
using Case = ExecutorCase;

class CudaExecutorGpuTest : public ::testing::TestWithParam<ExecutorCase> {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::GpuUnderTest> gpu = testing::GpuForTests();
    if (!gpu.ok()) GTEST_SKIP() << gpu.status().message();
    preset_ = gpu->preset;
  }
  codegen::GpuTarget preset_;
};

const testing::DeviceOptions kGpu = [] { return CudaExecutorOptions{}; };

TEST_P(CudaExecutorGpuTest, MatchesReferenceAndEagerLaunches) {
  testing::CheckScenario(GetParam(), preset_, kGpu);
}

TEST_P(CudaExecutorGpuTest, TinyHfFixturesMatchTransformers) {
  testing::CheckHfParity(GetParam(), preset_, kGpu);
}

// f32 and bf16: the fixtures tools/gpu/bundle.sh ships, within check.sh's
// time limit (f16 runs in the emulator suite).
std::vector<ExecutorCase> GpuCases() {
  std::vector<ExecutorCase> out;
  for (const ExecutorCase& c : testing::AllExecutorCases()) {
    if (c.dtype != DType::kF16) out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Families, CudaExecutorGpuTest, ::testing::ValuesIn(GpuCases()),
                         [](const ::testing::TestParamInfo<ExecutorCase>& info) {
                           return testing::CaseName(info.param);
                         });

// compile-model's measuring of cuBLASLt algorithms on this GPU, and the
// executor on its record: every cuBLASLt GEMM on the recorded algorithm and
// the logits within the reference bound; a record from another card is
// not used.
TEST(CudaGemmChoicesGpuTest, MeasuredAlgorithmsAreRecordedAndUsed) {
  absl::StatusOr<testing::GpuUnderTest> gpu_under_test = testing::GpuForTests();
  if (!gpu_under_test.ok()) GTEST_SKIP() << gpu_under_test.status().message();
  const codegen::GpuTarget& info = gpu_under_test->preset;
  for (const Case& c : {Case{"llama3", DType::kBF16}, Case{"opt", DType::kF32}}) {
    SCOPED_TRACE(c.family);
    absl::StatusOr<testing::CompiledPlanModel> model =
        testing::CompilePlanModel(c.family, c.dtype, info);
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<KernelBundle> bundle = CompileKernelBundle(model->plans, info, testing::TestKernelCacheDir());
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    absl::StatusOr<GemmChoices> tuned = TuneGemms(model->plans, info.sm_arch());
    ASSERT_TRUE(tuned.ok()) << tuned.status();
    ASSERT_TRUE(tuned->tuned);
    ASSERT_EQ(tuned->choices.size(), tuned->shapes.size());
    for (const GemmChoice& g : tuned->choices) {
      // The heuristic's first choice is one of the candidates timed.
      EXPECT_GT(g.best_us, 0) << g.shape.Key();
      if (g.heuristic_us > 0) EXPECT_LE(g.best_us, g.heuristic_us) << g.shape.Key();
      std::printf("  %s: algo %d, %.2f us (heuristic's first %.2f us, %d timed)\n",
                  g.shape.Key().c_str(), g.algo.algo_id, g.best_us, g.heuristic_us, g.candidates);
    }
    absl::StatusOr<GemmChoices> record = ParseGemmChoices(GemmChoicesJson(*tuned));
    ASSERT_TRUE(record.ok()) << record.status();

    CudaExecutorOptions options;
    options.choose_gemv = false;
    options.gemm_choices = &*record;
    absl::StatusOr<std::unique_ptr<CudaExecutor>> gpu = CudaExecutor::Create(
        model->module, model->weights, model->layout, model->plans, *bundle, options);
    ASSERT_TRUE(gpu.ok()) << gpu.status();
    const CudaLoadReport& report = (*gpu)->load_report();
    EXPECT_GT(report.gemms_on_recorded_algo, 0);
    EXPECT_EQ(report.gemms_on_recorded_algo, report.gemms_on_cublaslt);
    EXPECT_NE(report.gemm_algorithms.find("measured at compile time on"), std::string::npos)
        << report.gemm_algorithms;
    absl::StatusOr<std::vector<testing::ScenarioStep>> steps = testing::RunScenario(*model, **gpu);
    ASSERT_TRUE(steps.ok()) << steps.status();
    EXPECT_LE(testing::MaxLogitDiff(*steps), c.dtype == DType::kF32 ? 1e-4 : 0.12);
    gpu->reset();  // one arena at a time

    GemmChoices foreign = *record;
    foreign.device = "another GPU";
    options.gemm_choices = &foreign;
    absl::StatusOr<std::unique_ptr<CudaExecutor>> elsewhere = CudaExecutor::Create(
        model->module, model->weights, model->layout, model->plans, *bundle, options);
    ASSERT_TRUE(elsewhere.ok()) << elsewhere.status();
    EXPECT_EQ((*elsewhere)->load_report().gemms_on_recorded_algo, 0);
    EXPECT_NE((*elsewhere)->load_report().gemm_algorithms.find("measured on another GPU"),
              std::string::npos)
        << (*elsewhere)->load_report().gemm_algorithms;
  }
}

TEST(CudaExecutorNoDeviceTest, WithoutADeviceCreationFailsCleanly) {
  if (CudaDeviceAvailable(0).ok()) GTEST_SKIP() << "a device is present";
  absl::StatusOr<testing::CompiledPlanModel> model =
      testing::CompilePlanModel("llama3", DType::kBF16, codegen::H100Target());
  ASSERT_TRUE(model.ok()) << model.status();
  KernelBundle empty;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> gpu =
      CudaExecutor::Create(model->module, model->weights, model->layout, model->plans, empty, {});
  ASSERT_FALSE(gpu.ok());
  EXPECT_EQ(gpu.status().code(), absl::StatusCode::kFailedPrecondition) << gpu.status();
  EXPECT_NE(std::string(gpu.status().message()).find("no usable CUDA device"), std::string::npos)
      << gpu.status();
}

}  // namespace
}  // namespace kiln
