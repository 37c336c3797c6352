// Hostile or broken vocabularies and inputs give clear errors (or, for
// input text, the documented replacement), never a crash.
#include <cstring>
#include <limits>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/load.h"
#include "runtime/tokenizer/tokenizer_json.h"

namespace kiln::tokenizer {
namespace {

using Json = nlohmann::json;

// A small SentencePiece-style BPE tokenizer.json to vary.
Json SpmJson() {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"<0x41>", 3}, {"<0xC3>", 4},
                {"<0xA9>", 5}, {"\xE2\x96\x81", 6}, {"a", 7}, {"b", 8}, {"ab", 9},
                {"\xE2\x96\x81" "ab", 10}};
  return {
      {"model",
       {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "\xE2\x96\x81 ab"}},
        {"byte_fallback", true}, {"unk_token", "<unk>"}, {"fuse_unk", true}}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
          {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"added_tokens",
       {{{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}}}},
  };
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Parse(const Json& j) {
  return ParseTokenizerJson(j.dump(), "test.json");
}

::testing::AssertionResult FailsWith(const absl::Status& s, const std::string& text) {
  if (s.ok()) return ::testing::AssertionFailure() << "succeeded; expected \"" << text << "\"";
  if (std::string(s.message()).find(text) == std::string::npos) {
    return ::testing::AssertionFailure() << "error \"" << s.message() << "\" lacks \"" << text << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(HostileVocabTest, BaseTokenizerWorks) {
  auto tok = Parse(SpmJson());
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Encode("ab", false), (std::vector<int32_t>{10}));
  // 'é' is not a token: its bytes <0xC3><0xA9>; 'Z' has no byte token: <unk>.
  EXPECT_EQ(*(*tok)->Encode("\xC3\xA9", false), (std::vector<int32_t>{6, 4, 5}));
  EXPECT_EQ(*(*tok)->Encode("ZZ", false), (std::vector<int32_t>{6, 0}));
  EXPECT_EQ(*(*tok)->Decode(std::vector<int32_t>{10, 4, 5}, false), "ab\xC3\xA9");
}

TEST(HostileVocabTest, MalformedByteTokensAreOrdinaryTokens) {
  Json j = SpmJson();
  j["model"]["vocab"]["<0x-1>"] = 11;
  j["model"]["vocab"]["<0xZZ>"] = 12;
  j["model"]["vocab"]["<0x>"] = 13;
  auto tok = Parse(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // Decoded as their text, not as bytes.
  EXPECT_EQ(*(*tok)->Decode(std::vector<int32_t>{7, 11, 12, 13}, false), "a<0x-1><0xZZ><0x>");
}

TEST(HostileVocabTest, BadVocabulariesAreErrors) {
  Json j = SpmJson();
  j["model"]["vocab"][std::string(5000, 'x')] = 11;
  EXPECT_TRUE(FailsWith(Parse(j).status(), "longer than 4096 bytes"));

  j = SpmJson();
  j["model"]["vocab"]["big"] = 2000000000;
  EXPECT_TRUE(FailsWith(Parse(j).status(), "outside [0,"));

  j = SpmJson();
  j["model"]["vocab"]["sparse"] = 100000;
  EXPECT_TRUE(FailsWith(Parse(j).status(), "too sparse"));

  j = SpmJson();
  j["model"]["vocab"]["neg"] = -1;
  EXPECT_TRUE(FailsWith(Parse(j).status(), "has id -1"));

  j = SpmJson();
  j["model"]["vocab"]["dup"] = 7;
  EXPECT_TRUE(FailsWith(Parse(j).status(), "id 7 is given to both"));

  j = SpmJson();
  j["model"]["vocab"]["str"] = "7";
  EXPECT_TRUE(FailsWith(Parse(j).status(), "must be an integer"));
}

// Ids that disagree with themselves are refused, naming the tokens and ids
// (issue: fuzzing found such files loading and encoding to ids no token has).
TEST(HostileVocabTest, InconsistentIdsAreErrors) {
  Json j = SpmJson();
  j["added_tokens"].push_back({{"id", 1}, {"content", "<bos>"}, {"special", true}});
  EXPECT_TRUE(FailsWith(Parse(j).status(), "added tokens \"<s>\" and \"<bos>\" both have id 1"));
  j = SpmJson();
  j["added_tokens"][0]["id"] = 2;
  EXPECT_TRUE(FailsWith(Parse(j).status(),
                        "added token \"<s>\" has id 2 but the model's vocabulary gives it id 1"));
  j = SpmJson();
  j["added_tokens"].push_back({{"id", 7}, {"content", "[INST]"}, {"special", true}});
  EXPECT_TRUE(
      FailsWith(Parse(j).status(),
                "added token \"[INST]\" has id 7, which the model's vocabulary gives to \"a\""));
  // Past the vocabulary, an added token is fine; the same token listed twice too.
  j = SpmJson();
  j["added_tokens"].push_back({{"id", 20}, {"content", "[INST]"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 20}, {"content", "[INST]"}, {"special", true}});
  EXPECT_TRUE(Parse(j).ok()) << Parse(j).status();
  // A template's special token must have a token at its id; its key is only
  // a label, as in Hugging Face, so id 2 is used as given.
  j = SpmJson();
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}}}}, {{"Sequence", {{"id", "A"}}}}}},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {2}}, {"tokens", {"<s>"}}}}}}};
  auto relabelled = Parse(j);
  ASSERT_TRUE(relabelled.ok()) << relabelled.status();
  EXPECT_EQ(*(*relabelled)->Encode("ab", true), (std::vector<int32_t>{2, 10}));
  j["post_processor"]["special_tokens"]["<s>"]["ids"] = {40};
  EXPECT_TRUE(
      FailsWith(Parse(j).status(), "(id 40) is no token's id (the vocabulary's ids end at 11)"));
  j["post_processor"]["special_tokens"]["<s>"]["ids"] = {1};
  auto tok = Parse(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Encode("ab", true), (std::vector<int32_t>{1, 10}));
}

