// Speculative decoding through Generator on every fixture family (f32,
// compiled into batch-1 and batch-3 buckets with verify steps of 2, 4 and
// 8 tokens, as compile-model --verify-tokens 7 does): prompt lookup, an
// assistant that is the same model (every draft accepted) and one that is
// another random model (a garbage draft) all give the plain greedy output
// token for token, alone, in a batch and across turns, with EOS, stop
// strings and the cache limit. Requests that cannot speculate fail naming
// both sides.
#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/generate/generator.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/bucketed_model.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";
constexpr int64_t kMaxSeq = 48;
constexpr int64_t kVerifyTokens = 7;

const std::vector<std::string> kPrompts = {"abcabcabcabc", "Kiln batch! Kiln", "x",
                                           "prompt of 21 letters!"};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

struct Loaded {
  BucketedModel model;
  std::unique_ptr<Generator> generator;
};

Loaded Load(const std::string& family, const tokenizer::Tokenizer& tok) {
  Loaded out;
  absl::StatusOr<BucketedModel> model = CompileBucketedModel(
      std::string(kFixtures) + family + "/f32", DType::kF32, {1, 3}, {2, 4, 8, 16}, kMaxSeq);
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return out;
  out.model = *std::move(model);
  absl::StatusOr<Generator> g =
      Generator::Create(*out.model.executor, tok, kMaxSeq, out.model.all_buckets);
  EXPECT_TRUE(g.ok()) << g.status();
  if (!g.ok()) return out;
  out.generator = std::make_unique<Generator>(*std::move(g));
  out.generator->set_verify_tokens(kVerifyTokens);
  return out;
}

class SpeculativeGenerateTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
        tokenizer::LoadTokenizer(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    target_ = Load(GetParam(), *tokenizer_);
    ASSERT_NE(target_.generator, nullptr);
    // The same model loaded a second time drafts perfectly; another
    // family's random weights draft garbage.
    same_ = Load(GetParam(), *tokenizer_);
    other_ = Load(GetParam() == "llama3" ? "mistral" : "llama3", *tokenizer_);
    ASSERT_NE(same_.generator, nullptr);
    ASSERT_NE(other_.generator, nullptr);
  }

  std::shared_ptr<Generator> Assistant(Loaded& l) {
    return std::shared_ptr<Generator>(l.generator.get(), [](Generator*) {});
  }

  GenerationResult Run(const std::string& prompt, const GenerationConfig& config) {
    EXPECT_TRUE(target_.generator->Reset().ok());
    absl::StatusOr<GenerationResult> r = target_.generator->Generate(prompt, config, false);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : GenerationResult{};
  }

  // Each prompt with `spec` gives what it gives with `plain` (the same
  // config without a drafter); returns the speculative results.
  std::vector<GenerationResult> ExpectSameTokens(const GenerationConfig& plain,
                                                 const GenerationConfig& spec) {
    std::vector<GenerationResult> out;
    for (const std::string& prompt : kPrompts) {
      SCOPED_TRACE(testing::Message() << "prompt '" << prompt << "'");
      GenerationResult want = Run(prompt, plain);
      std::string streamed;
      EXPECT_TRUE(target_.generator->Reset().ok());
      absl::StatusOr<GenerationResult> got = target_.generator->Generate(
          prompt, spec, false, [&](std::string_view piece) { streamed += piece; });
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) continue;
      EXPECT_EQ(got->token_ids, want.token_ids);
      EXPECT_EQ(got->text, want.text);
      EXPECT_EQ(streamed, want.text);
      EXPECT_EQ(got->finish_reason, want.finish_reason);
      EXPECT_LE(got->accepted_tokens, got->drafted_tokens);
      out.push_back(*got);
    }
    return out;
  }

  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  Loaded target_, same_, other_;
};

int64_t Sum(const std::vector<GenerationResult>& rs, int64_t GenerationResult::*field) {
  int64_t total = 0;
  for (const GenerationResult& r : rs) total += r.*field;
  return total;
}

TEST_P(SpeculativeGenerateTest, PromptLookupGivesThePlainGreedyTokens) {
  GenerationConfig plain{.max_new_tokens = 24};
  for (int k : {1, 3, 7}) {
    for (const char* schedule : {"adaptive", "heuristic", "constant"}) {
      SCOPED_TRACE(testing::Message() << "k " << k << ", " << schedule);
      GenerationConfig spec = plain;
      spec.prompt_lookup_num_tokens = k;
      spec.num_assistant_tokens_schedule = schedule;
      std::vector<GenerationResult> rs = ExpectSameTokens(plain, spec);
      EXPECT_GT(Sum(rs, &GenerationResult::drafted_tokens), 0);  // "abcabc..." always matches
    }
  }
}

