// TESTING.md's runtime bad-request list, one case each, against the
// Generator on a tiny Llama fixture: every request fails with an
// absl::Status naming the field and the value, the generator stays usable,
// and a NaN in one request's logits fails that request only.
#include <cmath>
#include <limits>

#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/generate/generator.h"
#include "models/weights.h"
#include "runtime/tokenizer/load.h"

namespace kiln {
namespace {

constexpr char kModel[] = "tests/fixtures/models/llama3/f32";
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/bytes256/tokenizer.json";
constexpr int64_t kMaxSeq = 16;
constexpr int64_t kVocab = 256;

class BadRequestAuditTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok = tokenizer::LoadTokenizer(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    absl::StatusOr<BuiltModel> model = BuildModelFromDir(kModel, BuildOptions{});
    ASSERT_TRUE(model.ok()) << model.status();
    absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(kModel);
    ASSERT_TRUE(checkpoint.ok());
    absl::StatusOr<WeightMap> weights = LoadWeights(model->module, *checkpoint);
    ASSERT_TRUE(weights.ok());
    // "Z"'s embedding row holds a NaN: any request that reads it gets NaN
    // logits, and no other request is touched (rows never mix).
    absl::StatusOr<std::vector<int32_t>> z = tokenizer_->Encode("Z", false);
    ASSERT_TRUE(z.ok() && z->size() == 1);
    poisoned_ = (*z)[0];
    HostTensor& embed = (*weights)["model.embed_tokens.weight"];
    embed.floats[poisoned_ * embed.shape[1]] = std::numeric_limits<float>::quiet_NaN();
    absl::StatusOr<ReferenceExecutor> executor =
        ReferenceExecutor::Create(std::move(model->module), *std::move(weights));
    ASSERT_TRUE(executor.ok());
    executor_ = std::make_unique<ReferenceExecutor>(*std::move(executor));
    absl::StatusOr<Generator> g = Generator::Create(*executor_, *tokenizer_, kMaxSeq, {});
    ASSERT_TRUE(g.ok()) << g.status();
    generator_ = std::make_unique<Generator>(*std::move(g));
  }

  // A request with `config` fails with a message containing `expected`, and
  // a good request right after it still succeeds from position 0.
  void ExpectFails(const std::string& prompt, const GenerationConfig& config,
                   const std::string& expected) {
    absl::StatusOr<GenerationResult> r = generator_->Generate(prompt, config, false);
    ASSERT_FALSE(r.ok()) << "accepted: " << expected;
    EXPECT_NE(std::string(r.status().message()).find(expected), std::string::npos) << r.status();
    EXPECT_EQ(generator_->context_length(), 0);
    GenerationConfig good;
    good.max_new_tokens = 2;
    absl::StatusOr<GenerationResult> ok = generator_->Generate("ok", good, false);
    ASSERT_TRUE(ok.ok()) << ok.status();
    EXPECT_EQ(ok->token_ids.size(), 2u);
    ASSERT_TRUE(generator_->Reset().ok());
  }

