// The real-model rule (tools/bench/greedy_parity.h) and kiln-greedy-parity
// end to end: the llama3 fixture compiled for the cpu target against a
// trace made from Transformers' own greedy run of it (the fixture's
// expected.safetensors), then against a trace with one token no sane
// engine would pick.
#include "tools/bench/greedy_parity.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/support/hf_fixture.h"

namespace kiln::bench {
namespace {

GreedyRun MakeRun(std::vector<int32_t> tokens, std::vector<std::vector<int32_t>> top) {
  return {{1, 2, 3}, std::move(tokens), std::move(top), {}};
}

TEST(GreedyParityTest, TopKIsBestFirstWithTiesToTheLowerId) {
  const std::vector<float> logits = {0.5f, 2.0f, -1.0f, 2.0f, 7.0f, 0.5f};
  EXPECT_EQ(TopK(logits, 5), (std::vector<int32_t>{4, 1, 3, 0, 5}));
  EXPECT_EQ(TopK(logits, 10).size(), 6u);
  const std::vector<float> with_nan = {1.0f, std::nanf(""), 3.0f, 2.0f};
  EXPECT_EQ(TopK(with_nan, 4), (std::vector<int32_t>{2, 3, 0, 1}));
}

TEST(GreedyParityTest, TheRealModelRule) {
  const std::vector<int32_t> a = {10, 11, 12, 13, 14}, b = {20, 11, 12, 13, 14};
  // Equal runs pass with every token matched.
  absl::StatusOr<ParityVerdict> v =
      CompareGreedy(MakeRun({10, 10}, {a, a}), MakeRun({10, 10}, {a, a}));
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok);
  EXPECT_EQ(v->matched, 2);
  EXPECT_EQ(v->diverged, -1);
  // A flip between near-ties: each token in the other's top-5; then stop,
  // whatever follows.
  const std::vector<int32_t> d = {11, 20, 1, 2, 3};
  v = CompareGreedy(MakeRun({10, 11, 99}, {a, d, a}), MakeRun({10, 20, 5}, {a, b, a}));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->detail;
  EXPECT_EQ(v->matched, 1);
  EXPECT_EQ(v->diverged, 1);
  // Kiln's token outside the reference's top-5 fails, and the other way.
  const std::vector<int32_t> c = {30, 31, 32, 33, 34};
  v = CompareGreedy(MakeRun({10, 11}, {a, a}), MakeRun({10, 30}, {a, c}));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_NE(v->detail.find("Kiln 11 (NOT in the reference's top-5"), std::string::npos)
      << v->detail;
  v = CompareGreedy(MakeRun({10, 11}, {a, a}), MakeRun({10, 30}, {a, {30, 11, 1, 2, 3}}));
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
  EXPECT_NE(v->detail.find("reference 30 (NOT in Kiln's top-5"), std::string::npos) << v->detail;
  // Runs that cannot be compared are errors, not verdicts.
  EXPECT_FALSE(CompareGreedy(MakeRun({10}, {a}), MakeRun({10, 10}, {a, a})).ok());
  EXPECT_FALSE(CompareGreedy(MakeRun({10}, {{10, 11}}), MakeRun({10}, {{10, 11}})).ok());
}

TEST(GreedyParityTest, TracesReadBackAndBadOnesAreRefused) {
  GreedyTrace t{"transformers 5.0 bfloat16 cuda",
                {MakeRun({7, 8}, {{7, 1, 2, 3, 4}, {8, 1, 2, 3, 4}})}};
  absl::StatusOr<GreedyTrace> back = ParseGreedyTrace(GreedyTraceJson(t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->source, t.source);
  ASSERT_EQ(back->runs.size(), 1u);
  EXPECT_EQ(back->runs[0].prompt, t.runs[0].prompt);
  EXPECT_EQ(back->runs[0].tokens, t.runs[0].tokens);
  EXPECT_EQ(back->runs[0].top, t.runs[0].top);
  EXPECT_TRUE(back->runs[0].top_logits.empty());
  // The optional top logits read back, one list per step.
  t.runs[0].top_logits = {{2.5f, 1.0f, 0.5f, 0.25f, -1.0f}, {3.0f, 2.0f, 1.0f, 0.0f, -0.5f}};
  back = ParseGreedyTrace(GreedyTraceJson(t));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->runs[0].top_logits, t.runs[0].top_logits);
  for (const char* bad :
       {"[]", "{}", R"({"runs": [{"prompt": [], "tokens": [], "top": []}]})",
        R"({"runs": [{"prompt": [1], "tokens": [2], "top": []}]})",
        R"({"runs": [{"prompt": [1], "tokens": [], "top": []}]})",
        R"({"runs": [{"prompt": [-1], "tokens": [], "top": []}]})",
        R"({"runs": [{"prompt": [1], "tokens": [2], "top": [["x"]]}]})",
        R"({"runs": [{"prompt": [1], "tokens": [2], "top": [[2]], "top_logits": []}]})",
        R"({"runs": [{"prompt": [1], "tokens": [2], "top": [[2]], "top_logits": [["x"]]}]})",
        R"({"runs": [{"prompt": [1], "tokens": [2], "top": [[2]], "top_logits": [[1, 2]]}]})"}) {
    EXPECT_EQ(ParseGreedyTrace(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Transformers' greedy run of the fixture as a trace: step 0 from the
// prompt's last logits, step i from decode step i - 1.
GreedyTrace FixtureTrace(const testing::HfExpected& e) {
  GreedyRun run{e.prompt, e.tokens, {}, {}};
  const int64_t vocab = e.prefill_logits.shape.back();
  const auto row = [&](const HostTensor& t, int64_t r) {
    return TopK(std::span<const float>(t.floats.data() + r * vocab, static_cast<size_t>(vocab)),
                kParityTopK);
  };
  run.top.push_back(row(e.prefill_logits, e.prefill_logits.shape[0] - 1));
  for (int64_t s = 0; s + 1 < static_cast<int64_t>(e.tokens.size()); ++s) {
    run.top.push_back(row(e.decode_logits, s));
  }
  return {"transformers (fixture)", {run}};
}

TEST(GreedyParityToolTest, FixtureEngineAgainstTransformersTrace) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::string fixture = "tests/fixtures/models/llama3/f32";
  const std::string engine = tmp + "/llama3.engine";
  ASSERT_EQ(std::system(("tools/compile-model --model " + fixture + " --out " + engine +
                         " --max-seq 32 --buckets 16 --tokenizer "
                         "tests/fixtures/tokenizers/bytes256/tokenizer.json 2>" +
                         tmp + "/compile.log")
                            .c_str()),
            0)
      << Slurp(tmp + "/compile.log");
  absl::StatusOr<testing::HfExpected> expected = testing::ReadHfExpected(fixture);
  ASSERT_TRUE(expected.ok()) << expected.status();
  GreedyTrace trace = FixtureTrace(*expected);
  std::ofstream(tmp + "/hf.json") << GreedyTraceJson(trace);
  const std::string tool = "tools/bench/kiln-greedy-parity --engine " + engine + " --reference ";
  EXPECT_EQ(
      std::system(
          (tool + tmp + "/hf.json --out " + tmp + "/kiln.json >" + tmp + "/ok.log 2>&1").c_str()),
      0)
      << Slurp(tmp + "/ok.log");
  EXPECT_NE(Slurp(tmp + "/ok.log").find("all 9 tokens equal"), std::string::npos)
      << Slurp(tmp + "/ok.log");
  absl::StatusOr<GreedyTrace> ours = ParseGreedyTrace(Slurp(tmp + "/kiln.json"));
  ASSERT_TRUE(ours.ok()) << ours.status();
  EXPECT_EQ(ours->runs.at(0).tokens, expected->tokens);

  // Step 4's reference token replaced by the fixture's least likely one
  // there: outside Kiln's top-5, so the rule fails and says where.
  GreedyRun& run = trace.runs[0];
  const int64_t vocab = expected->decode_logits.shape.back();
  const std::vector<int32_t> all =
      TopK(std::span<const float>(expected->decode_logits.floats.data() + 3 * vocab,
                                  static_cast<size_t>(vocab)),
           static_cast<int>(vocab));
  run.tokens[4] = all.back();
  run.top[4] = {all.back(), all[vocab - 2], all[vocab - 3], all[vocab - 4], all[vocab - 5]};
  std::ofstream(tmp + "/bad.json") << GreedyTraceJson(trace);
  EXPECT_NE(std::system((tool + tmp + "/bad.json >" + tmp + "/bad.log 2>&1").c_str()), 0);
  const std::string bad = Slurp(tmp + "/bad.log");
  EXPECT_NE(bad.find("differs at step 4"), std::string::npos) << bad;
  EXPECT_NE(bad.find("broke the real-model rule"), std::string::npos) << bad;
}

}  // namespace
}  // namespace kiln::bench