// A tokenizer fits a model when every id past the model's logits is a
// special added token (Llama-2's <pad> at 32000 of 32000 logits).
TEST(HostileVocabTest, SpecialTokensPastTheLogitsFit) {
  Json j = SpmJson();
  j["added_tokens"].push_back({{"id", 11}, {"content", "<pad>"}, {"special", true}});
  auto tok = Parse(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_TRUE(CheckTokenizerFitsModel(**tok, 11).ok());
  EXPECT_TRUE(CheckTokenizerFitsModel(**tok, 12).ok());
  EXPECT_TRUE(FailsWith(CheckTokenizerFitsModel(**tok, 10),
                        "the tokenizer has ids up to 11 but the model only 10 logits, and token "
                        "\"\xE2\x96\x81"
                        "ab\" (id 10) past them is not a special token"));
  j["added_tokens"].back()["special"] = false;
  tok = Parse(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_TRUE(FailsWith(CheckTokenizerFitsModel(**tok, 11), "<pad>\" (id 11) past them"));
  // A post-processor id past the logits would be in every prompt.
  j = SpmJson();
  j["added_tokens"].push_back({{"id", 11}, {"content", "<bos>"}, {"special", true}});
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<bos>"}}}}, {{"Sequence", {{"id", "A"}}}}}},
      {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {11}}, {"tokens", {"<bos>"}}}}}}};
  tok = Parse(j);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_TRUE(FailsWith(CheckTokenizerFitsModel(**tok, 11),
                        "the tokenizer adds token \"<bos>\" (id 11) to every prompt, but the model "
                        "only has 11 logits"));
}