TEST_P(SpeculativeGenerateTest, SampledPromptLookupGivesThePlainSampledTokens) {
  // The target draws each position with the plain loop's counter and keeps
  // the draft while it agrees (AcceptDraft): the same seed, the same tokens.
  // Seed 6 draws from two tokens, cool, so some drafts are kept.
  int64_t accepted = 0;
  for (uint64_t seed : {5u, 6u}) {
    GenerationConfig plain{.max_new_tokens = 24};
    plain.do_sample = true;
    plain.temperature = seed == 6 ? 0.3 : 0.8;
    plain.top_p = 0.9;
    plain.top_k = seed == 6 ? 2 : 0;
    plain.seed = seed;
    for (const char* schedule : {"adaptive", "heuristic", "constant"}) {
      SCOPED_TRACE(testing::Message() << "seed " << seed << ", " << schedule);
      GenerationConfig spec = plain;
      spec.prompt_lookup_num_tokens = 3;
      spec.num_assistant_tokens_schedule = schedule;
      std::vector<GenerationResult> rs = ExpectSameTokens(plain, spec);
      EXPECT_GT(Sum(rs, &GenerationResult::drafted_tokens), 0);
      accepted += Sum(rs, &GenerationResult::accepted_tokens);
    }
  }
  // The mistral fixture's draws never continue these prompts' pattern, so
  // none of its drafts is kept; every other family keeps some.
  if (GetParam() != "mistral") EXPECT_GT(accepted, 0);
}

TEST_P(SpeculativeGenerateTest, TheSameModelAsAssistantHasEveryDraftAccepted) {
  GenerationConfig plain{.max_new_tokens = 24};
  GenerationConfig spec = plain;
  spec.assistant_engine = Assistant(same_);
  spec.assistant_confidence_threshold = 0;
  spec.num_assistant_tokens_schedule = "heuristic";
  std::vector<GenerationResult> rs = ExpectSameTokens(plain, spec);
  const int64_t drafted = Sum(rs, &GenerationResult::drafted_tokens);
  EXPECT_GT(drafted, 0);
  EXPECT_EQ(Sum(rs, &GenerationResult::accepted_tokens), drafted);
  // Whole acceptance grows the draft (+2 a round, Transformers' heuristic):
  // far fewer target steps than tokens.
  int64_t tokens = 0;
  for (const GenerationResult& r : rs) tokens += static_cast<int64_t>(r.token_ids.size());
  EXPECT_LT(Sum(rs, &GenerationResult::target_forwards) * 2, tokens);
}

TEST_P(SpeculativeGenerateTest, AGarbageAssistantChangesNoToken) {
  GenerationConfig plain{.max_new_tokens = 24};
  GenerationConfig spec = plain;
  spec.assistant_engine = Assistant(other_);
  spec.num_assistant_tokens = 7;
  spec.num_assistant_tokens_schedule = "constant";
  spec.assistant_confidence_threshold = 0;
  std::vector<GenerationResult> rs = ExpectSameTokens(plain, spec);
  EXPECT_GT(Sum(rs, &GenerationResult::drafted_tokens), 0);
}

// EOS and stop strings fire at the same token when it was a drafted one.
TEST_P(SpeculativeGenerateTest, StopsFallOnTheSameToken) {
  GenerationConfig plain{.max_new_tokens = 24};
  GenerationResult full = Run(kPrompts[0], plain);
  ASSERT_GE(full.token_ids.size(), 6u);
  GenerationConfig eos = plain;
  eos.eos_token_ids = {full.token_ids[5]};
  GenerationConfig spec = eos;
  spec.assistant_engine = Assistant(same_);
  ExpectSameTokens(eos, spec);
  spec = eos;
  spec.prompt_lookup_num_tokens = 7;
  ExpectSameTokens(eos, spec);
  ASSERT_GE(full.text.size(), 6u);
  GenerationConfig stop = plain;
  stop.stop_strings = {full.text.substr(4, 2)};
  spec = stop;
  spec.assistant_engine = Assistant(same_);
  ExpectSameTokens(stop, spec);
}

