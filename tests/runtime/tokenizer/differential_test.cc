// Live differential test against HF tokenizers: a Python driver
// (tools/reference/tokenizer_differential.py) encodes random strings (mixed
// scripts, emoji ZWJ sequences, combining marks, runs of spaces, newlines and
// digits, special-token look-alikes) with HF, and Kiln must give identical
// ids for every one.
//
// The interpreter: $KILN_TOKENIZERS_PYTHON, else /root/.cache/kiln-ref/bin/python
// (needs the PyPI `tokenizers` package). Without one the test fails with
// instructions; it never skips. $KILN_DIFF_SEED and $KILN_DIFF_COUNT vary
// the strings (defaults 1 and 2000).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/tokenizer/tokenizer_json.h"
#include "third_party/references/reference_files.h"

namespace kiln::tokenizer {
namespace {

using Json = nlohmann::json;

std::string Env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : fallback;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string Python() {
  return Env("KILN_TOKENIZERS_PYTHON", "/root/.cache/kiln-ref/bin/python");
}

std::string TempDir() { return Env("TEST_TMPDIR", "/tmp"); }

// Runs the driver with `source_args`; returns the JSONL path.
std::string RunDriver(const std::string& name, const std::string& source_args) {
  const std::string out = TempDir() + "/diff_" + name + ".jsonl";
  const std::string cmd = "'" + Python() + "' tools/reference/tokenizer_differential.py " +
                          source_args + " --seed " + Env("KILN_DIFF_SEED", "1") + " --count " +
                          Env("KILN_DIFF_COUNT", "2000") + " --out '" + out + "'";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "driver failed: " << cmd;
  return out;
}

void Compare(const std::string& name, const std::string& tokenizer_json,
             const std::string& jsonl) {
  auto tok = LoadTokenizerJson(tokenizer_json);
  ASSERT_TRUE(tok.ok()) << tok.status();
  std::ifstream f(jsonl);
  int tried = 0, mismatches = 0;
  for (std::string line; std::getline(f, line);) {
    const Json c = Json::parse(line);
    const std::string text = c["text"].get<std::string>();
    auto plain = (*tok)->Encode(text, false);
    auto special = (*tok)->Encode(text, true);
    ASSERT_TRUE(plain.ok() && special.ok());
    ++tried;
    const bool ok = *plain == c["ids"].get<std::vector<int32_t>>() &&
                    *special == c["ids_with_special"].get<std::vector<int32_t>>();
    if (!ok && ++mismatches <= 5) ADD_FAILURE() << name << " differs on " << Json(text).dump();
  }
  std::cout << name << ": strings tried " << tried << ", mismatches " << mismatches << std::endl;
  EXPECT_GT(tried, 1000);
  EXPECT_EQ(mismatches, 0);
}

class DifferentialTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Exists(Python()))
        << "no Python with HF tokenizers at " << Python()
        << ": make a venv with `pip install tokenizers` and set KILN_TOKENIZERS_PYTHON "
           "(bazel test --test_env=KILN_TOKENIZERS_PYTHON=/path/to/python)";
  }
};

TEST_F(DifferentialTest, CommittedFixtures) {
  for (const char* name : {"gpt2", "llama3", "qwen2", "smollm2", "llama2", "mistral", "gemma"}) {
    const std::string path = std::string("tests/fixtures/tokenizers/") + name + "/tokenizer.json";
    Compare(name, path, RunDriver(name, "--tokenizer " + path));
  }
}

TEST_F(DifferentialTest, WordllamaLlama2) {
  auto path = ReferenceFile("wordllama", "l2_supercat_tokenizer_config.json");
  ASSERT_TRUE(path.ok()) << path.status();
  Compare("wordllama-llama2", *path, RunDriver("wordllama", "--tokenizer " + *path));
}

TEST_F(DifferentialTest, WhisperGpt2) {
  auto vocab = ReferenceFile("whisper_gpt2", "vocab.json");
  auto merges = ReferenceFile("whisper_gpt2", "merges.txt");
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  ASSERT_TRUE(merges.ok()) << merges.status();
  const std::string saved = TempDir() + "/whisper_gpt2_tokenizer.json";
  const std::string jsonl =
      RunDriver("whisper_gpt2", "--gpt2 " + *vocab + " " + *merges + " --save-tokenizer " + saved);
  Compare("whisper-gpt2", saved, jsonl);
}

}  // namespace
}  // namespace kiln::tokenizer