TEST(HostileVocabTest, BadMergesAreErrors) {
  Json j = SpmJson();
  j["model"]["merges"].push_back("a nothere");
  EXPECT_TRUE(FailsWith(Parse(j).status(), "\"nothere\", which is not in the vocabulary"));

  j = SpmJson();
  j["model"]["merges"].push_back("b a");  // "ba" is not a token.
  EXPECT_TRUE(FailsWith(Parse(j).status(), "makes \"ba\", which is not in the vocabulary"));

  j = SpmJson();
  j["model"]["merges"].push_back("a b c");
  EXPECT_TRUE(FailsWith(Parse(j).status(), "is not two tokens split by one space"));

  j = SpmJson();
  j["model"]["merges"].push_back(Json::array({"a"}));
  EXPECT_TRUE(FailsWith(Parse(j).status(), "must be \"a b\" or [\"a\", \"b\"]"));

  j = SpmJson();
  j["model"]["merges"].push_back(std::string(1 << 20, 'a') + " b");
  EXPECT_TRUE(FailsWith(Parse(j).status(), "which is not in the vocabulary"));
}

TEST(HostileVocabTest, BadFilesAreErrors) {
  EXPECT_TRUE(FailsWith(ParseTokenizerJson("{not json", "t.json").status(), "not valid JSON"));
  EXPECT_TRUE(FailsWith(ParseTokenizerJson("[1]", "t.json").status(), "not a JSON object"));
  EXPECT_TRUE(FailsWith(ParseTokenizerJson("{}", "t.json").status(), "model: missing"));
  Json j = SpmJson();
  j["model"]["type"] = "Unigram";
  EXPECT_EQ(Parse(j).status().code(), absl::StatusCode::kUnimplemented);
  j = SpmJson();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}},
                        {"behavior", "Isolated"}};
  EXPECT_TRUE(FailsWith(Parse(j).status(), "cannot compile regex"));
  j = SpmJson();
  j["added_tokens"].push_back({{"id", 1 << 30}, {"content", "x"}});
  EXPECT_TRUE(FailsWith(Parse(j).status(), "out of range"));
  EXPECT_EQ(LoadTokenizer("/nonexistent/tokenizer.json").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(HostileInputTest, InvalidUtf8BecomesReplacementCharacter) {
  auto tok = Parse(SpmJson());
  ASSERT_TRUE(tok.ok());
  // U+FFFD is not in this vocabulary and has no byte tokens: <unk>.
  EXPECT_EQ(*(*tok)->Encode("ab\xFF" "ab", false), *(*tok)->Encode("ab\xEF\xBF\xBD" "ab", false));
  EXPECT_EQ(*(*tok)->Encode("\xC3", false), *(*tok)->Encode("\xEF\xBF\xBD", false));
  EXPECT_EQ(*(*tok)->Encode("\xED\xA0\x80", false),
            *(*tok)->Encode("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", false));
}

TEST(HostileInputTest, BadIdsAreErrors) {
  auto tok = Parse(SpmJson());
  ASSERT_TRUE(tok.ok());
  for (int32_t id : {-1, (*tok)->vocab_size(), std::numeric_limits<int32_t>::max()}) {
    EXPECT_TRUE(FailsWith((*tok)->Decode(std::vector<int32_t>{7, id}, false).status(),
                          "is not in the vocabulary"));
  }
}

TEST(HostileInputTest, DecodeIntoNeverOverflows) {
  auto tok = Parse(SpmJson());
  ASSERT_TRUE(tok.ok());
  const std::vector<int32_t> ids = {10, 10, 10};  // " ab ab ab" -> "ab ab ab" (8 bytes).
  char buffer[16];
  std::memset(buffer, '#', sizeof(buffer));
  auto small = (*tok)->DecodeInto(ids, false, buffer, 7);
  EXPECT_EQ(small.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(FailsWith(small.status(), "needs 8 bytes"));
  for (char c : buffer) EXPECT_EQ(c, '#');
  auto fits = (*tok)->DecodeInto(ids, false, buffer, 8);
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(std::string(buffer, *fits), "ab ab ab");
  EXPECT_EQ(buffer[8], '#');
  auto empty = (*tok)->DecodeInto({}, false, nullptr, 0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, 0u);
}

}  // namespace
}  // namespace kiln::tokenizer
