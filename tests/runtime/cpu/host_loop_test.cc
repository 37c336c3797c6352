// The generate loop's plan run on the host by the CPU backend
// (RunHostLoop over the CPU executor): the same tokens, stops and counts as
// the step-by-step generator on the same executor, plain and with prompt
// lookup under each schedule; a stop request from the streamed tokens ends
// it at once; it fills the cache as the generator does; and the generator
// itself runs it (GenerationConfig::loop_plan) with the same tokens, text
// and stop strings, across turns; sampled plain decoding draws the
// generator's tokens for the same seed, with prompt lookup too; NaN logits
// end it where the generator fails.
#include "runtime/session/host_loop.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "base/status_macros.h"
#include "codegen/loop/loop_plan.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_executor.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/loop_plan_for.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/generate/loop_checks.h"

namespace kiln::testing {
namespace {

namespace loop = codegen::loop;

// The CPU executor with NaN logits from cache position `from` on: every
// row whose token sits there predicts nothing, as a model that overflows
// there would.
class NanFromPosition : public PlanExecutor {
 public:
  NanFromPosition(PlanExecutor& inner, int32_t from) : inner_(inner), from_(from) {}
  absl::StatusOr<int32_t> SampleRow(const std::string& function, int64_t row,
                                    const codegen::sampling::SampleParams& params) override {
    return inner_.SampleRow(function, row, params);
  }
  absl::Status ResetCaches() override { return inner_.ResetCaches(); }
  absl::StatusOr<loop::LoopResult> RunLoop(const loop::LoopPlan& plan,
                                           std::span<const SessionBucket> prefill,
                                           std::span<const int32_t> history, int64_t cached,
                                           const loop::LoopTokens& on_tokens,
                                           const loop::LoopSampler& sample) override {
    return RunHostLoop(*this, plan, prefill, history, cached, on_tokens, sample);
  }

 protected:
  absl::StatusOr<PlanOutput> DoRun(const std::string& function, std::span<const int32_t> ids,
                                   std::span<const int32_t> positions, bool copy_logits,
                                   int64_t only_row) override {
    // Every row with its logits, poisoned, then the caller's selection
    // (the loop's buckets take batch 1, so a sequence is all the rows).
    KILN_ASSIGN_OR_RETURN(PlanOutput out, inner_.Run(function, ids, positions, true, -1));
    const size_t vocab = out.logits.size() / ids.size();
    for (size_t r = 0; r < ids.size(); ++r) {
      if (positions[r] < from_) continue;
      std::fill_n(out.logits.begin() + static_cast<int64_t>(r * vocab), vocab, std::nanf(""));
      out.next_tokens[r] = 0;  // the argmax names a row's first NaN
    }
    KeepSelectedRows(out, only_row, static_cast<int64_t>(ids.size()));
    if (!copy_logits) out.logits.clear();
    return out;
  }

 private:
  PlanExecutor& inner_;
  int32_t from_;
};

class HostLoopTest : public LoopSuite {
 protected:
  void SetUp() override {
    Prepare(codegen::A100Target());
    if (HasFatalFailure()) return;
    absl::StatusOr<std::unique_ptr<cpu::CpuExecutor>> executor =
        cpu::CpuExecutor::Create(model_->module, model_->weights, model_->layout, model_->plans);
    ASSERT_TRUE(executor.ok()) << executor.status();
    cpu_ = *std::move(executor);
    executor_ = cpu_.get();
  }

  absl::StatusOr<loop::LoopResult> OnHost(const GenerationConfig& config, int prompt = 20,
                                          const loop::LoopTokens& on_tokens = nullptr) {
    return RunPlan(config, prompt, on_tokens);
  }

  // Two prompt-lookup requests on one generator, with or without the loop.
  absl::StatusOr<std::vector<GenerationResult>> TwoTurns(bool loop_plan) {
    absl::StatusOr<Generator> generator = LoopGenerator(*executor_, model_->module, *tokenizer_);
    if (!generator.ok()) return generator.status();
    GenerationConfig config = LoopCases(10)[2].config;
    config.loop_plan = loop_plan;
    std::vector<GenerationResult> turns;
    for (int prompt : {12, 5}) {
      absl::StatusOr<GenerationResult> r = generator->GenerateIds(LoopPrompt(prompt), config);
      if (!r.ok()) return r.status();
      turns.push_back(*std::move(r));
    }
    return turns;
  }

