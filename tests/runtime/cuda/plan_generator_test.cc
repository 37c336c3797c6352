// The generate loop (runtime/generate/generator.h) on launch-plan sessions
// (PlanSession over the plans on the CUDA executor, run by the CUDA
// emulator: what a GPU engine runs)
// against the same loop on the reference executor: greedy and seeded
// sampling give the same tokens, a second turn continues the context, a
// reset starts over, and batches (left-padded rows in batch-2 buckets on
// the same plans) give the same tokens per row.
#include <memory>

#include "gtest/gtest.h"
#include "tests/runtime/cuda/emulated_executor.h"
#include "runtime/session/plan_session.h"
#include "runtime/generate/generator.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln {
namespace {

constexpr int64_t kCache = 64;  // plan_scenario's

class PlanGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::CompiledPlanModel> model =
        testing::CompilePlanModel("mistral", DType::kF32, codegen::H100Target());
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = std::make_unique<testing::CompiledPlanModel>(*std::move(model));
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
        tokenizer::LoadTokenizer("tests/fixtures/tokenizers/bytes256/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    absl::StatusOr<std::unique_ptr<CudaExecutor>> host = testing::CreateEmulatedExecutor(
        model_->module, model_->weights, model_->layout, model_->plans, codegen::H100Target());
    ASSERT_TRUE(host.ok()) << host.status();
    host_ = *std::move(host);
    absl::StatusOr<ReferenceExecutor> ref =
        ReferenceExecutor::Create(model_->module, model_->weights);
    ASSERT_TRUE(ref.ok());
    reference_ = std::make_unique<ReferenceExecutor>(*std::move(ref));
  }

  std::vector<SessionBucket> Batch1() const { return {{"decode_b1", 1}, {"prefill_b1_s16", 16}}; }
  std::vector<SessionBucket> All() const {
    return {{"decode_b1", 1}, {"prefill_b1_s16", 16}, {"decode_b2", 1}, {"prefill_b2_s8", 8}};
  }

  absl::StatusOr<Generator> OnPlans() {
    return Generator::CreateWithSessions(
        [this]() -> absl::StatusOr<std::unique_ptr<SequenceSession>> {
          absl::StatusOr<PlanSession> s =
              PlanSession::Create(*host_, model_->module, kCache, Batch1());
          if (!s.ok()) return s.status();
          return std::make_unique<PlanSession>(*std::move(s));
        },
        [this](int64_t batch, std::vector<SessionBucket> buckets) {
          return CreatePlanBatchSession(*host_, model_->module, batch, kCache, std::move(buckets));
        },
        model_->module, *tokenizer_, kCache, All());
  }

  absl::StatusOr<Generator> OnReference() {
    return Generator::Create(*reference_, *tokenizer_, kCache, All());
  }

  std::unique_ptr<testing::CompiledPlanModel> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<CudaExecutor> host_;  // the plans' executor, on the emulator
  std::unique_ptr<ReferenceExecutor> reference_;
};

TEST_F(PlanGeneratorTest, SameTokensAsTheReferenceAcrossTurnsAndReset) {
  absl::StatusOr<Generator> plans = OnPlans();
  absl::StatusOr<Generator> ref = OnReference();
  ASSERT_TRUE(plans.ok() && ref.ok()) << plans.status() << ref.status();
  GenerationConfig greedy;
  greedy.max_new_tokens = 5;
  GenerationConfig sampled = greedy;
  sampled.do_sample = true;
  sampled.temperature = 0.9;
  sampled.top_k = 30;
  sampled.seed = 4;
  for (const char* prompt : {"Kiln", " cools"}) {
    for (const GenerationConfig* c : {&greedy, &sampled}) {
      absl::StatusOr<GenerationResult> a = plans->Generate(prompt, *c, false);
      absl::StatusOr<GenerationResult> b = ref->Generate(prompt, *c, false);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      EXPECT_EQ(a->token_ids, b->token_ids) << prompt;
      EXPECT_EQ(a->finish_reason, b->finish_reason);
    }
  }
  EXPECT_EQ(plans->context_length(), ref->context_length());
  ASSERT_TRUE(plans->Reset().ok());
  ASSERT_TRUE(ref->Reset().ok());
  absl::StatusOr<GenerationResult> a = plans->Generate("again", greedy, false);
  absl::StatusOr<GenerationResult> b = ref->Generate("again", greedy, false);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->token_ids, b->token_ids);
}

TEST_F(PlanGeneratorTest, BatchesGiveTheReferenceTokensAndRestartTheContext) {
  absl::StatusOr<Generator> plans = OnPlans();
  absl::StatusOr<Generator> ref = OnReference();
  ASSERT_TRUE(plans.ok() && ref.ok());
  EXPECT_EQ(plans->max_batch(), 2);
  GenerationConfig greedy;
  greedy.max_new_tokens = 5;
  GenerationConfig sampled = greedy;
  sampled.do_sample = true;
  sampled.top_p = 0.8;
  sampled.seed = 9;
  ASSERT_TRUE(plans->Generate("Kiln", greedy, false).ok());
  for (const GenerationConfig* c : {&greedy, &sampled}) {
    // Rows of different lengths (left padding), and one prompt alone in the
    // batch-2 bucket (a spare row of pads).
    for (const std::vector<std::string>& prompts :
         {std::vector<std::string>{"a kiln", "glaze and fire"}, std::vector<std::string>{"x"}}) {
      absl::StatusOr<std::vector<GenerationResult>> a = plans->GenerateBatch(prompts, *c, false);
      absl::StatusOr<std::vector<GenerationResult>> b = ref->GenerateBatch(prompts, *c, false);
      ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
      ASSERT_EQ(a->size(), b->size());
      for (size_t r = 0; r < a->size(); ++r) EXPECT_EQ((*a)[r].token_ids, (*b)[r].token_ids);
    }
  }
  // The batch took the caches: the single sequence started over.
  EXPECT_EQ(plans->context_length(), 0);
  absl::StatusOr<GenerationResult> after = plans->Generate("Kiln", greedy, false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_FALSE(plans->GenerateBatch({"a", "b", "c"}, greedy, false).ok());  // above max batch
}

}  // namespace
}  // namespace kiln
