// RenderChat: an engine's chat template with the bos_token and eos_token
// its manifest ids spell in the engine's tokenizer, and the refusal of an
// engine without a template.
#include "tools/chat_prompt.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/tokenizer/load.h"

namespace kiln {
namespace {

// SmolLM2's added tokens: 1 is <|im_start|>, 2 is <|im_end|>.
constexpr char kTokenizer[] = "tests/fixtures/tokenizers/smollm2/tokenizer.json";
constexpr char kTemplate[] =
    "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

class RenderChatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> loaded =
        tokenizer::LoadTokenizer(kTokenizer);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = *std::move(loaded);
    engine_.chat_template = kTemplate;
    engine_.manifest.bos_token_id = 1;
    engine_.manifest.eos_token_ids = {2, 0};
  }

  Engine engine_;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  const std::vector<ChatMessage> messages_ = {{"system", "be brief"}, {"user", "hi"}};
};

TEST_F(RenderChatTest, SpecialTokensComeFromTheManifestIds) {
  absl::StatusOr<std::string> text = RenderChat(engine_, *tokenizer_, messages_, true);
  ASSERT_TRUE(text.ok()) << text.status();
  // The first EOS id is the template's eos_token.
  EXPECT_EQ(*text, "<|im_start|>system: be brief<|im_end|>user: hi<|im_end|>assistant:");
}

TEST_F(RenderChatTest, WithoutTheGenerationPrompt) {
  absl::StatusOr<std::string> text = RenderChat(engine_, *tokenizer_, messages_, false);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "<|im_start|>system: be brief<|im_end|>user: hi<|im_end|>");
}

TEST_F(RenderChatTest, AnEngineWithoutSpecialIdsRendersThemEmpty) {
  engine_.manifest.bos_token_id.reset();
  engine_.manifest.eos_token_ids.clear();
  absl::StatusOr<std::string> text = RenderChat(engine_, *tokenizer_, messages_, true);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, "system: be briefuser: hiassistant:");
}

TEST_F(RenderChatTest, AnEngineWithoutATemplateIsRefused) {
  engine_.chat_template.clear();
  absl::StatusOr<std::string> text = RenderChat(engine_, *tokenizer_, messages_, true);
  EXPECT_EQ(text.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(text.status().message().find("this engine has no chat template"), std::string::npos)
      << text.status();
}

TEST_F(RenderChatTest, ATemplateErrorIsReturned) {
  engine_.chat_template = "{% for m in messages %}";
  EXPECT_FALSE(RenderChat(engine_, *tokenizer_, messages_, true).ok());
}

}  // namespace
}  // namespace kiln
