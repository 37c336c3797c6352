// PlanSession on the launch plans (the CUDA executor on the CUDA emulator,
// emulated_executor.h) against ReferenceSession
// on the reference executor, with the same buckets: a prompt longer than
// the largest bucket (chunked, the last chunk right-padded), greedy decode
// through the device-side argmax, a rewind and a second turn, and the
// errors a caller can cause.
#include "runtime/session/plan_session.h"

#include <algorithm>
#include <cmath>

#include "gtest/gtest.h"
#include "models/config_reader.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "tests/runtime/cuda/emulated_executor.h"
#include "codegen/plan/build_launch_plan.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/sampler.h"
#include "runtime/reference/session.h"
#include "tests/runtime/cuda/plan_models.h"
#include "tests/support/error_metrics.h"

namespace kiln {
namespace {

constexpr int64_t kCache = 48;

class PlanSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ConfigReader> config = ConfigReader::Parse(testing::PlanModelConfig("llama3"));
    ASSERT_TRUE(config.ok());
    absl::StatusOr<BuiltModel> model = BuildModel(*config, BuildOptions{DType::kF32, std::nullopt});
    ASSERT_TRUE(model.ok());
    module_ = std::move(model->module);
    ASSERT_TRUE(
        CompileBuckets(module_, kForwardFunction,
                       {{"decode_b1", 1, 1}, {"prefill_b1_s8", 1, 8}, {"prefill_b1_s16", 1, 16}},
                       kCache)
            .ok());
    weights_ = testing::RandomWeights(module_, 23);
    absl::StatusOr<StaticLayout> layout = LayOutStaticSpaces(module_);
    ASSERT_TRUE(layout.ok());
    std::vector<LaunchPlan> plans;
    for (const Function& f : module_.functions) {
      absl::StatusOr<LaunchPlan> plan =
          BuildLaunchPlan(module_, f.name, *layout, codegen::H100Target());
      ASSERT_TRUE(plan.ok()) << plan.status();
      plans.push_back(*std::move(plan));
    }
    absl::StatusOr<std::unique_ptr<CudaExecutor>> host = testing::CreateEmulatedExecutor(
        module_, weights_, *layout, plans, codegen::H100Target());
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *std::move(host);
    absl::StatusOr<ReferenceExecutor> ref = ReferenceExecutor::Create(module_, weights_);
    ASSERT_TRUE(ref.ok());
    reference_ = std::make_unique<ReferenceExecutor>(*std::move(ref));
  }

  std::vector<SessionBucket> Buckets() const {
    return {{"decode_b1", 1}, {"prefill_b1_s8", 8}, {"prefill_b1_s16", 16}};
  }

  static double MaxDiff(const HostTensor& a, const HostTensor& b) {
    EXPECT_EQ(a.shape, b.shape);
    double worst = 0;
    for (size_t i = 0; i < std::min(a.floats.size(), b.floats.size()); ++i) {
      worst = testing::MaxKeepingNan(worst, std::fabs(double{a.floats[i]} - b.floats[i]));
    }
    return worst;
  }

  static int32_t LastArgmax(const HostTensor& logits) {
    const int64_t vocab = logits.shape[1];
    const float* row = logits.floats.data() + (logits.shape[0] - 1) * vocab;
    return static_cast<int32_t>(std::max_element(row, row + vocab) - row);
  }

  Module module_;
  WeightMap weights_;
  std::unique_ptr<CudaExecutor> host_;  // the plans' executor, on the emulator
  std::unique_ptr<ReferenceExecutor> reference_;
};

