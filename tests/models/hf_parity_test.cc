// The four families against Hugging Face Transformers: tiny random-weight
// models built from their config.json and safetensors, run on the reference
// executor, compared with the logits and greedy tokens Transformers produced
// (tools/reference/make_fixtures.py) for a prefill and 8 decode steps.
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "ir/text.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/reference/session.h"
#include "models/weights.h"
#include "tests/support/hf_fixture.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr int64_t kCacheCapacity = 32;

struct Case {
  std::string family;
  std::string dtype;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.family + "_" + info.param.dtype;
}

class HfParityTest : public ::testing::TestWithParam<Case> {};

TEST_P(HfParityTest, LogitsAndGreedyTokensMatchTransformers) {
  const Case& c = GetParam();
  std::string dir = kFixtures + c.family + "/" + c.dtype;
  BuildOptions options;
  options.dtype = *DTypeFromName(c.dtype);
  absl::StatusOr<BuiltModel> model = BuildModelFromDir(dir, options);
  ASSERT_TRUE(model.ok()) << model.status();

  // The model's IR survives a trip through its text form unchanged.
  std::string text = PrintModule(model->module);
  absl::StatusOr<Module> reparsed = ParseModule(text);
  ASSERT_TRUE(reparsed.ok()) << reparsed.status();
  EXPECT_EQ(PrintModule(*reparsed), text);

  absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(dir);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  absl::StatusOr<WeightMap> weights = LoadWeights(model->module, *checkpoint);
  ASSERT_TRUE(weights.ok()) << weights.status();
  absl::StatusOr<ReferenceExecutor> executor =
      ReferenceExecutor::Create(std::move(model->module), *std::move(weights));
  ASSERT_TRUE(executor.ok()) << executor.status();
  absl::StatusOr<testing::HfExpected> expected = testing::ReadHfExpected(dir);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<ReferenceSession> session = ReferenceSession::Create(*executor, kCacheCapacity);
  ASSERT_TRUE(session.ok()) << session.status();

  absl::StatusOr<testing::HfComparison> got = testing::CompareWithTransformers(*session, *expected);
  ASSERT_TRUE(got.ok()) << got.status();
  std::printf("max |logit diff| %s %s: %.3g\n", c.family.c_str(), c.dtype.c_str(),
              got->max_logit_diff);
  RecordProperty("max_logit_diff", std::to_string(got->max_logit_diff));
  EXPECT_LE(got->max_logit_diff, testing::HfLogitTolerance(options.dtype));
  if (c.dtype == "f32") {
    EXPECT_TRUE(got->argmax_mismatches.empty())
        << "greedy tokens differ from Transformers' at step " << got->argmax_mismatches.front();
  }
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (const char* dtype : {"f32", "bf16", "f16"}) cases.push_back({family, dtype});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParityTest, ::testing::ValuesIn(AllCases()), CaseName);

}  // namespace
}  // namespace kiln