  std::unique_ptr<cpu::CpuExecutor> cpu_;
};

TEST_F(HostLoopTest, SameTokensAndCountsAsTheStepByStepGenerator) {
  for (const LoopCase& c : LoopCases(30)) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GenerationResult> want = Reference(c.config);
    ASSERT_TRUE(want.ok()) << want.status();
    std::vector<int32_t> streamed;
    absl::StatusOr<loop::LoopResult> got = OnHost(c.config, 20, [&](std::span<const int32_t> t) {
      EXPECT_GE(t.size(), streamed.size());  // the tokens only grow
      streamed.assign(t.begin(), t.end());
      return false;
    });
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_EQ(streamed, want->token_ids);
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "length");
    EXPECT_EQ(got->host_synchronizations, 0);
    EXPECT_EQ(got->steps + got->accepted, static_cast<int64_t>(got->tokens.size()));
    if (c.counts_match && c.config.prompt_lookup_num_tokens > 0) {
      EXPECT_EQ(got->drafted, want->drafted_tokens);
      EXPECT_EQ(got->accepted, want->accepted_tokens);
      EXPECT_EQ(got->steps, want->target_forwards);
    }
  }
}

TEST_F(HostLoopTest, StopsAtEosAsTheGeneratorDoes) {
  for (const LoopCase& c : LoopCases(30)) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<GenerationResult> full = Reference(c.config);
    ASSERT_TRUE(full.ok()) << full.status();
    const int stop_at = FirstNewTokenAt(full->token_ids, 4);
    ASSERT_GE(stop_at, 0);
    GenerationConfig config = c.config;
    config.eos_token_ids = {7, full->token_ids[static_cast<size_t>(stop_at)]};
    absl::StatusOr<GenerationResult> want = Reference(config);
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<loop::LoopResult> got = OnHost(config);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_EQ(want->finish_reason, "eos");
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "eos");
  }
}