TEST_F(PlanSessionTest, MatchesReferenceSessionThroughChunksDecodeAndRewind) {
  absl::StatusOr<PlanSession> plan = PlanSession::Create(*host_, module_, kCache, Buckets());
  ASSERT_TRUE(plan.ok()) << plan.status();
  absl::StatusOr<ReferenceSession> ref = ReferenceSession::Create(*reference_, kCache, Buckets());
  ASSERT_TRUE(ref.ok()) << ref.status();

  std::vector<int32_t> prompt;
  for (int i = 0; i < 21; ++i) prompt.push_back((i * 37 + 11) % 250 + 3);  // 16 + 5 padded to 8
  absl::StatusOr<HostTensor> got = plan->Forward(prompt);
  absl::StatusOr<HostTensor> want = ref->Forward(prompt);
  ASSERT_TRUE(got.ok() && want.ok()) << got.status() << want.status();
  EXPECT_LE(MaxDiff(*got, *want), 1e-5);
  int32_t next = LastArgmax(*want);
  for (int step = 0; step < 5; ++step) {
    const std::vector<int32_t> one = {next};
    absl::StatusOr<int32_t> greedy = plan->ForwardGreedy(one);
    absl::StatusOr<HostTensor> ref_logits = ref->Forward(one);
    ASSERT_TRUE(greedy.ok() && ref_logits.ok());
    EXPECT_EQ(*greedy, LastArgmax(*ref_logits)) << "step " << step;
    next = LastArgmax(*ref_logits);
  }
  EXPECT_EQ(plan->position(), 26);

  // Rewind into the prompt and take another turn: the same as the reference.
  ASSERT_TRUE(plan->Rewind(10).ok());
  ASSERT_TRUE(ref->Rewind(10).ok());
  const std::vector<int32_t> turn = {5, 6, 7, 8, 9, 10, 11, 12, 13};
  got = plan->Forward(turn);
  want = ref->Forward(turn);
  ASSERT_TRUE(got.ok() && want.ok());
  EXPECT_LE(MaxDiff(*got, *want), 1e-5);
  EXPECT_EQ(plan->position(), 19);
}

TEST_F(PlanSessionTest, OnDeviceSamplingDrawsWhatSampleTokenDraws) {
  absl::StatusOr<PlanSession> plan = PlanSession::Create(*host_, module_, kCache, Buckets());
  absl::StatusOr<ReferenceSession> ref = ReferenceSession::Create(*reference_, kCache, Buckets());
  ASSERT_TRUE(plan.ok() && ref.ok());
  GenerationConfig config;
  config.do_sample = true;
  config.temperature = 0.8;
  config.top_k = 20;
  config.top_p = 0.9;
  config.min_p = 0.05;
  config.seed = 7;
  std::vector<int32_t> run = {5, 17, 99, 3, 42, 7, 250};
  std::vector<int32_t> history = run;
  for (uint64_t step = 0; step < 12; ++step) {
    absl::StatusOr<int32_t> got = plan->ForwardSampled(run, DeviceSampleParams(config, step));
    absl::StatusOr<HostTensor> logits = ref->Forward(run);
    ASSERT_TRUE(got.ok() && logits.ok()) << got.status() << logits.status();
    const int64_t vocab = logits->shape[1];
    std::span<const float> last(logits->floats.data() + (logits->shape[0] - 1) * vocab,
                                static_cast<size_t>(vocab));
    absl::StatusOr<int32_t> want = SampleToken(last, config, history, step);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(*got, *want) << "step " << step;
    history.push_back(*want);
    run = {*want};
  }
}

TEST_F(PlanSessionTest, BadRequestsFailWithTheirReason) {
  absl::StatusOr<PlanSession> plan = PlanSession::Create(*host_, module_, kCache, Buckets());
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->Forward({}).status().code(), absl::StatusCode::kInvalidArgument);
  const std::vector<int32_t> bad = {3, 256};
  absl::Status status = plan->Forward(bad).status();
  EXPECT_NE(std::string(status.message()).find("token id 256 is outside the vocabulary"),
            std::string::npos)
      << status;
  std::vector<int32_t> too_long(kCache + 1, 3);
  EXPECT_EQ(plan->Forward(too_long).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(plan->position(), 0);
  EXPECT_FALSE(plan->Rewind(1).ok());
  codegen::sampling::SampleParams bad_params;
  bad_params.greedy = 0;
  bad_params.top_p = 0;
  EXPECT_EQ(plan->ForwardSampled(std::vector<int32_t>{3}, bad_params).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(PlanSession::Create(*host_, module_, kCache, {}).ok());
  EXPECT_FALSE(PlanSession::Create(*host_, module_, 0, Buckets()).ok());
}

}  // namespace
}  // namespace kiln
