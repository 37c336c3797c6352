// The four families against Hugging Face Transformers: tiny random-weight
// models built from their config.json and safetensors, run on the reference
// executor, compared with the logits and greedy tokens Transformers produced
// (tools/reference/make_fixtures.py) for a prefill and 8 decode steps.
#include <cmath>
#include <cstdio>
#include <string>

#include "gtest/gtest.h"
#include "ir/text.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/reference/session.h"
#include "runtime/reference/weights.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr int64_t kCacheCapacity = 32;

struct Case {
  std::string family;
  std::string dtype;
};

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  return info.param.family + "_" + info.param.dtype;
}

// Transformers' outputs for one fixture.
struct Expected {
  std::vector<int32_t> prompt;
  HostTensor prefill_logits;  // [P, V]
  std::vector<int32_t> tokens;  // 9 greedy tokens
  HostTensor decode_logits;   // [8, V]
};

std::vector<int32_t> ToIds(const HostTensor& t) { return {t.ints.begin(), t.ints.end()}; }

absl::StatusOr<Expected> ReadExpected(const std::string& dir) {
  absl::StatusOr<Checkpoint> file = Checkpoint::OpenFile(dir + "/expected.safetensors");
  if (!file.ok()) return file.status();
  auto read = [&](const char* name, DType dtype) -> absl::StatusOr<HostTensor> {
    const TensorEntry* entry = file->Find(name);
    if (entry == nullptr) return absl::NotFoundError(name);
    return HostTensorFromEntry(*entry, dtype);
  };
  Expected e;
  absl::StatusOr<HostTensor> prompt = read("prompt_ids", DType::kI64);
  absl::StatusOr<HostTensor> tokens = read("tokens", DType::kI64);
  absl::StatusOr<HostTensor> prefill = read("prefill_logits", DType::kF32);
  absl::StatusOr<HostTensor> decode = read("decode_logits", DType::kF32);
  for (const auto* s : {&prompt, &tokens, &prefill, &decode}) {
    if (!s->ok()) return s->status();
  }
  e.prompt = ToIds(*prompt);
  e.tokens = ToIds(*tokens);
  e.prefill_logits = *std::move(prefill);
  e.decode_logits = *std::move(decode);
  return e;
}

// Max |a - b| over row `row_b` of `b` ([rows, V]) and all of `a` ([V]).
double MaxAbsDiffRow(const HostTensor& a, int64_t row_a, const HostTensor& b, int64_t row_b) {
  int64_t v = a.shape.back();
  double max = 0.0;
  for (int64_t i = 0; i < v; ++i) {
    max = std::max(max, std::fabs(static_cast<double>(a.floats[row_a * v + i]) -
                                  b.floats[row_b * v + i]));
  }
  return max;
}

int32_t ArgmaxRow(const HostTensor& t, int64_t row) {
  int64_t v = t.shape.back();
  const float* p = t.floats.data() + row * v;
  return static_cast<int32_t>(std::max_element(p, p + v) - p);
}

class HfParityTest : public testing::TestWithParam<Case> {};

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
  absl::StatusOr<Expected> expected = ReadExpected(dir);
  ASSERT_TRUE(expected.ok()) << expected.status();
  absl::StatusOr<ReferenceSession> session = ReferenceSession::Create(*executor, kCacheCapacity);
  ASSERT_TRUE(session.ok()) << session.status();

  // f32: TESTING.md's 1e-5 is for HF's own tests; the issue asks for 1e-4.
  // f16/bf16: atol 0.12 on logits (TensorRT-LLM's rule for tiny models).
  bool exact = c.dtype == "f32";
  double tolerance = exact ? 1e-4 : 0.12;
  double max_diff = 0.0;

  absl::StatusOr<HostTensor> prefill = session->Forward(expected->prompt);
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  int64_t p = static_cast<int64_t>(expected->prompt.size());
  for (int64_t row = 0; row < p; ++row) {
    max_diff = std::max(max_diff, MaxAbsDiffRow(*prefill, row, expected->prefill_logits, row));
  }
  if (exact) {
    EXPECT_EQ(ArgmaxRow(*prefill, p - 1), expected->tokens[0]);
  }

  // Decode steps feed Transformers' own tokens so every step compares
  // logits for the same inputs.
  for (int step = 0; step < 8; ++step) {
    int32_t token = expected->tokens[step];
    absl::StatusOr<HostTensor> logits = session->Forward(std::span<const int32_t>(&token, 1));
    ASSERT_TRUE(logits.ok()) << logits.status();
    max_diff = std::max(max_diff, MaxAbsDiffRow(*logits, 0, expected->decode_logits, step));
    if (exact) {
      EXPECT_EQ(ArgmaxRow(*logits, 0), expected->tokens[step + 1]) << "step " << step;
    }
  }
  std::printf("max |logit diff| %s %s: %.3g\n", c.family.c_str(), c.dtype.c_str(), max_diff);
  RecordProperty("max_logit_diff", std::to_string(max_diff));
  EXPECT_LE(max_diff, tolerance);
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (const char* dtype : {"f32", "bf16", "f16"}) cases.push_back({family, dtype});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HfParityTest, testing::ValuesIn(AllCases()), CaseName);

}  // namespace
}  // namespace kiln