TEST_F(HostLoopTest, AStopRequestEndsItAtOnce) {
  GenerationConfig config = LoopCases(30)[2].config;
  absl::StatusOr<GenerationResult> want = Reference(config);
  ASSERT_TRUE(want.ok()) << want.status();
  size_t seen = 0;
  absl::StatusOr<loop::LoopResult> got = OnHost(config, 20, [&](std::span<const int32_t> t) {
    seen = t.size();
    return t.size() >= 5;
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_STREQ(loop::LoopFinishName(got->finish), "host stop");
  EXPECT_EQ(got->tokens.size(), seen);
  EXPECT_GE(got->tokens.size(), 5u);
  EXPECT_TRUE(std::equal(got->tokens.begin(), got->tokens.end(), want->token_ids.begin()));
}

TEST_F(HostLoopTest, FillsTheCacheAsTheGeneratorDoes) {
  // Near the end a round drafts no more than the widest bucket the room
  // holds, where the generator splits a longer step: the same tokens.
  for (int prompt : {53, 58}) {
    for (const LoopCase& c : LoopCases(60)) {
      SCOPED_TRACE(c.name + ", prompt " + std::to_string(prompt));
      absl::StatusOr<GenerationResult> want = Reference(c.config, prompt);
      ASSERT_TRUE(want.ok()) << want.status();
      absl::StatusOr<loop::LoopResult> got = OnHost(c.config, prompt);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_EQ(got->tokens, want->token_ids);
      EXPECT_EQ(static_cast<int64_t>(got->tokens.size()), kLoopCapacity - prompt);
      EXPECT_STREQ(loop::LoopFinishName(got->finish), "cache full");
    }
  }
}

TEST_F(HostLoopTest, TheGeneratorRunsItAcrossTurnsWithStopStrings) {
  for (const LoopCase& c : LoopCases(16)) {
    SCOPED_TRACE(c.name);
    GenerationConfig with_loop = c.config;
    with_loop.loop_plan = true;
    absl::StatusOr<GenerationResult> want = Reference(c.config);
    absl::StatusOr<GenerationResult> got = Reference(with_loop);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    EXPECT_EQ(got->token_ids, want->token_ids);
    EXPECT_EQ(got->text, want->text);
    EXPECT_EQ(got->finish_reason, want->finish_reason);
    // A stop string ends both at the same token, mid-round for the loop.
    ASSERT_GE(want->text.size(), 8u);
    GenerationConfig stop = c.config;
    stop.stop_strings = {want->text.substr(5, 2)};
    absl::StatusOr<GenerationResult> stop_want = Reference(stop);
    stop.loop_plan = true;
    absl::StatusOr<GenerationResult> stop_got = Reference(stop);
    ASSERT_TRUE(stop_want.ok() && stop_got.ok()) << stop_want.status() << stop_got.status();
    EXPECT_EQ(stop_got->finish_reason, "stop_string");
    EXPECT_EQ(stop_got->token_ids, stop_want->token_ids);
    EXPECT_EQ(stop_got->text, stop_want->text);
  }
  // Two turns on one generator: the second continues the first's context.
  absl::StatusOr<std::vector<GenerationResult>> plain = TwoTurns(false);
  absl::StatusOr<std::vector<GenerationResult>> looped = TwoTurns(true);
  ASSERT_TRUE(plain.ok() && looped.ok()) << plain.status() << looped.status();
  for (size_t turn = 0; turn < 2; ++turn) {
    EXPECT_EQ((*looped)[turn].token_ids, (*plain)[turn].token_ids) << "turn " << turn;
  }
}

TEST_F(HostLoopTest, SampledDecodingDrawsWhatTheGeneratorDraws) {
  GenerationConfig greedy;
  greedy.max_new_tokens = 24;
  absl::StatusOr<GenerationResult> argmax = Reference(greedy);
  ASSERT_TRUE(argmax.ok()) << argmax.status();
  for (const GenerationConfig& config : SampledConfigs(24)) {
    SCOPED_TRACE("seed " + std::to_string(config.seed));
    absl::StatusOr<GenerationResult> want = Reference(config);
    ASSERT_TRUE(want.ok()) << want.status();
    if (config.prompt_lookup_num_tokens == 0) {
      EXPECT_NE(want->token_ids, argmax->token_ids);  // the draws are not the argmax
    }
    absl::StatusOr<loop::LoopResult> got = OnHost(config);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->tokens, want->token_ids);
    EXPECT_EQ(got->steps + got->accepted, static_cast<int64_t>(got->tokens.size()));
    if (config.prompt_lookup_num_tokens > 0) {
      // Drafts kept, and the tokens are plain sampling's for the seed.
      EXPECT_GT(got->accepted, 0) << got->drafted << " drafted";
      EXPECT_EQ(got->drafted, want->drafted_tokens);
      EXPECT_EQ(got->accepted, want->accepted_tokens);
      GenerationConfig plain = config;
      plain.prompt_lookup_num_tokens = 0;
      absl::StatusOr<GenerationResult> plain_draws = Reference(plain);
      ASSERT_TRUE(plain_draws.ok()) << plain_draws.status();
      EXPECT_EQ(got->tokens, plain_draws->token_ids);
    } else {
      EXPECT_EQ(got->drafted, 0);
    }
    // Through the Generator, and stopping at a drawn token taken as EOS.
    GenerationConfig with_loop = config;
    with_loop.loop_plan = true;
    absl::StatusOr<GenerationResult> generated = Reference(with_loop);
    ASSERT_TRUE(generated.ok()) << generated.status();
    EXPECT_EQ(generated->token_ids, want->token_ids);
    const int stop_at = FirstNewTokenAt(want->token_ids, 3);
    ASSERT_GE(stop_at, 0);
    GenerationConfig eos = config;
    eos.eos_token_ids = {want->token_ids[static_cast<size_t>(stop_at)]};
    absl::StatusOr<GenerationResult> eos_want = Reference(eos);
    absl::StatusOr<loop::LoopResult> eos_got = OnHost(eos);
    ASSERT_TRUE(eos_want.ok() && eos_got.ok()) << eos_want.status() << eos_got.status();
    EXPECT_EQ(eos_got->tokens, eos_want->token_ids);
    EXPECT_STREQ(loop::LoopFinishName(eos_got->finish), "eos");
  }
  // Another seed draws other tokens: the counter and seed reach the draws.
  GenerationConfig reseeded = SampledConfigs(24)[0];
  absl::StatusOr<loop::LoopResult> first = OnHost(reseeded);
  reseeded.seed += 1;
  absl::StatusOr<loop::LoopResult> second = OnHost(reseeded);
  ASSERT_TRUE(first.ok() && second.ok()) << first.status() << second.status();
  EXPECT_NE(first->tokens, second->tokens);
}

TEST_F(HostLoopTest, NanLogitsEndItWhereTheGeneratorFails) {
  // Logits at the 20-token prompt's position 19 + 6 and on are NaN: six
  // tokens come out, then the request fails as the step-by-step one does.
  std::vector<GenerationConfig> configs = SampledConfigs(16);
  configs.push_back(LoopCases(16)[0].config);
  configs.push_back(LoopCases(16)[2].config);
  for (const GenerationConfig& config : configs) {
    SCOPED_TRACE("seed " + std::to_string(config.seed) + ", lookup " +
                 std::to_string(config.prompt_lookup_num_tokens) +
                 (config.do_sample ? ", sampled" : ", greedy"));
    absl::StatusOr<GenerationResult> clean = Reference(config);
    ASSERT_TRUE(clean.ok()) << clean.status();
    NanFromPosition poisoned(*cpu_, 19 + 6);
    PlanExecutor* const healthy = executor_;
    executor_ = &poisoned;
    absl::StatusOr<GenerationResult> want = Reference(config);
    absl::StatusOr<loop::LoopResult> got = RunPlan(config);
    GenerationConfig with_loop = config;
    with_loop.loop_plan = true;
    absl::StatusOr<GenerationResult> generated = Reference(with_loop);
    executor_ = healthy;
    EXPECT_EQ(want.status().code(), absl::StatusCode::kDataLoss) << want.status();
    EXPECT_EQ(generated.status().code(), absl::StatusCode::kDataLoss) << generated.status();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_STREQ(loop::LoopFinishName(got->finish), "NaN logits");
    EXPECT_EQ(got->tokens,
              std::vector<int32_t>(clean->token_ids.begin(), clean->token_ids.begin() + 6));
  }
}

TEST_F(HostLoopTest, PlansOnlyWhatTheLoopRuns) {
  GenerationConfig config;
  config.repetition_penalty = 1.2;
  EXPECT_EQ(OnHost(config).status().code(), absl::StatusCode::kUnimplemented);
  // A sampled plan on the host needs the caller's sampler; refused before
  // anything runs.
  absl::StatusOr<loop::LoopPlan> sampled =
      LoopPlanFor(SampledConfigs(8)[0], LoopBuckets(), kLoopCapacity, kLoopVerifyTokens);
  ASSERT_TRUE(sampled.ok()) << sampled.status();
  ASSERT_TRUE(sampled->sample.has_value());
  EXPECT_EQ(executor_->RunLoop(*sampled, LoopBuckets(), LoopPrompt(9), 0, nullptr, nullptr)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  config = GenerationConfig();
  config.eos_token_ids.assign(17, 1);
  EXPECT_EQ(OnHost(config).status().code(), absl::StatusCode::kUnimplemented);
  config = GenerationConfig();
  config.prompt_lookup_num_tokens = 3;
  absl::StatusOr<loop::LoopPlan> plan =
      LoopPlanFor(config, LoopBuckets(), kLoopCapacity, kLoopVerifyTokens);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // Buckets up to the first that takes a whole draft and its token.
  ASSERT_EQ(plan->buckets.size(), 2u);
  EXPECT_EQ(plan->buckets[1].tokens, 4);
  EXPECT_TRUE(plan->heuristic);  // adaptive needs a clock: heuristic
  EXPECT_EQ(OnHost(config, 70).status().code(), absl::StatusCode::kInvalidArgument);
  GenerationConfig batch;
  batch.loop_plan = true;
  absl::StatusOr<Generator> generator = LoopGenerator(*executor_, model_->module, *tokenizer_);
  ASSERT_TRUE(generator.ok()) << generator.status();
  EXPECT_FALSE(generator->GenerateBatchIds({LoopPrompt(4), LoopPrompt(5)}, batch).ok());
}

}  // namespace
}  // namespace kiln::testing
