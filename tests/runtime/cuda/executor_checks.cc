#include "tests/runtime/cuda/executor_checks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/kernel_bundle.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/sampler.h"
#include "gtest/gtest.h"
#include "runtime/session/plan_session.h"
#include "tests/runtime/cuda/plan_scenario.h"
#include "tests/support/error_metrics.h"
#include "tests/support/hf_fixture.h"

namespace kiln::testing {
namespace {

using Case = ExecutorCase;

void ExpectTokensAreArgmax(const std::vector<ScenarioStep>& steps, int64_t vocab) {
  for (const ScenarioStep& s : steps) {
    for (size_t r = 0; r < s.next_tokens.size(); ++r) {
      const float* row = s.got.data() + r * vocab;
      EXPECT_EQ(s.next_tokens[r], std::max_element(row, row + vocab) - row) << s.function;
    }
  }
}

}  // namespace

void CheckScenario(const ExecutorCase& c, const codegen::GpuTarget& target,
                   const DeviceOptions& device) {
  const codegen::GpuTarget* info = &target;
  absl::StatusOr<CompiledPlanModel> model =
      CompilePlanModel(c.family, c.dtype, *info);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<KernelBundle> bundle = CompileKernelBundle(model->plans, *info, TestKernelCacheDir());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  const double tolerance = c.dtype == DType::kF32 ? 1e-4 : 0.12;  // f16 and bf16 alike
  const int64_t vocab = model->plans.front().vocab;

  // Graphs with the GEMV-or-cuBLASLt choice made by timing.
  absl::StatusOr<std::unique_ptr<CudaExecutor>> gpu = CudaExecutor::Create(
      model->module, model->weights, model->layout, model->plans, *bundle, device());
  ASSERT_TRUE(gpu.ok()) << gpu.status();
  const CudaLoadReport& report = (*gpu)->load_report();
  std::printf("%s %s on %s: load %.3f s, capture %.3f s, %lld GEMMs on GEMV, %lld on cuBLASLt\n",
              c.family.c_str(), std::string(DTypeName(c.dtype)).c_str(), report.device.c_str(),
              report.upload_seconds, report.capture_seconds,
              static_cast<long long>(report.gemms_on_gemv),
              static_cast<long long>(report.gemms_on_cublaslt));
  absl::StatusOr<std::vector<ScenarioStep>> steps = RunScenario(*model, **gpu);
  ASSERT_TRUE(steps.ok()) << steps.status();
  const double vs_reference = MaxLogitDiff(*steps);
  EXPECT_LE(vs_reference, tolerance);
  ExpectTokensAreArgmax(*steps, vocab);

  // The on-device sampler on the last step's logits (still on the device):
  // greedy is the argmax kernel's token, sampling is SampleToken's draw
  // (the kernel's sums are block trees, so a draw within a few ulps of a
  // threshold could differ: sampling_cuda.h; random logits never are).
  const ScenarioStep& last = steps->back();
  const LaunchPlan* last_plan = nullptr;
  for (const LaunchPlan& p : model->plans) {
    if (p.function == last.function) last_plan = &p;
  }
  ASSERT_NE(last_plan, nullptr);
  codegen::sampling::SampleParams params;
  absl::StatusOr<int32_t> greedy = (*gpu)->SampleRow(last.function, 0, params);
  ASSERT_TRUE(greedy.ok()) << greedy.status();
  EXPECT_EQ(*greedy, last.next_tokens[0]);
  GenerationConfig config;
  config.do_sample = true;
  config.temperature = 0.9;
  config.top_p = 0.95;
  config.min_p = 0.01;
  config.top_k = 40;
  config.seed = 11;
  for (uint64_t step = 0; step < 8; ++step) {
    absl::StatusOr<int32_t> drawn =
        (*gpu)->SampleRow(last.function, 0, DeviceSampleParams(config, step));
    ASSERT_TRUE(drawn.ok()) << drawn.status();
    absl::StatusOr<int32_t> reference = SampleToken(
        std::span<const float>(last.got.data(), static_cast<size_t>(vocab)), config, {}, step);
    ASSERT_TRUE(reference.ok()) << reference.status();
    EXPECT_EQ(*drawn, *reference) << "draw " << step;
  }

  // Graph replay == eager launches, with cuBLASLt for every GEMM on both.
  CudaExecutorOptions graphs = device(), eager = device();
  graphs.choose_gemv = eager.choose_gemv = false;
  eager.use_graphs = false;
  absl::StatusOr<std::unique_ptr<CudaExecutor>> replayed = CudaExecutor::Create(
      model->module, model->weights, model->layout, model->plans, *bundle, graphs);
  ASSERT_TRUE(replayed.ok()) << replayed.status();
  absl::StatusOr<std::vector<ScenarioStep>> a = RunScenario(*model, **replayed);
  replayed->reset();  // one arena at a time
  absl::StatusOr<std::unique_ptr<CudaExecutor>> launched = CudaExecutor::Create(
      model->module, model->weights, model->layout, model->plans, *bundle, eager);
  ASSERT_TRUE(launched.ok()) << launched.status();
  absl::StatusOr<std::vector<ScenarioStep>> b = RunScenario(*model, **launched);
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t s = 0; s < a->size(); ++s) {
    EXPECT_EQ((*a)[s].got, (*b)[s].got) << (*a)[s].function << ": graph replay != eager";
  }
  std::printf("  max |device - reference| %.3g\n", vs_reference);
}