  GenerationConfig Config(void (*edit)(GenerationConfig&)) {
    GenerationConfig c;
    c.max_new_tokens = 2;
    edit(c);
    return c;
  }

  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  std::unique_ptr<ReferenceExecutor> executor_;
  std::unique_ptr<Generator> generator_;
  int32_t poisoned_ = 0;
};

TEST_F(BadRequestAuditTest, EmptyPrompt) {
  ExpectFails("", Config([](GenerationConfig&) {}), "the prompt is empty");
}

TEST_F(BadRequestAuditTest, PromptAtOrAboveTheMaxLength) {
  ExpectFails(std::string(kMaxSeq, 'a'), Config([](GenerationConfig&) {}),
              "the prompt has 16 tokens and the session already holds 0: 16 positions reach the "
              "engine's max length of 16");
  ExpectFails(std::string(40, 'a'), Config([](GenerationConfig&) {}),
              "the prompt has 40 tokens");
}

TEST_F(BadRequestAuditTest, TokenIdsOutsideTheVocabulary) {
  for (int32_t id : {-1, static_cast<int32_t>(kVocab), std::numeric_limits<int32_t>::max()}) {
    absl::StatusOr<std::vector<GenerationResult>> r =
        generator_->GenerateBatchIds({{5, 6}, {7, id}}, Config([](GenerationConfig&) {}));
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_NE(std::string(r.status().message())
                  .find(absl::StrCat("prompt 1: token id ", id, " is outside the vocabulary [0, 256)")),
              std::string::npos)
        << r.status();
  }
}

TEST_F(BadRequestAuditTest, TemperatureNanOrNegative) {
  ExpectFails("hi", Config([](GenerationConfig& c) {
                c.do_sample = true;
                c.temperature = std::nan("");
              }),
              "temperature");
  ExpectFails("hi", Config([](GenerationConfig& c) {
                c.do_sample = true;
                c.temperature = -0.5;
              }),
              "temperature");
}

TEST_F(BadRequestAuditTest, TopPOutsideZeroOne) {
  for (double top_p : {0.0, -0.1, 1.5, std::nan("")}) {
    GenerationConfig c = Config([](GenerationConfig& c) { c.do_sample = true; });
    c.top_p = top_p;
    ExpectFails("hi", c, "top_p");
  }
}

TEST_F(BadRequestAuditTest, MaxNewTokensZeroOrNegative) {
  ExpectFails("hi", Config([](GenerationConfig& c) { c.max_new_tokens = 0; }), "max_new_tokens");
  ExpectFails("hi", Config([](GenerationConfig& c) { c.max_new_tokens = -3; }), "max_new_tokens");
}

// A NaN in the logits fails that request cleanly; the next request, and the
// other rows of a batch, go on as if it had never happened.
TEST_F(BadRequestAuditTest, NanLogitsFailOnlyTheirRequest) {
  ExpectFails("aZ", Config([](GenerationConfig&) {}), "NaN");

  GenerationConfig greedy = Config([](GenerationConfig& c) { c.max_new_tokens = 4; });
  absl::StatusOr<std::vector<GenerationResult>> alone =
      generator_->GenerateBatch({"hello"}, greedy, false);
  ASSERT_TRUE(alone.ok()) << alone.status();
  absl::StatusOr<std::vector<GenerationResult>> batch =
      generator_->GenerateBatch({"aZ", "hello"}, greedy, false);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)[0].finish_reason, "error");
  EXPECT_NE((*batch)[0].error.find("NaN"), std::string::npos) << (*batch)[0].error;
  EXPECT_TRUE((*batch)[0].token_ids.empty());
  EXPECT_EQ((*batch)[1].finish_reason, (*alone)[0].finish_reason);
  EXPECT_EQ((*batch)[1].token_ids, (*alone)[0].token_ids);
  EXPECT_EQ((*batch)[1].text, (*alone)[0].text);
}

// The same with speculative decoding (prompt lookup): the poisoned request
// fails alone, and in a batch only its row ends with "error".
TEST_F(BadRequestAuditTest, NanLogitsFailOnlyTheirRequestWhenSpeculating) {
  ExpectFails("aZ", Config([](GenerationConfig& c) { c.prompt_lookup_num_tokens = 3; }), "NaN");
  GenerationConfig greedy = Config([](GenerationConfig& c) { c.max_new_tokens = 6; });
  absl::StatusOr<std::vector<GenerationResult>> alone =
      generator_->GenerateBatch({"hello hello"}, greedy, false);
  ASSERT_TRUE(alone.ok()) << alone.status();
  GenerationConfig lookup = greedy;
  lookup.prompt_lookup_num_tokens = 3;
  absl::StatusOr<std::vector<GenerationResult>> batch =
      generator_->GenerateBatch({"aZ", "hello hello"}, lookup, false);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)[0].finish_reason, "error");
  EXPECT_NE((*batch)[0].error.find("NaN"), std::string::npos) << (*batch)[0].error;
  EXPECT_EQ((*batch)[1].token_ids, (*alone)[0].token_ids);
  EXPECT_EQ((*batch)[1].finish_reason, (*alone)[0].finish_reason);
}

}  // namespace
}  // namespace kiln
