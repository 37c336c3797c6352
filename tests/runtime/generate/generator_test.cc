// The generate loop on a tiny Llama fixture with a 256-token byte-level
// tokenizer: greedy equals a hand-run argmax loop, streamed text equals the
// decoded ids, a resumed session equals one shot, stops work, and bad
// requests fail with their reason.
#include "runtime/generate/generator.h"

#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "models/weights.h"
#include "runtime/tokenizer/load.h"

namespace kiln {
namespace {

constexpr char kModel[] = "tests/fixtures/models/llama3/f32";
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";
constexpr int64_t kMaxSeq = 48;

class GeneratorTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<BuiltModel> model = BuildModelFromDir(kModel, BuildOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(kModel);
    ASSERT_TRUE(checkpoint.ok());
    absl::StatusOr<WeightMap> weights = LoadWeights(model->module, *checkpoint);
    ASSERT_TRUE(weights.ok());
    absl::StatusOr<ReferenceExecutor> executor =
        ReferenceExecutor::Create(std::move(model->module), *std::move(weights));
    ASSERT_TRUE(executor.ok());
    executor_ = std::make_unique<ReferenceExecutor>(*std::move(executor));
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::LoadTokenizer(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
  }

  Generator MakeGenerator(int64_t max_seq = kMaxSeq) {
    absl::StatusOr<Generator> g = Generator::Create(*executor_, *tokenizer_, max_seq, {});
    EXPECT_TRUE(g.ok()) << g.status();
    return *std::move(g);
  }

  // Greedy continuation of `context` for `n` tokens by a plain session loop.
  std::vector<int32_t> ArgmaxLoop(std::vector<int32_t> context, int n) {
    absl::StatusOr<ReferenceSession> s = ReferenceSession::Create(*executor_, kMaxSeq);
    absl::StatusOr<HostTensor> logits = s->Forward(context);
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
      int64_t v = logits->shape[1];
      const float* row = logits->floats.data() + (logits->shape[0] - 1) * v;
      int32_t t = static_cast<int32_t>(std::max_element(row, row + v) - row);
      out.push_back(t);
      logits = s->Forward(std::span<const int32_t>(&t, 1));
    }
    return out;
  }

  std::unique_ptr<ReferenceExecutor> executor_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
};

TEST_F(GeneratorTest, GreedyMatchesAnArgmaxLoopAndStreamsTheDecodedText) {
  Generator g = MakeGenerator();
  GenerationConfig config;
  config.max_new_tokens = 10;
  std::string streamed;
  absl::StatusOr<GenerationResult> r =
      g.Generate("Kiln!", config, false, [&](std::string_view piece) { streamed += piece; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->prompt_ids, std::vector<int32_t>({75, 105, 108, 110, 33}));
  EXPECT_EQ(r->token_ids, ArgmaxLoop(r->prompt_ids, 10));
  EXPECT_EQ(r->finish_reason, "length");
  absl::StatusOr<std::string> decoded = tokenizer_->Decode(r->token_ids, true);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(r->text, *decoded);
  EXPECT_EQ(streamed, *decoded);
}

TEST_F(GeneratorTest, ASecondTurnContinuesTheCacheLikeOneShot) {
  Generator g = MakeGenerator();
  GenerationConfig config;
  config.max_new_tokens = 4;
  absl::StatusOr<GenerationResult> first = g.Generate("ab", config, false);
  absl::StatusOr<GenerationResult> second = g.Generate("cd", config, false);
  ASSERT_TRUE(first.ok() && second.ok());
  std::vector<int32_t> context = first->prompt_ids;
  context.insert(context.end(), first->token_ids.begin(), first->token_ids.end());
  context.insert(context.end(), second->prompt_ids.begin(), second->prompt_ids.end());
  EXPECT_EQ(second->token_ids, ArgmaxLoop(context, 4));
  EXPECT_EQ(g.context_length(), static_cast<int64_t>(context.size()) + 4);
  ASSERT_TRUE(g.Reset().ok());
  EXPECT_EQ(g.context_length(), 0);
  absl::StatusOr<GenerationResult> fresh = g.Generate("ab", config, false);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->token_ids, first->token_ids);
}

TEST_F(GeneratorTest, StopsAtEosAndAtStopStrings) {
  Generator g = MakeGenerator();
  GenerationConfig config;
  config.max_new_tokens = 10;
  absl::StatusOr<GenerationResult> full = g.Generate("Kiln!", config, false);
  ASSERT_TRUE(full.ok());
  config.eos_token_ids = {full->token_ids[2]};
  ASSERT_TRUE(g.Reset().ok());
  absl::StatusOr<GenerationResult> eos = g.Generate("Kiln!", config, false);
  ASSERT_TRUE(eos.ok());
  EXPECT_EQ(eos->finish_reason, "eos");
  EXPECT_LE(eos->token_ids.size(), 3u);
  EXPECT_EQ(eos->token_ids.back(), full->token_ids[2]);
}

TEST_F(GeneratorTest, SeededSamplingIsReproducible) {
  GenerationConfig config;
  config.max_new_tokens = 12;
  config.do_sample = true;
  config.temperature = 1.5;
  config.seed = 7;
  std::vector<std::vector<int32_t>> runs;
  for (uint64_t seed : {7, 7, 8}) {
    Generator g = MakeGenerator();
    config.seed = seed;
    absl::StatusOr<GenerationResult> r = g.Generate("Kiln!", config, false);
    ASSERT_TRUE(r.ok()) << r.status();
    runs.push_back(r->token_ids);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_NE(runs[0], runs[2]);
}

TEST_F(GeneratorTest, BadRequestsFailWithTheirReason) {
  Generator g = MakeGenerator(/*max_seq=*/8);
  GenerationConfig config;
  absl::StatusOr<GenerationResult> r = g.Generate("", config, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("the prompt is empty"), std::string::npos);
  r = g.Generate("eight ch", config, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message())
                .find("the prompt has 8 tokens and the session already holds 0: 8 positions "
                      "reach the engine's max length of 8"),
            std::string::npos)
      << r.status();
  config.top_p = 0;
  r = g.Generate("ok", config, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("top_p"), std::string::npos);
  // The failed requests changed nothing: a good one still starts at 0.
  absl::StatusOr<GenerationResult> good = g.Generate("ok", GenerationConfig{}, false);
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->finish_reason, "length");
  EXPECT_EQ(good->token_ids.size(), 6u);  // 2 prompt + 6 fill the 8 positions
}

}  // namespace
}  // namespace kiln
