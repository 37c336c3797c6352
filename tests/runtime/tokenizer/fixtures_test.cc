// Every committed fixture tokenizer (tests/fixtures/tokenizers/<name>/) must
// give exactly the ids and decodings HF tokenizers gave for each test string.
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/tokenizer_json.h"

namespace kiln::tokenizer {
namespace {

using Json = nlohmann::json;

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class FixtureTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureTest, MatchesHuggingFace) {
  const std::string dir = "tests/fixtures/tokenizers/" + GetParam();
  auto tok = LoadTokenizerJson(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::string expected_text = Slurp(dir + "/expected.json");
  ASSERT_FALSE(expected_text.empty()) << "missing " << dir << "/expected.json";
  const Json expected = Json::parse(expected_text);
  int tried = 0, mismatches = 0;
  for (const Json& c : expected["cases"]) {
    const std::string text = c["text"].get<std::string>();
    ++tried;
    auto plain = (*tok)->Encode(text, false);
    auto special = (*tok)->Encode(text, true);
    ASSERT_TRUE(plain.ok() && special.ok());
    const auto want_plain = c["ids"].get<std::vector<int32_t>>();
    const auto want_special = c["ids_with_special"].get<std::vector<int32_t>>();
    bool ok = *plain == want_plain && *special == want_special;
    EXPECT_EQ(*plain, want_plain) << "text: " << Json(text).dump();
    EXPECT_EQ(*special, want_special) << "text: " << Json(text).dump();
    auto decoded = (*tok)->Decode(want_special, false);
    auto decoded_skip = (*tok)->Decode(want_special, true);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    ASSERT_TRUE(decoded_skip.ok()) << decoded_skip.status();
    EXPECT_EQ(*decoded, c["decoded"].get<std::string>()) << "text: " << Json(text).dump();
    EXPECT_EQ(*decoded_skip, c["decoded_skip"].get<std::string>()) << "text: " << Json(text).dump();
    ok = ok && *decoded == c["decoded"].get<std::string>() &&
         *decoded_skip == c["decoded_skip"].get<std::string>();
    if (!ok) ++mismatches;
  }
  std::cout << GetParam() << ": strings tried " << tried << ", mismatches " << mismatches
            << std::endl;
  EXPECT_GT(tried, 300);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureTest,
                         ::testing::Values("gpt2", "llama3", "qwen2", "smollm2", "llama2",
                                           "mistral", "gemma"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::tokenizer
