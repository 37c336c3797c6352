// GGUF vocabularies that are broken or hostile give clear errors; a small
// valid one tokenizes as llama.cpp would.
#include "runtime/tokenizer/gguf_vocab.h"

#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/gguf.h"

namespace kiln::tokenizer {
namespace {

// A minimal GGUF v3 writer (metadata only), written from the spec.
class Writer {
 public:
  Writer& Str(const std::string& key, const std::string& v) { return Kv(key, 8, S(v)); }
  Writer& U32(const std::string& key, uint32_t v) { return Kv(key, 4, Le(v, 4)); }
  Writer& Bool(const std::string& key, bool v) { return Kv(key, 7, std::string(1, v ? 1 : 0)); }
  Writer& Strs(const std::string& key, const std::vector<std::string>& v) {
    std::string e;
    for (const auto& s : v) e += S(s);
    return Arr(key, 8, v.size(), e);
  }
  Writer& I32s(const std::string& key, const std::vector<int32_t>& v) {
    std::string e;
    for (int32_t x : v) e += Le(static_cast<uint32_t>(x), 4);
    return Arr(key, 5, v.size(), e);
  }
  Writer& F32s(const std::string& key, const std::vector<float>& v) {
    std::string e;
    for (float x : v) {
      uint32_t u;
      std::memcpy(&u, &x, 4);
      e += Le(u, 4);
    }
    return Arr(key, 6, v.size(), e);
  }
  std::string Build() const { return "GGUF" + Le(3, 4) + Le(0, 8) + Le(n_, 8) + kv_; }

 private:
  static std::string Le(uint64_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return s;
  }
  static std::string S(const std::string& s) { return Le(s.size(), 8) + s; }
  Writer& Kv(const std::string& key, uint32_t type, const std::string& value) {
    kv_ += S(key) + Le(type, 4) + value;
    ++n_;
    return *this;
  }
  Writer& Arr(const std::string& key, uint32_t type, uint64_t count, const std::string& e) {
    return Kv(key, 9, Le(type, 4) + Le(count, 8) + e);
  }
  std::string kv_;
  uint64_t n_ = 0;
};

const std::vector<std::string> kTokens = {"<unk>", "<s>", "</s>", "<0x41>", "\xE2\x96\x81",
                                          "a", "b", "ab", "\xE2\x96\x81" "ab"};

Writer SpmVocab() {
  Writer w;
  w.Str("tokenizer.ggml.model", "llama")
      .Strs("tokenizer.ggml.tokens", kTokens)
      .F32s("tokenizer.ggml.scores", {0, 0, 0, 0, -1, -2, -3, -1.5f, -1})
      .I32s("tokenizer.ggml.token_type", {2, 3, 3, 6, 1, 1, 1, 1, 1})
      .U32("tokenizer.ggml.bos_token_id", 1)
      .U32("tokenizer.ggml.eos_token_id", 2)
      .U32("tokenizer.ggml.unknown_token_id", 0);
  return w;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const std::string& bytes) {
  auto file = GgufFile::OpenBytes(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
      "vocab.gguf");
  if (!file.ok()) return file.status();
  return LoadGgufTokenizer(**file);
}

::testing::AssertionResult FailsWith(const absl::Status& s, const std::string& text) {
  if (s.ok()) return ::testing::AssertionFailure() << "succeeded; expected \"" << text << "\"";
  if (std::string(s.message()).find(text) == std::string::npos) {
    return ::testing::AssertionFailure() << "error \"" << s.message() << "\" lacks \"" << text << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(GgufVocabTest, SpmVocabularyTokenizes) {
  const std::string bytes = SpmVocab().Build();
  auto tok = Load(bytes);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(*(*tok)->Encode("ab", false), (std::vector<int32_t>{8}));
  EXPECT_EQ(*(*tok)->Encode("ab", true), (std::vector<int32_t>{1, 8}));
  // 'A' falls back to <0x41>; 'Z' has no byte token: <unk>.
  EXPECT_EQ(*(*tok)->Encode("A Z", false), (std::vector<int32_t>{4, 3, 4, 0}));
  EXPECT_EQ(*(*tok)->Decode(std::vector<int32_t>{1, 8, 3}, true), "abA");
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
}

TEST(GgufVocabTest, BrokenVocabulariesAreErrors) {
  Writer w;
  w.Strs("tokenizer.ggml.tokens", kTokens);
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "tokenizer.ggml.model"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "bert").Strs("tokenizer.ggml.tokens", kTokens);
  EXPECT_EQ(Load(w.Build()).status().code(), absl::StatusCode::kUnimplemented);

  w = SpmVocab();
  w.U32("tokenizer.ggml.padding_token_id", 9);
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "outside the 9-token vocabulary"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", kTokens)
      .F32s("tokenizer.ggml.scores", {0, 0, 0});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "3 scores for 9 tokens"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", kTokens)
      .F32s("tokenizer.ggml.scores", std::vector<float>(9, __builtin_nanf("")));
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "is NaN"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", kTokens)
      .I32s("tokenizer.ggml.token_type", {1, 1});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "2 entries for 9 tokens"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", kTokens)
      .I32s("tokenizer.ggml.token_type", {1, 1, 1, 1, 1, 1, 1, 1, 99});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "unknown type 99"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", {"a", "b", "a"});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "appears twice"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "llama").Strs("tokenizer.ggml.tokens", {std::string(5000, 'x')});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "longer than 4096 bytes"));
}

TEST(GgufVocabTest, BrokenBpeVocabulariesAreErrors) {
  const std::vector<std::string> tokens = {"a", "b", "ab"};
  Writer w;
  w.Str("tokenizer.ggml.model", "gpt2").Strs("tokenizer.ggml.tokens", tokens)
      .Strs("tokenizer.ggml.merges", {"a b"}).Str("tokenizer.ggml.pre", "gpt-2");
  auto ok = Load(w.Build());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*(*ok)->Encode("ab", false), (std::vector<int32_t>{2}));

  w = Writer();
  w.Str("tokenizer.ggml.model", "gpt2").Strs("tokenizer.ggml.tokens", tokens)
      .Strs("tokenizer.ggml.merges", {"a zz"});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "not in the vocabulary"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "gpt2").Strs("tokenizer.ggml.tokens", tokens)
      .Strs("tokenizer.ggml.merges", {"ab"});
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "not two tokens split by one space"));

  w = Writer();
  w.Str("tokenizer.ggml.model", "gpt2").Strs("tokenizer.ggml.tokens", tokens)
      .Strs("tokenizer.ggml.merges", {"a b"}).Str("tokenizer.ggml.pre", "mystery");
  EXPECT_EQ(Load(w.Build()).status().code(), absl::StatusCode::kUnimplemented);

  w = Writer();
  w.Str("tokenizer.ggml.model", "gpt2").Strs("tokenizer.ggml.tokens", tokens);
  EXPECT_TRUE(FailsWith(Load(w.Build()).status(), "tokenizer.ggml.merges"));
}

TEST(GgufVocabTest, HostileHeadersAreErrors) {
  // A token array declaring more strings than the file holds: the reader
  // refuses it before allocating anything.
  std::string bytes = SpmVocab().Build();
  const std::string key = "tokenizer.ggml.tokens";
  const size_t at = bytes.find(key) + key.size() + 4 + 4;  // Past type tag and element type.
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>(0xFF);
  EXPECT_FALSE(Load(bytes).ok());
  EXPECT_FALSE(Load("GGUF").ok());
  EXPECT_FALSE(Load("").ok());
}

}  // namespace
}  // namespace kiln::tokenizer