void CheckHfParity(const ExecutorCase& c, const codegen::GpuTarget& info,
                   const DeviceOptions& device) {
  CheckHfParityOn(c, info, [&](const CompiledPlanModel& model)
                               -> absl::StatusOr<std::unique_ptr<PlanExecutor>> {
    KILN_ASSIGN_OR_RETURN(KernelBundle bundle,
                          CompileKernelBundle(model.plans, info, TestKernelCacheDir()));
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<CudaExecutor> gpu,
                          CudaExecutor::Create(model.module, model.weights, model.layout,
                                               model.plans, bundle, device()));
    return std::unique_ptr<PlanExecutor>(std::move(gpu));
  });
}

void CheckHfParityOn(const ExecutorCase& c, const codegen::GpuTarget& info,
                     const MakeExecutor& make) {
  const std::string dtype(DTypeName(c.dtype));
  const std::string dir = "tests/fixtures/models/" + c.family + "/" + dtype;
  absl::StatusOr<CompiledPlanModel> model = CompileHfFixture(dir, c.dtype, info);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<std::unique_ptr<PlanExecutor>> executor = make(*model);
  ASSERT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<PlanSession> session = PlanSession::Create(
      **executor, model->module, kHfFixtureCapacity, HfFixtureBuckets());
  ASSERT_TRUE(session.ok()) << session.status();
  absl::StatusOr<HfExpected> expected = ReadHfExpected(dir);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<double> noise =
      HfDtypeNoise(dir, "tests/fixtures/models/" + c.family + "/f32");
  ASSERT_TRUE(noise.ok()) << noise.status();

  absl::StatusOr<HfComparison> got = CompareWithTransformers(*session, *expected);
  ASSERT_TRUE(got.ok()) << got.status();
  const double tolerance = HfReorderedAttentionTolerance(c.dtype, *noise);
  std::printf("max |executor - Transformers| %s %s: %.3g (bound %.3g)\n", c.family.c_str(),
              dtype.c_str(), got->max_logit_diff, tolerance);
  EXPECT_LE(got->max_logit_diff, tolerance);
  if (c.dtype == DType::kF32) {
    EXPECT_TRUE(got->argmax_mismatches.empty())
        << "greedy tokens differ from Transformers' at step " << got->argmax_mismatches.front();
  }
}


std::vector<ExecutorCase> AllExecutorCases() {
  std::vector<ExecutorCase> out;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) out.push_back({family, dtype});
  }
  return out;
}

std::string CaseName(const ExecutorCase& c) {
  return c.family + "_" + std::string(DTypeName(c.dtype));
}

}  // namespace kiln::testing
