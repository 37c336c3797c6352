// Generator::GenerateBatch on every fixture family (f32, compiled into
// batch-1 and batch-3 buckets as compile-model does, with a 256-token
// byte-level tokenizer): each row produces exactly what its prompt produces
// alone (greedy and seeded sampling, EOS, stop strings, the cache limit),
// streams its own text, and leaves the single-sequence context alone. Bad
// requests fail naming the prompt and the numbers.
#include <map>

#include "gtest/gtest.h"
#include "runtime/generate/generator.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/bucketed_model.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";
constexpr int64_t kMaxSeq = 32;

// 2, 11 and 21 tokens: the last one runs in two prefill chunks of 16.
const std::vector<std::string> kPrompts = {"Hi", "Kiln batch!", "prompt of 21 letters!"};

std::string Message(const absl::Status& status) { return std::string(status.message()); }

class BatchGenerateTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<BucketedModel> model = CompileBucketedModel(
        std::string(kFixtures) + GetParam() + "/f32", DType::kF32, {1, 3}, {4, 16}, kMaxSeq);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
        tokenizer::LoadTokenizer(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    absl::StatusOr<Generator> g =
        Generator::Create(*model_.executor, *tokenizer_, kMaxSeq, model_.all_buckets);
    ASSERT_TRUE(g.ok()) << g.status();
    generator_ = std::make_unique<Generator>(*std::move(g));
  }

  // Each prompt alone, from an empty context.
  std::vector<GenerationResult> Alone(const std::vector<std::string>& prompts,
                                      const GenerationConfig& config) {
    std::vector<GenerationResult> results;
    for (const std::string& prompt : prompts) {
      EXPECT_TRUE(generator_->Reset().ok());
      absl::StatusOr<GenerationResult> r = generator_->Generate(prompt, config, false);
      EXPECT_TRUE(r.ok()) << r.status();
      results.push_back(r.ok() ? *r : GenerationResult{});
    }
    EXPECT_TRUE(generator_->Reset().ok());
    return results;
  }

  // The batch against each prompt alone; returns the batch's results.
  std::vector<GenerationResult> ExpectBatchEqualsAlone(const std::vector<std::string>& prompts,
                                                       const GenerationConfig& config) {
    std::map<size_t, std::string> streamed;
    absl::StatusOr<std::vector<GenerationResult>> batch = generator_->GenerateBatch(
        prompts, config, false,
        [&](size_t row, std::string_view piece) { streamed[row] += piece; });
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) return {};
    std::vector<GenerationResult> alone = Alone(prompts, config);
    EXPECT_EQ(batch->size(), prompts.size());
    for (size_t b = 0; b < std::min(batch->size(), alone.size()); ++b) {
      SCOPED_TRACE(testing::Message() << "row " << b << " '" << prompts[b] << "'");
      EXPECT_EQ((*batch)[b].prompt_ids, alone[b].prompt_ids);
      EXPECT_EQ((*batch)[b].token_ids, alone[b].token_ids);
      EXPECT_EQ((*batch)[b].text, alone[b].text);
      EXPECT_EQ((*batch)[b].finish_reason, alone[b].finish_reason);
      EXPECT_EQ(streamed[b], (*batch)[b].text);
    }
    return *batch;
  }

  BucketedModel model_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<Generator> generator_;
};

TEST_P(BatchGenerateTest, GreedyRowsEqualEachPromptAlone) {
  GenerationConfig config{.max_new_tokens = 8};
  ExpectBatchEqualsAlone(kPrompts, config);
}

// Each row draws from its own counter-based stream (seed, step), as alone.
TEST_P(BatchGenerateTest, SampledRowsEqualEachPromptAlone) {
  ExpectBatchEqualsAlone(kPrompts, {.max_new_tokens = 8,
                                    .do_sample = true,
                                    .temperature = 0.8,
                                    .top_k = 40,
                                    .top_p = 0.9,
                                    .repetition_penalty = 1.2,
                                    .seed = 11});
  ExpectBatchEqualsAlone(
      kPrompts,
      {.max_new_tokens = 8, .do_sample = true, .temperature = 1.5, .min_p = 0.05, .seed = 12});
}

// With 20 new tokens the 21-token prompt reaches the cache limit (32) after
// 11 and stops with "length" while the others go on.
TEST_P(BatchGenerateTest, RowsStopAtTheCacheLimitOneByOne) {
  GenerationConfig config{.max_new_tokens = 20};
  std::vector<GenerationResult> rows = ExpectBatchEqualsAlone(kPrompts, config);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].token_ids.size(), 20u);
  EXPECT_EQ(rows[2].token_ids.size(), 11u);
  EXPECT_EQ(rows[2].finish_reason, "length");
}

// A token that only row 1 generates becomes EOS: row 1 stops there, the
// others run to the length limit undisturbed.
TEST_P(BatchGenerateTest, ARowThatHitsEosEarlyDoesNotDisturbTheOthers) {
  GenerationConfig config{.max_new_tokens = 8};
  std::vector<GenerationResult> full = Alone(kPrompts, config);
  ASSERT_EQ(full.size(), 3u);
  auto generates = [&](size_t row, int32_t t) {
    const std::vector<int32_t>& ids = full[row].token_ids;
    return std::find(ids.begin(), ids.end(), t) != ids.end();
  };
  int stop_at = -1;
  for (int i = 0; i < 8 && stop_at < 0; ++i) {
    int32_t t = full[1].token_ids[static_cast<size_t>(i)];
    if (!generates(0, t) && !generates(2, t)) stop_at = i;
  }
  ASSERT_GE(stop_at, 0) << "row 1 has no token the others lack";
  config.eos_token_ids = {full[1].token_ids[static_cast<size_t>(stop_at)]};
  std::vector<GenerationResult> rows = ExpectBatchEqualsAlone(kPrompts, config);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].finish_reason, "eos");
  EXPECT_EQ(rows[1].token_ids.size(), static_cast<size_t>(stop_at + 1));
  EXPECT_EQ(rows[0].token_ids, full[0].token_ids);
  EXPECT_EQ(rows[2].token_ids, full[2].token_ids);
}

