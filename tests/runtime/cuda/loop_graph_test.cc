// The generate loop as one CUDA graph (CudaExecutor::RunLoop: a WHILE node
// around prepare, a SWITCH over the step buckets and finish), run by the
// CUDA emulator on kernels NVRTC compiled for sm_90 (loop_graph_test, in
// CI), or on a GPU with kernels for its architecture (loop_graph_gpu_test,
// built with KILN_LOOP_GRAPH_ON_GPU; without a usable device it SKIPS,
// which tools/gpu/check.sh counts as a failure): the same tokens as
// the step-by-step generator on the same executor, plain and with prompt
// lookup under each schedule; EOS and max_new_tokens end it inside the
// graph, and so does a full cache; the host waits on the device once per
// sequence; tokens stream through mapped memory. Sampled plain decoding
// draws with the on-device sampler inside the graph what that sampler
// draws step by step (SampleRow, draw i with counter i), with prompt
// lookup too.
#include <algorithm>
#include <memory>

#include "base/status_macros.h"
#include "codegen/loop/loop_plan.h"
#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/kernel_bundle.h"
#include "gtest/gtest.h"
#include "runtime/cuda/cuda_executor.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/loop_plan_for.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/cuda/emulated_executor.h"
#include "tests/runtime/generate/loop_checks.h"
#include "tests/support/gpu_buffers.h"

namespace kiln::testing {
namespace {

namespace loop = codegen::loop;

class LoopGraphTest : public LoopSuite {
 protected:
  void SetUp() override {
#ifdef KILN_LOOP_GRAPH_ON_GPU
    absl::StatusOr<GpuUnderTest> gpu = GpuForTests();
    if (!gpu.ok()) GTEST_SKIP() << gpu.status().message();
    const codegen::GpuTarget target = gpu->preset;
#else
    const codegen::GpuTarget target = codegen::H100Target();
#endif
    Prepare(target);
    if (HasFatalFailure()) return;
#ifdef KILN_LOOP_GRAPH_ON_GPU
    absl::StatusOr<KernelBundle> bundle =
        CompileKernelBundle(model_->plans, target, TestKernelCacheDir());
    ASSERT_TRUE(bundle.ok()) << bundle.status();
    absl::StatusOr<std::unique_ptr<CudaExecutor>> executor = CudaExecutor::Create(
        model_->module, model_->weights, model_->layout, model_->plans, *bundle);
#else
    absl::StatusOr<std::unique_ptr<CudaExecutor>> executor = CreateEmulatedExecutor(
        model_->module, model_->weights, model_->layout, model_->plans, target);
#endif
    ASSERT_TRUE(executor.ok()) << executor.status();
    cuda_ = *std::move(executor);
    executor_ = cuda_.get();
  }

  absl::StatusOr<loop::LoopResult> InGraph(const GenerationConfig& config, int prompt = 20,
                                           const loop::LoopTokens& on_tokens = nullptr) {
    return RunPlan(config, prompt, on_tokens);
  }

  // The on-device sampler's draws step by step: a PlanSession on the same
  // executor, draw i with DeviceSampleParams(config, i), stopping as the
  // plain loop does.
  absl::StatusOr<std::vector<int32_t>> DeviceDraws(const GenerationConfig& config, int prompt) {
    KILN_ASSIGN_OR_RETURN(PlanSession session, PlanSession::Create(*executor_, model_->module,
                                                                   kLoopCapacity, LoopBuckets()));
    std::vector<int32_t> tokens, run = LoopPrompt(prompt);
    for (int i = 0; i < config.max_new_tokens; ++i) {
      KILN_ASSIGN_OR_RETURN(int32_t token,
                            session.ForwardSampled(run, DeviceSampleParams(config, i)));
      tokens.push_back(token);
      if (std::find(config.eos_token_ids.begin(), config.eos_token_ids.end(), token) !=
          config.eos_token_ids.end()) {
        break;
      }
      run = {token};
    }
    return tokens;
  }

  std::unique_ptr<CudaExecutor> cuda_;
};

TEST_F(LoopGraphTest, SamplesInsideTheGraphAsTheDeviceSamplerDoesStepByStep) {
  GenerationConfig greedy;
  greedy.max_new_tokens = 10;
  absl::StatusOr<loop::LoopResult> argmax = InGraph(greedy);
  ASSERT_TRUE(argmax.ok()) << argmax.status();
  for (const GenerationConfig& config : SampledConfigs(10)) {
    if (config.prompt_lookup_num_tokens > 0) continue;  // the next test's
    SCOPED_TRACE("seed " + std::to_string(config.seed));
    absl::StatusOr<std::vector<int32_t>> want = DeviceDraws(config, 20);
    ASSERT_TRUE(want.ok()) << want.status();
    EXPECT_NE(*want, argmax->tokens);  // the draws are not the argmax
    absl::StatusOr<loop::LoopResult> got = InGraph(config);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, *want);
    EXPECT_EQ(got->host_synchronizations, 1);
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "length");
    // A drawn token taken as EOS ends the graph there.
    GenerationConfig eos = config;
    eos.eos_token_ids = {(*want)[5]};
    absl::StatusOr<std::vector<int32_t>> eos_want = DeviceDraws(eos, 20);
    absl::StatusOr<loop::LoopResult> eos_got = InGraph(eos);
    ASSERT_TRUE(eos_want.ok() && eos_got.ok()) << eos_want.status() << eos_got.status();
    EXPECT_EQ(eos_got->tokens, *eos_want);
    EXPECT_STREQ(loop::LoopFinishName(eos_got->finish), "eos");
  }
}

