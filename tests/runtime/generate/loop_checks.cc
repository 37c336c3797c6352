#include "tests/runtime/generate/loop_checks.h"

#include <algorithm>
#include <memory>

#include "base/status_macros.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/loop_plan_for.h"
#include "runtime/generate/sampler.h"
#include "runtime/session/plan_session.h"
#include "runtime/tokenizer/load.h"

namespace kiln::testing {

std::vector<SessionBucket> LoopBuckets() {
  return {{"decode_b1", 1}, {"verify_b1_s4", 4}, {"prefill_b1_s8", 8}, {"prefill_b1_s16", 16}};
}

absl::StatusOr<CompiledPlanModel> CompileLoopModel(const codegen::GpuTarget& info) {
  std::vector<BucketSpec> specs;
  for (const SessionBucket& b : LoopBuckets()) specs.push_back({b.function, 1, b.seq});
  return CompilePlanModelInto("mistral", DType::kF32, info, specs, kLoopCapacity);
}

std::vector<LoopCase> LoopCases(int max_new_tokens) {
  std::vector<LoopCase> cases(4);
  cases[0].name = "plain";
  cases[1].name = "lookup 3, constant";
  cases[1].config.prompt_lookup_num_tokens = 3;
  cases[1].config.num_assistant_tokens_schedule = "constant";
  cases[2].name = "lookup 3, heuristic";
  cases[2].config.prompt_lookup_num_tokens = 3;
  cases[2].config.num_assistant_tokens_schedule = "heuristic";
  cases[3].name = "lookup 7, adaptive";
  cases[3].config.prompt_lookup_num_tokens = 7;
  cases[3].config.max_matching_ngram_size = 3;
  cases[3].counts_match = false;  // the generator's schedule follows its clock
  for (LoopCase& c : cases) c.config.max_new_tokens = max_new_tokens;
  return cases;
}

std::vector<int32_t> LoopPrompt(int length) {
  const std::vector<int32_t> phrase = {10, 20, 30, 40, 50, 60, 10, 20, 30, 40, 70};
  std::vector<int32_t> prompt;
  for (int i = 0; i < length; ++i) prompt.push_back(phrase[static_cast<size_t>(i) % phrase.size()]);
  return prompt;
}

int FirstNewTokenAt(const std::vector<int32_t>& tokens, int from) {
  for (int i = from; i < static_cast<int>(tokens.size()); ++i) {
    if (std::find(tokens.begin(), tokens.begin() + i, tokens[i]) == tokens.begin() + i) return i;
  }
  return -1;
}

absl::StatusOr<Generator> LoopGenerator(PlanExecutor& executor, const Module& module,
                                        const tokenizer::Tokenizer& tokenizer) {
  KILN_ASSIGN_OR_RETURN(
      Generator generator,
      Generator::CreateWithSessions(
          [&]() -> absl::StatusOr<std::unique_ptr<SequenceSession>> {
            KILN_ASSIGN_OR_RETURN(
                PlanSession s, PlanSession::Create(executor, module, kLoopCapacity, LoopBuckets()));
            return std::make_unique<PlanSession>(std::move(s));
          },
          nullptr, module, tokenizer, kLoopCapacity, LoopBuckets()));
  generator.set_verify_tokens(kLoopVerifyTokens);
  return generator;
}

codegen::loop::LoopSampler HostSampler(const GenerationConfig& config) {
  return LoopSamplerFor(config);
}

std::vector<GenerationConfig> SampledConfigs(int max_new_tokens) {
  std::vector<GenerationConfig> configs;
  for (uint64_t seed : {3u, 41u}) {
    GenerationConfig c;
    c.do_sample = true;
    c.temperature = 1.3;  // a flat distribution: the draws differ from the argmax
    c.top_k = seed == 3 ? 0 : 40;
    c.top_p = seed == 3 ? 1.0 : 0.95;
    c.seed = seed;
    c.max_new_tokens = max_new_tokens;
    configs.push_back(c);
  }
  // Prompt lookup under sampling, narrow enough (two tokens a draw) that
  // some drafts are kept: a random model's logits are nearly flat.
  GenerationConfig lookup = configs[0];
  lookup.temperature = 0.5;
  lookup.top_k = 2;
  lookup.seed = 7;
  lookup.prompt_lookup_num_tokens = 3;
  lookup.num_assistant_tokens_schedule = "heuristic";
  configs.push_back(lookup);
  return configs;
}

absl::StatusOr<GenerationResult> StepByStep(PlanExecutor& executor, const Module& module,
                                            const tokenizer::Tokenizer& tokenizer,
                                            std::vector<int32_t> prompt,
                                            const GenerationConfig& config) {
  KILN_ASSIGN_OR_RETURN(Generator generator, LoopGenerator(executor, module, tokenizer));
  return generator.GenerateIds(std::move(prompt), config);
}

void LoopSuite::Prepare(const codegen::GpuTarget& target) {
  absl::StatusOr<CompiledPlanModel> model = CompileLoopModel(target);
  ASSERT_TRUE(model.ok()) << model.status();
  model_ = std::make_unique<CompiledPlanModel>(*std::move(model));
  absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
      tokenizer::LoadTokenizer("tests/fixtures/tokenizers/bytes256/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  tokenizer_ = *std::move(tok);
}

absl::StatusOr<GenerationResult> LoopSuite::Reference(const GenerationConfig& config, int prompt) {
  return StepByStep(*executor_, model_->module, *tokenizer_, LoopPrompt(prompt), config);
}

absl::StatusOr<codegen::loop::LoopResult> LoopSuite::RunPlan(
    const GenerationConfig& config, int prompt, const codegen::loop::LoopTokens& on_tokens) {
  KILN_ASSIGN_OR_RETURN(codegen::loop::LoopPlan plan,
                        LoopPlanFor(config, LoopBuckets(), kLoopCapacity, kLoopVerifyTokens));
  return executor_->RunLoop(plan, LoopBuckets(), LoopPrompt(prompt), 0, on_tokens,
                            HostSampler(config));
}

}  // namespace kiln::testing
