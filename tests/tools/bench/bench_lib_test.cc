// Workload parsing, prompt ids of exact length, and the statistics of
// tools/bench.
#include <gtest/gtest.h>

#include "runtime/tokenizer/load.h"
#include "tools/bench/measure.h"
#include "tools/bench/workload.h"

namespace kiln::bench {
namespace {

TEST(PercentileTest, NearestRankIsOrderedAndMeasured) {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);  // unsorted on purpose
  EXPECT_EQ(Percentile(v, 50), 50);
  EXPECT_EQ(Percentile(v, 90), 90);
  EXPECT_EQ(Percentile(v, 99), 99);
  EXPECT_EQ(Percentile(v, 100), 100);
  EXPECT_EQ(Percentile(v, 0), 1);
  EXPECT_EQ(Percentile({3.5}, 99), 3.5);
  EXPECT_EQ(Percentile({}, 50), 0);
}

TEST(SpreadTest, MedianOfEvenCountAveragesTheMiddle) {
  nlohmann::json s = Spread({4, 1, 3, 2});
  EXPECT_EQ(s["median"], 2.5);
  EXPECT_EQ(s["min"], 1);
  EXPECT_EQ(s["max"], 4);
  EXPECT_EQ(s["n"], 4);
  EXPECT_TRUE(Spread({})["median"].is_null());
}

TEST(WorkloadTest, CasesAreTheProductInOrder) {
  absl::StatusOr<Workload> w = ParseWorkload(
      R"({"name": "w", "prompt_texts": ["a b c"], "prompt_tokens": [4, 8],
          "new_tokens": [2], "batch_sizes": [1, 2],
          "sampling": {"do_sample": true, "temperature": 0.7, "seed": 5}, "reps": 2})",
      ".");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->cases.size(), 4u);
  EXPECT_EQ(w->cases[0].name, "p4_n2_b1");
  EXPECT_EQ(w->cases[1].name, "p4_n2_b2");
  EXPECT_EQ(w->cases[3].name, "p8_n2_b2");
  EXPECT_TRUE(w->sampling.do_sample);
  EXPECT_EQ(w->sampling.temperature, 0.7);
  EXPECT_EQ(w->sampling.seed, 5u);
  EXPECT_EQ(w->reps, 2);
  EXPECT_EQ(w->warmup, 1);
}

TEST(WorkloadTest, BadFieldsAreNamed) {
  struct Case {
    const char* json;
    const char* names;
  } cases[] = {
      {R"({"prompt_texts": ["a"]})", "\"name\""},
      {R"({"name": "w"})", "prompt_texts"},
      {R"({"name": "w", "prompt_texts": ["a"], "new_tokens": [0]})", "\"new_tokens\""},
      {R"({"name": "w", "prompt_texts": ["a"], "batch_sizes": []})", "\"batch_sizes\""},
      {R"({"name": "w", "prompt_texts": ["a"], "prompt_tokens": [-1]})", "\"prompt_tokens\""},
      {R"({"name": "w", "prompt_texts": ["a"], "reps": 0})", "\"reps\""},
      {R"({"name": "w", "prompt_texts": ["a"], "sampling": {"temperature": "hot"}})", "\"sampling\""},
      {R"({"name": "w", "prompts": "missing.jsonl"})", "missing.jsonl"},
      {"not json", "not a JSON object"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Workload> w = ParseWorkload(c.json, "/nonexistent");
    ASSERT_FALSE(w.ok()) << c.json;
    EXPECT_NE(std::string(w.status().message()).find(c.names), std::string::npos) << w.status();
  }
}

TEST(WorkloadTest, PromptIdsHaveTheExactLengthAndDifferPerRun) {
  auto tok = tokenizer::LoadTokenizer("tests/fixtures/tokenizers/bytes256/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.status();
  absl::StatusOr<Workload> w = ParseWorkload(
      R"({"name": "w", "prompt_texts": ["one two", "three four five", "six"],
          "prompt_tokens": [5, 25, 0]})",
      ".");
  ASSERT_TRUE(w.ok()) << w.status();
  auto five = PromptIds(*w, w->cases[0], 0, **tok);
  ASSERT_TRUE(five.ok()) << five.status();
  EXPECT_EQ(five->size(), 5u);
  // 25 byte tokens need every prompt, joined from run 1's, wrapping around.
  auto joined = PromptIds(*w, w->cases[1], 1, **tok);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(joined->size(), 25u);
  EXPECT_EQ((*joined)[0], 't');
  // Length 0: each prompt as written.
  auto natural = PromptIds(*w, w->cases[2], 2, **tok);
  ASSERT_TRUE(natural.ok()) << natural.status();
  EXPECT_EQ(natural->size(), 3u);
  // More tokens than the prompts hold, joined: a clear error.
  absl::StatusOr<Workload> tiny = ParseWorkload(
      R"({"name": "t", "prompt_texts": ["ab"], "prompt_tokens": [100]})", ".");
  ASSERT_TRUE(tiny.ok());
  auto missing = PromptIds(*tiny, tiny->cases[0], 0, **tok);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.status().message()).find("needs 100"), std::string::npos);
}

}  // namespace
}  // namespace kiln::bench