TEST_F(LoopGraphTest, SampledPromptLookupInsideTheGraphDrawsThePlainDraws) {
  // The draws keep the drafts they agree with, so the tokens are the plain
  // draws, and some drafts are kept.
  const GenerationConfig config = SampledConfigs(24).back();
  ASSERT_GT(config.prompt_lookup_num_tokens, 0);
  absl::StatusOr<std::vector<int32_t>> want = DeviceDraws(config, 20);
  ASSERT_TRUE(want.ok()) << want.status();
  absl::StatusOr<loop::LoopResult> got = InGraph(config);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->tokens, *want);
  EXPECT_EQ(got->host_synchronizations, 1);
  EXPECT_GT(got->accepted, 0) << got->drafted << " drafted";
  EXPECT_EQ(got->steps + got->accepted, static_cast<int64_t>(got->tokens.size()));
}

TEST_F(LoopGraphTest, SameTokensAsTheStepByStepGeneratorWithOneWait) {
  for (const LoopCase& c : LoopCases(14)) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GenerationResult> want = Reference(c.config);
    ASSERT_TRUE(want.ok()) << want.status();
    std::vector<int32_t> streamed;
    absl::StatusOr<loop::LoopResult> got =
        InGraph(c.config, 20, [&](std::span<const int32_t> tokens) {
          streamed.assign(tokens.begin(), tokens.end());
          return false;
        });
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_EQ(streamed, want->token_ids);
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "length");
    EXPECT_EQ(got->host_synchronizations, 1);
    // Every target step yields its kept draft tokens and one of its own.
    EXPECT_EQ(got->steps + got->accepted, static_cast<int64_t>(got->tokens.size()));
    if (c.config.prompt_lookup_num_tokens > 0 && c.counts_match) {
      EXPECT_EQ(got->drafted, want->drafted_tokens);
      EXPECT_EQ(got->accepted, want->accepted_tokens);
    }
    if (c.config.prompt_lookup_num_tokens > 0) {
      EXPECT_GT(got->drafted, 0);
    }
  }
}

TEST_F(LoopGraphTest, StopsAtEosInsideTheGraph) {
  for (const LoopCase& c : {LoopCases(14)[0], LoopCases(14)[2]}) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GenerationResult> full = Reference(c.config);
    ASSERT_TRUE(full.ok()) << full.status();
    const int stop_at = FirstNewTokenAt(full->token_ids, 3);
    ASSERT_GE(stop_at, 0) << "the generator's tokens repeat from the third on";
    GenerationConfig config = c.config;
    config.eos_token_ids = {full->token_ids[static_cast<size_t>(stop_at)]};
    absl::StatusOr<GenerationResult> want = Reference(config);
    ASSERT_TRUE(want.ok()) << want.status();
    ASSERT_EQ(want->finish_reason, "eos");
    absl::StatusOr<loop::LoopResult> got = InGraph(config);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_EQ(static_cast<int>(got->tokens.size()), stop_at + 1);
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "eos");
    EXPECT_EQ(got->host_synchronizations, 1);
  }
}

TEST_F(LoopGraphTest, FillsTheCacheAsTheGeneratorDoes) {
  // 53 prompt tokens leave 11 positions: the cache fills before 60 tokens.
  for (const LoopCase& c : {LoopCases(60)[0], LoopCases(60)[3]}) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GenerationResult> want = Reference(c.config, 53);
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<loop::LoopResult> got = InGraph(c.config, 53);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "cache full");
    EXPECT_EQ(got->host_synchronizations, 1);
  }
}

TEST_F(LoopGraphTest, RefusesWhatItCannotRun) {
  GenerationConfig penalised = SampledConfigs(8)[0];
  penalised.repetition_penalty = 1.1;  // the device sampler never sees the history
  EXPECT_EQ(InGraph(penalised).status().code(), absl::StatusCode::kUnimplemented);
  GenerationConfig long_draft;
  long_draft.prompt_lookup_num_tokens = 9;
  EXPECT_EQ(InGraph(long_draft).status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<loop::LoopPlan> plan =
      LoopPlanFor(GenerationConfig(), LoopBuckets(), kLoopCapacity, kLoopVerifyTokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  const std::vector<int32_t> bad = {1, 2, 999};
  EXPECT_EQ(cuda_->RunLoop(*plan, LoopBuckets(), bad, 0, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kiln::testing