TEST_P(BatchGenerateTest, StopStringsStopTheirRow) {
  GenerationConfig config{.max_new_tokens = 8};
  std::vector<GenerationResult> full = Alone(kPrompts, config);
  ASSERT_EQ(full.size(), 3u);
  ASSERT_GE(full[0].text.size(), 3u);
  config.stop_strings = {full[0].text.substr(1, 2)};
  std::vector<GenerationResult> rows = ExpectBatchEqualsAlone(kPrompts, config);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].finish_reason, "stop_string");
}

// Two prompts run in the batch-3 bucket (a spare pad row), one prompt in
// the batch-1 bucket.
TEST_P(BatchGenerateTest, SmallerBatchesUseTheSmallestBucketThatHoldsThem) {
  GenerationConfig config{.max_new_tokens = 8};
  ExpectBatchEqualsAlone({kPrompts[2], kPrompts[0]}, config);
  ExpectBatchEqualsAlone({kPrompts[1]}, config);
  EXPECT_EQ(generator_->max_batch(), 3);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BatchGenerateTest,
                         testing::Values("llama3", "llama2", "mistral", "gemma", "opt", "opt350"));

class BatchGenerateLlamaTest : public BatchGenerateTest {};

TEST_P(BatchGenerateLlamaTest, ABatchLeavesTheSingleContextAlone) {
  GenerationConfig config{.max_new_tokens = 3};
  absl::StatusOr<GenerationResult> first = generator_->Generate("ab", config, false);
  ASSERT_TRUE(first.ok()) << first.status();
  int64_t context = generator_->context_length();
  ASSERT_TRUE(generator_->GenerateBatch(kPrompts, config, false).ok());
  EXPECT_EQ(generator_->context_length(), context);
  absl::StatusOr<GenerationResult> second = generator_->Generate("cd", config, false);
  ASSERT_TRUE(generator_->Reset().ok());
  ASSERT_TRUE(generator_->Generate("ab", config, false).ok());
  absl::StatusOr<GenerationResult> expected = generator_->Generate("cd", config, false);
  ASSERT_TRUE(second.ok() && expected.ok());
  EXPECT_EQ(second->token_ids, expected->token_ids);
}

TEST_P(BatchGenerateLlamaTest, BadRequestsNameThePromptAndTheNumbers) {
  GenerationConfig config;
  auto error = [&](const std::vector<std::string>& prompts) {
    absl::StatusOr<std::vector<GenerationResult>> r =
        generator_->GenerateBatch(prompts, config, false);
    return r.ok() ? std::string("ok") : Message(r.status());
  };
  EXPECT_EQ(error({}), "the batch is empty: no prompts");
  EXPECT_EQ(error({"a", "b", "c", "d"}), "the batch has 4 prompts but the engine's max batch is 3");
  EXPECT_EQ(error({"a", "", "c"}), "prompt 1 is empty (it encodes to no tokens)");
  EXPECT_EQ(error({"a", std::string(32, 'x')}),
            "prompt 1 has 32 tokens, which reach the engine's max length of 32 (no room to "
            "generate)");
  auto ids_error = [&](std::vector<std::vector<int32_t>> ids) {
    absl::StatusOr<std::vector<GenerationResult>> r =
        generator_->GenerateBatchIds(std::move(ids), config);
    return r.ok() ? std::string("ok") : Message(r.status());
  };
  EXPECT_EQ(ids_error({{1, 2}, {3}, {4, 256}}),
            "prompt 2: token id 256 is outside the vocabulary [0, 256)");
  EXPECT_EQ(ids_error({{-1}}), "prompt 0: token id -1 is outside the vocabulary [0, 256)");
  EXPECT_EQ(ids_error({{2147483647}}),
            "prompt 0: token id 2147483647 is outside the vocabulary [0, 256)");
  config.max_new_tokens = 0;
  EXPECT_NE(error({"a"}).find("max_new_tokens"), std::string::npos);
  // Nothing broke: a good batch still runs.
  config.max_new_tokens = 2;
  EXPECT_EQ(error(kPrompts), "ok");
}

INSTANTIATE_TEST_SUITE_P(Llama, BatchGenerateLlamaTest, testing::Values("llama3"));

// Without buckets the generic @forward runs a batch of any size.
TEST(BatchGenerateGenericTest, TheGenericForwardRunsAnyBatch) {
  absl::StatusOr<std::unique_ptr<ReferenceExecutor>> executor =
      LoadGenericModel(std::string(kFixtures) + "mistral/f32", DType::kF32);
  ASSERT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::LoadTokenizer(kTokenizer);
  ASSERT_TRUE(tok.ok());
  absl::StatusOr<Generator> g = Generator::Create(**executor, **tok, kMaxSeq, {});
  ASSERT_TRUE(g.ok()) << g.status();
  std::vector<std::string> prompts = {"one", "two two", "three three", "four", "5"};
  GenerationConfig config{.max_new_tokens = 6};
  absl::StatusOr<std::vector<GenerationResult>> batch = g->GenerateBatch(prompts, config, false);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), prompts.size());
  for (size_t b = 0; b < prompts.size(); ++b) {
    ASSERT_TRUE(g->Reset().ok());
    absl::StatusOr<GenerationResult> alone = g->Generate(prompts[b], config, false);
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ((*batch)[b].token_ids, alone->token_ids) << "row " << b;
  }
}

}  // namespace
}  // namespace kiln
