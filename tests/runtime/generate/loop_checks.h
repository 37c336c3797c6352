// The loop plan (codegen/loop/loop_plan.h) against the step-by-step
// generator, on whatever plan executor runs it: a mistral-shape plan model
// compiled into batch-1 decode, verify and prefill buckets, requests that
// repeat themselves (so prompt lookup drafts) under every schedule, and the
// generator's own run of each on the same executor.
#ifndef KILN_TESTS_RUNTIME_GENERATE_LOOP_CHECKS_H_
#define KILN_TESTS_RUNTIME_GENERATE_LOOP_CHECKS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/gpu_target.h"
#include "codegen/loop/loop_plan.h"
#include "gtest/gtest.h"
#include "ir/module.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/generator.h"
#include "runtime/generate/generator_types.h"
#include "runtime/session/plan_executor.h"
#include "runtime/session/session_util.h"
#include "runtime/tokenizer/tokenizer.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln::testing {

inline constexpr int64_t kLoopCapacity = 64;
inline constexpr int64_t kLoopVerifyTokens = 7;

// Batch-1 buckets of 1, 4, 8 and 16 tokens (ascending), cache kLoopCapacity.
std::vector<SessionBucket> LoopBuckets();
absl::StatusOr<CompiledPlanModel> CompileLoopModel(const codegen::GpuTarget& info);

struct LoopCase {
  std::string name;
  GenerationConfig config;
  bool counts_match = true;  // drafted/accepted equal the generator's (not adaptive)
};
// Plain greedy; prompt lookup 3 constant and heuristic; lookup 7 adaptive.
std::vector<LoopCase> LoopCases(int max_new_tokens);

// Sampled decoding: two seeds of plain decoding with a temperature above 1,
// one with top-k and top-p; then prompt lookup 3 (heuristic), top-k 2.
std::vector<GenerationConfig> SampledConfigs(int max_new_tokens);

// The host sampler the Generator gives a loop plan: SampleToken's rule.
codegen::loop::LoopSampler HostSampler(const GenerationConfig& config);

// A prompt of `length` tokens that repeats a phrase.
std::vector<int32_t> LoopPrompt(int length);

// The first index from `from` on whose token does not occur before it.
int FirstNewTokenAt(const std::vector<int32_t>& tokens, int from);

// A generator on a PlanSession over `executor` with LoopBuckets(), verify
// steps of kLoopVerifyTokens.
absl::StatusOr<Generator> LoopGenerator(PlanExecutor& executor, const Module& module,
                                        const tokenizer::Tokenizer& tokenizer);

// The generator's run of `prompt` (a fresh generator on `executor`).
absl::StatusOr<GenerationResult> StepByStep(PlanExecutor& executor, const Module& module,
                                            const tokenizer::Tokenizer& tokenizer,
                                            std::vector<int32_t> prompt,
                                            const GenerationConfig& config);

// What the loop suites share (the CPU's host loop, the CUDA loop graph in
// the emulator and on a GPU): the model and tokenizer, the executor under
// test (the suite's SetUp makes it after Prepare), the step-by-step
// generator's run of a request and the executor's RunLoop of its plan.
class LoopSuite : public ::testing::Test {
 protected:
  // Compiles CompileLoopModel(target) and loads the bytes256 tokenizer.
  void Prepare(const codegen::GpuTarget& target);

  absl::StatusOr<GenerationResult> Reference(const GenerationConfig& config, int prompt = 20);
  // LoopPlanFor(config) run by executor_->RunLoop from an empty cache, with
  // HostSampler(config).
  absl::StatusOr<codegen::loop::LoopResult> RunPlan(
      const GenerationConfig& config, int prompt = 20,
      const codegen::loop::LoopTokens& on_tokens = nullptr);

  std::unique_ptr<CompiledPlanModel> model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  PlanExecutor* executor_ = nullptr;
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_GENERATE_LOOP_CHECKS_H_