// 40 new tokens run every prompt but "x" into the 48-position cache.
TEST_P(SpeculativeGenerateTest, TheCacheLimitStopsAtTheSameToken) {
  GenerationConfig plain{.max_new_tokens = 40};
  GenerationConfig spec = plain;
  spec.assistant_engine = Assistant(same_);
  ExpectSameTokens(plain, spec);
  spec = plain;
  spec.prompt_lookup_num_tokens = 7;
  ExpectSameTokens(plain, spec);
}

// A second turn continues the context with speculation as without.
TEST_P(SpeculativeGenerateTest, ConsecutiveTurnsMatchPlainTurns) {
  GenerationConfig plain{.max_new_tokens = 8};
  GenerationConfig spec = plain;
  spec.assistant_engine = Assistant(same_);
  std::vector<std::vector<int32_t>> want, got;
  for (const GenerationConfig* c : {&plain, &spec}) {
    ASSERT_TRUE(target_.generator->Reset().ok());
    for (const std::string& p : {kPrompts[1], kPrompts[0]}) {
      absl::StatusOr<GenerationResult> r = target_.generator->Generate(p, *c, false);
      ASSERT_TRUE(r.ok()) << r.status();
      (c == &plain ? want : got).push_back(r->token_ids);
    }
  }
  EXPECT_EQ(got, want);
}

// Each row of a speculating batch equals its prompt alone without drafts.
TEST_P(SpeculativeGenerateTest, BatchedSpeculationEqualsEachRowAlone) {
  GenerationConfig plain{.max_new_tokens = 20};
  const std::vector<std::string> prompts(kPrompts.begin(), kPrompts.begin() + 3);
  std::vector<GenerationResult> alone;
  for (const std::string& p : prompts) alone.push_back(Run(p, plain));
  GenerationConfig lookup = plain;
  lookup.prompt_lookup_num_tokens = 5;
  GenerationConfig assisted = plain;
  assisted.assistant_engine = Assistant(same_);
  GenerationConfig garbage = plain;
  garbage.assistant_engine = Assistant(other_);
  for (const GenerationConfig* c : {&lookup, &assisted, &garbage}) {
    absl::StatusOr<std::vector<GenerationResult>> batch =
        target_.generator->GenerateBatch(prompts, *c, false);
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_EQ(batch->size(), prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) {
      EXPECT_EQ((*batch)[b].token_ids, alone[b].token_ids) << "row " << b;
      EXPECT_EQ((*batch)[b].finish_reason, alone[b].finish_reason) << "row " << b;
    }
  }
}

// Prompts of one token leave nothing to prefill: the first round runs them.
TEST_P(SpeculativeGenerateTest, ABatchOfOneTokenPromptsSpeculates) {
  GenerationConfig plain{.max_new_tokens = 12};
  const std::vector<std::string> prompts = {"x", "y"};
  std::vector<GenerationResult> alone;
  for (const std::string& p : prompts) alone.push_back(Run(p, plain));
  GenerationConfig spec = plain;
  spec.prompt_lookup_num_tokens = 3;
  absl::StatusOr<std::vector<GenerationResult>> batch =
      target_.generator->GenerateBatch(prompts, spec, false);
  ASSERT_TRUE(batch.ok()) << batch.status();
  for (size_t b = 0; b < prompts.size(); ++b) {
    EXPECT_EQ((*batch)[b].token_ids, alone[b].token_ids) << "row " << b;
  }
}

// An assistant that drafted (alone or for a batch) still generates on its
// own afterwards, from an empty context, as a fresh generator would.
TEST_P(SpeculativeGenerateTest, TheAssistantGeneratesOnItsOwnAfterDrafting) {
  GenerationConfig plain{.max_new_tokens = 6};
  absl::StatusOr<GenerationResult> fresh = same_.generator->Generate(kPrompts[1], plain, false);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE(same_.generator->Reset().ok());
  GenerationConfig spec = plain;
  spec.assistant_engine = Assistant(same_);
  ASSERT_TRUE(target_.generator->Generate(kPrompts[0], spec, false).ok());
  absl::StatusOr<GenerationResult> after = same_.generator->Generate(kPrompts[1], plain, false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->token_ids, fresh->token_ids);
  ASSERT_TRUE(target_.generator->GenerateBatch({kPrompts[0], kPrompts[2]}, spec, false).ok());
  ASSERT_TRUE(same_.generator->Reset().ok());
  after = same_.generator->Generate(kPrompts[1], plain, false);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->token_ids, fresh->token_ids);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SpeculativeGenerateTest,
                         testing::Values("llama3", "llama2", "mistral", "gemma", "opt", "opt350"));

class SpeculativeRefusalTest : public SpeculativeGenerateTest {};

