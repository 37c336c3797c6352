// llama.cpp's vocabulary tests: each ggml-vocab-<name>.gguf ships .inp test
// strings (separated by "\n__ggml_vocab_test__\n") and .out expected ids,
// which llama.cpp generated with Hugging Face tokenizers (add_special_tokens
// off). Kiln, reading the vocabulary from GGUF metadata, must give every id.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "runtime/tokenizer/gguf_vocab.h"
#include "third_party/references/reference_files.h"

namespace kiln::tokenizer {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The inputs, split as llama.cpp's test-tokenizer-0 does (nothing after a
// final separator).
std::vector<std::string> SplitInputs(const std::string& raw) {
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < raw.size()) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      out.push_back(raw.substr(pos));
      break;
    }
    out.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  return out;
}

std::vector<std::vector<int32_t>> ParseOutputs(const std::string& raw) {
  std::vector<std::vector<int32_t>> out;
  std::stringstream ss(raw);
  for (std::string line; std::getline(ss, line);) {
    std::vector<int32_t> ids;
    for (absl::string_view t : absl::StrSplit(line, ' ', absl::SkipWhitespace())) {
      int32_t id;
      if (absl::SimpleAtoi(t, &id)) ids.push_back(id);
    }
    out.push_back(std::move(ids));
  }
  return out;
}

class LlamaCppVocabTest : public ::testing::TestWithParam<std::string> {};

TEST_P(LlamaCppVocabTest, MatchesExpectedIds) {
  const std::string name = "ggml-vocab-" + GetParam() + ".gguf";
  auto gguf = ReferenceFile("llama_cpp_vocab", name);
  auto inp = ReferenceFile("llama_cpp_vocab", name + ".inp");
  auto out = ReferenceFile("llama_cpp_vocab", name + ".out");
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  ASSERT_TRUE(inp.ok()) << inp.status();
  ASSERT_TRUE(out.ok()) << out.status();
  auto tok = LoadGgufTokenizer(*gguf);
  ASSERT_TRUE(tok.ok()) << tok.status();
  const std::vector<std::string> inputs = SplitInputs(Slurp(*inp));
  const std::vector<std::vector<int32_t>> expected = ParseOutputs(Slurp(*out));
  ASSERT_EQ(inputs.size(), expected.size());
  int matches = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto ids = (*tok)->Encode(inputs[i], /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status();
    EXPECT_EQ(*ids, expected[i]) << name << " input " << i << ": \"" << inputs[i] << "\"";
    if (*ids == expected[i]) ++matches;
  }
  std::cout << name << ": exact " << matches << " / " << inputs.size() << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Vocabs, LlamaCppVocabTest,
                         ::testing::Values("llama-spm", "llama-bpe", "gpt-2", "qwen2", "phi-3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace kiln::tokenizer