TEST_P(SpeculativeRefusalTest, ADraftLongerThanTheVerifyStepIsRefused) {
  GenerationConfig c{.max_new_tokens = 4};
  c.prompt_lookup_num_tokens = 8;
  absl::StatusOr<GenerationResult> r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("prompt_lookup_num_tokens is 8"), std::string::npos);
  EXPECT_NE(Message(r.status()).find("at most 7 drafted tokens"), std::string::npos);
  c.prompt_lookup_num_tokens = 0;
  c.assistant_engine = Assistant(same_);
  c.num_assistant_tokens = 9;
  r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("num_assistant_tokens is 9"), std::string::npos);
}

TEST_P(SpeculativeRefusalTest, AnEngineWithoutVerifyStepsIsRefused) {
  target_.generator->set_verify_tokens(0);
  GenerationConfig c{.max_new_tokens = 4};
  c.prompt_lookup_num_tokens = 2;
  absl::StatusOr<GenerationResult> r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("--verify-tokens"), std::string::npos);
}

TEST_P(SpeculativeRefusalTest, AnAssistantWithAnotherTokenizerIsRefused) {
  // The byte tokenizer with the ids of 'a' and 'b' swapped.
  std::ifstream in(kTokenizer);
  nlohmann::json json = nlohmann::json::parse(in);
  nlohmann::json& vocab = json["model"]["vocab"];
  std::swap(vocab["a"], vocab["b"]);
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/swapped.json";
  std::ofstream(path) << json.dump();
  absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> swapped = tokenizer::LoadTokenizer(path);
  ASSERT_TRUE(swapped.ok()) << swapped.status();
  Loaded foreign = Load(GetParam(), **swapped);
  ASSERT_NE(foreign.generator, nullptr);
  GenerationConfig c{.max_new_tokens = 4};
  c.assistant_engine = Assistant(foreign);
  absl::StatusOr<GenerationResult> r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("in the target's tokenizer but"), std::string::npos)
      << r.status();
  EXPECT_NE(Message(r.status()).find("token 97 is 'a'"), std::string::npos) << r.status();
}

TEST_P(SpeculativeRefusalTest, TheTargetCannotDraftForItself) {
  GenerationConfig c{.max_new_tokens = 4};
  c.assistant_engine = Assistant(target_);
  absl::StatusOr<GenerationResult> r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("load the engine a second time"), std::string::npos);
}

TEST_P(SpeculativeRefusalTest, PromptLookupAndAnAssistantExcludeEachOther) {
  GenerationConfig c{.max_new_tokens = 4};
  c.assistant_engine = Assistant(same_);
  c.prompt_lookup_num_tokens = 2;
  absl::StatusOr<GenerationResult> r = target_.generator->Generate("abc", c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("choose one drafter"), std::string::npos);
}

// More rows than the engine's batch, or than the assistant's.
TEST_P(SpeculativeRefusalTest, ABatchBeyondTheEnginesOrTheAssistantsIsRefused) {
  GenerationConfig c{.max_new_tokens = 4};
  c.prompt_lookup_num_tokens = 3;
  const std::vector<std::string> four = {"a", "b", "c", "d"};
  absl::StatusOr<std::vector<GenerationResult>> r =
      target_.generator->GenerateBatch(four, c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("the batch has 4 prompts but the engine's max batch is 3"),
            std::string::npos)
      << r.status();
  // An assistant compiled for batch 1 only.
  absl::StatusOr<BucketedModel> small = CompileBucketedModel(
      std::string(kFixtures) + GetParam() + "/f32", DType::kF32, {1}, {2, 4, 8}, kMaxSeq);
  ASSERT_TRUE(small.ok()) << small.status();
  absl::StatusOr<Generator> g =
      Generator::Create(*small->executor, *tokenizer_, kMaxSeq, small->all_buckets);
  ASSERT_TRUE(g.ok()) << g.status();
  g->set_verify_tokens(kVerifyTokens);
  Loaded one{*std::move(small), std::make_unique<Generator>(*std::move(g))};
  c.prompt_lookup_num_tokens = 0;
  c.assistant_engine = Assistant(one);
  r = target_.generator->GenerateBatch({"a", "b"}, c, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(Message(r.status()).find("a batch of 2 prompts, but the assistant engine's max batch "
                                     "is 1"),
            std::string::npos)
      << r.status();
}

INSTANTIATE_TEST_SUITE_P(Llama, SpeculativeRefusalTest, testing::Values("llama3"));

}  // namespace
}  // namespace kiln
