// Batched sessions: prompts of different lengths left-padded into batch-3
// buckets (compiled as compile-model compiles them) give, row by row, the
// logits and greedy tokens each prompt gets alone in the batch-1 session:
// in one prefill step, in chunked prefill, with a smaller batch than the
// bucket, and with a row that stops early. Bad inputs name the row.
#include "runtime/session/batch_session.h"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "gtest/gtest.h"
#include "runtime/reference/session.h"
#include "tests/runtime/bucketed_model.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr int64_t kCapacity = 32;
constexpr int kDecodeSteps = 8;

// A prompt of `n` ids in [3, 253), different for each `row`.
std::vector<int32_t> Prompt(int64_t n, int row) {
  std::vector<int32_t> ids;
  for (int64_t i = 0; i < n; ++i)
    ids.push_back(static_cast<int32_t>((i * 37 + row * 71 + 5) % 250 + 3));
  return ids;
}

double MaxAbsDiff(const HostTensor& a, const HostTensor& b) {
  EXPECT_EQ(a.shape, b.shape);
  double max = 0;
  for (size_t i = 0; i < std::min(a.floats.size(), b.floats.size()); ++i) {
    max = std::max(max, std::fabs(double{a.floats[i]} - b.floats[i]));
  }
  return max;
}

int32_t Argmax(const HostTensor& logits) {
  int64_t vocab = logits.shape.back();
  const float* last = logits.floats.data() + (logits.shape[0] - 1) * vocab;
  return static_cast<int32_t>(std::max_element(last, last + vocab) - last);
}

// One prompt alone: its prefill logits, then greedy decode, each step's
// logits and tokens.
struct Trace {
  std::vector<HostTensor> logits;
  std::vector<int32_t> tokens;
};

Trace RunAlone(const ReferenceExecutor& executor, const std::vector<SessionBucket>& buckets,
               const std::vector<int32_t>& prompt, int steps) {
  Trace trace;
  absl::StatusOr<ReferenceSession> session = ReferenceSession::Create(executor, kCapacity, buckets);
  EXPECT_TRUE(session.ok()) << session.status();
  absl::StatusOr<HostTensor> logits = session->Forward(prompt);
  for (int i = 0; i <= steps && logits.ok(); ++i) {
    trace.logits.push_back(*logits);
    if (i == steps) break;
    int32_t token = Argmax(*logits);
    trace.tokens.push_back(token);
    logits = session->Forward(std::span<const int32_t>(&token, 1));
  }
  EXPECT_TRUE(logits.ok()) << logits.status();
  return trace;
}

// The same prompts as rows of one batch session; row `stop_row` leaves the
// batch after `stop_after` decode steps (it then runs no tokens).
std::vector<Trace> RunBatch(const ReferenceExecutor& executor, int64_t batch,
                            const std::vector<SessionBucket>& buckets,
                            const std::vector<std::vector<int32_t>>& prompts, int steps,
                            int stop_row = -1, int stop_after = 0) {
  std::vector<Trace> traces(prompts.size());
  absl::StatusOr<BatchSession> session = BatchSession::Create(executor, batch, kCapacity, buckets);
  EXPECT_TRUE(session.ok()) << session.status();
  absl::StatusOr<std::vector<HostTensor>> logits = session->Forward(prompts);
  for (int i = 0; i <= steps && logits.ok(); ++i) {
    std::vector<std::vector<int32_t>> next(prompts.size());
    for (size_t b = 0; b < prompts.size(); ++b) {
      if (static_cast<int>(b) == stop_row && i > stop_after) continue;
      traces[b].logits.push_back((*logits)[b]);
      if (i == steps || (static_cast<int>(b) == stop_row && i == stop_after)) continue;
      next[b] = {Argmax((*logits)[b])};
      traces[b].tokens.push_back(next[b][0]);
    }
    if (i < steps) logits = session->Forward(next);
  }
  EXPECT_TRUE(logits.ok()) << logits.status();
  return traces;
}

struct Case {
  std::string family;
  DType dtype;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.family << "/" << DTypeName(c.dtype); }

class BatchSessionTest : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    const Case& c = GetParam();
    absl::StatusOr<BucketedModel> model = CompileBucketedModel(
        std::string(kFixtures) + c.family + "/" + std::string(DTypeName(c.dtype)), c.dtype, {1, 3},
        {4, 16}, kCapacity);
    ASSERT_TRUE(model.ok()) << model.status();
    model_ = *std::move(model);
  }

  // Every row of a batch against its prompt alone: logits (returns the
  // largest difference) and tokens (exact).
  double CompareWithAlone(const std::vector<int64_t>& lengths, int stop_row = -1,
                          int stop_after = 0, bool decode_bucket = true) {
    std::vector<std::vector<int32_t>> prompts;
    for (size_t b = 0; b < lengths.size(); ++b)
      prompts.push_back(Prompt(lengths[b], static_cast<int>(b)));
    std::vector<SessionBucket> buckets = model_.buckets[3];
    if (!decode_bucket) std::erase_if(buckets, [](const SessionBucket& b) { return b.seq == 1; });
    std::vector<Trace> batch =
        RunBatch(*model_.executor, 3, buckets, prompts, kDecodeSteps, stop_row, stop_after);
    double max = 0;
    for (size_t b = 0; b < prompts.size(); ++b) {
      SCOPED_TRACE(testing::Message() << "row " << b << " of " << lengths.size());
      int steps = static_cast<int>(b) == stop_row ? stop_after : kDecodeSteps;
      Trace alone = RunAlone(*model_.executor, model_.buckets[1], prompts[b], steps);
      EXPECT_EQ(batch[b].tokens, alone.tokens);
      EXPECT_EQ(batch[b].logits.size(), alone.logits.size());
      for (size_t i = 0; i < std::min(batch[b].logits.size(), alone.logits.size()); ++i) {
        max = std::max(max, MaxAbsDiff(batch[b].logits[i], alone.logits[i]));
      }
    }
    std::cout << GetParam().family << " " << DTypeName(GetParam().dtype) << " lengths";
    for (int64_t n : lengths) std::cout << " " << n;
    std::cout << ": max |batch - alone| = " << max << "\n";
    return max;
  }

  BucketedModel model_;
};

// Identical math on the same values: the rows agree bit for bit, in every
// dtype (padding adds no op to a real token's computation).
TEST_P(BatchSessionTest, LeftPaddedBatchEqualsEachPromptAlone) {
  EXPECT_EQ(CompareWithAlone({3, 7, 12}), 0.0);
}

// 20 tokens exceed the largest prefill bucket (16): chunks of 16 and 4, the
// short rows getting only pads in the first one.
TEST_P(BatchSessionTest, ChunkedPrefillEqualsEachPromptAlone) {
  EXPECT_EQ(CompareWithAlone({20, 3, 7}), 0.0);
}

TEST_P(BatchSessionTest, TwoPromptsInABatchThreeBucket) {
  EXPECT_EQ(CompareWithAlone({9, 2}), 0.0);
}

// Row 0 stops after 2 decode steps; its slot then only gets pads, and the
// other rows are undisturbed.
TEST_P(BatchSessionTest, ARowThatStopsEarlyDoesNotDisturbTheOthers) {
  EXPECT_EQ(CompareWithAlone({5, 11, 8}, /*stop_row=*/0, /*stop_after=*/2), 0.0);
}

// Without a decode bucket each decode step runs in the 4-token bucket: three
// pads, then the row's token, in every row. The pads sit at slots after the
// token (never at a slot it attends to), whatever order the cache writes of
// one step take.
TEST_P(BatchSessionTest, DecodeInAPrefillBucketPadsEveryStep) {
  EXPECT_EQ(CompareWithAlone({6, 3, 10}, /*stop_row=*/1, /*stop_after=*/3,
                             /*decode_bucket=*/false),
            0.0);
}

std::vector<Case> AllFixtures() {
  std::vector<Case> cases;
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
      cases.push_back({family, dtype});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BatchSessionTest, testing::ValuesIn(AllFixtures()),
                         [](const testing::TestParamInfo<Case>& info) {
                           return info.param.family + "_" +
                                  std::string(DTypeName(info.param.dtype));
                         });

// A row that fills its cache to the last slot while the step is wider than
// its tokens: its pads repeat its last token at that slot (no free slot is
// left), which writes the same values, so the row still equals itself alone.
TEST(BatchSessionEdgeTest, ARowFillingTheCacheStaysExact) {
  absl::StatusOr<std::unique_ptr<ReferenceExecutor>> executor =
      LoadGenericModel(std::string(kFixtures) + "llama3/f32", DType::kF32);
  ASSERT_TRUE(executor.ok()) << executor.status();
  constexpr int64_t kSmall = 16;
  absl::StatusOr<BatchSession> batch = BatchSession::Create(**executor, 2, kSmall);
  absl::StatusOr<ReferenceSession> alone = ReferenceSession::Create(**executor, kSmall);
  ASSERT_TRUE(batch.ok() && alone.ok());
  std::vector<std::vector<int32_t>> first = {Prompt(14, 0), Prompt(3, 1)};
  std::vector<std::vector<int32_t>> second = {Prompt(2, 2), Prompt(4, 3)};
  ASSERT_TRUE(batch->Forward(first).ok());
  absl::StatusOr<std::vector<HostTensor>> rows = batch->Forward(second);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(batch->position(0), kSmall);
  ASSERT_TRUE(alone->Forward(first[0]).ok());
  absl::StatusOr<HostTensor> expected = alone->Forward(second[0]);
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ((*rows)[0].floats, expected->floats);
}

TEST(BatchSessionEdgeTest, BadInputsNameTheRow) {
  absl::StatusOr<BucketedModel> model = CompileBucketedModel(
      std::string(kFixtures) + "llama2/f32", DType::kF32, {1, 3}, {8}, /*capacity=*/16);
  ASSERT_TRUE(model.ok()) << model.status();
  const ReferenceExecutor& executor = *model->executor;
  auto message = [](const absl::Status& status) { return std::string(status.message()); };

  absl::StatusOr<BatchSession> wrong = BatchSession::Create(executor, 2, 16, model->buckets[3]);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(message(wrong.status()),
            "bucket @decode_b3 is compiled for batch 3, but the session runs batch 2");
  absl::StatusOr<ReferenceSession> single =
      ReferenceSession::Create(executor, 16, model->buckets[3]);
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(message(single.status()),
            "bucket @decode_b3 is compiled for batch 3, but the session runs batch 1");

  absl::StatusOr<BatchSession> s = BatchSession::Create(executor, 3, 16, model->buckets[3]);
  ASSERT_TRUE(s.ok()) << s.status();
  std::vector<std::vector<int32_t>> four(4, {1});
  EXPECT_EQ(message(s->Forward(four).status()), "4 rows given, but the session holds 1 to 3");
  std::vector<std::vector<int32_t>> none(2);
  EXPECT_EQ(message(s->Forward(none).status()), "no tokens to run in any row");
  std::vector<std::vector<int32_t>> bad_id = {{1, 2}, {3, 256}};
  EXPECT_EQ(message(s->Forward(bad_id).status()),
            "row 1: token id 256 is outside the vocabulary [0, 256)");
  bad_id[1][1] = -1;
  EXPECT_EQ(message(s->Forward(bad_id).status()),
            "row 1: token id -1 is outside the vocabulary [0, 256)");
  std::vector<std::vector<int32_t>> rows = {Prompt(4, 0), Prompt(10, 1), Prompt(1, 2)};
  ASSERT_TRUE(s->Forward(rows).ok());
  std::vector<std::vector<int32_t>> too_long = {Prompt(2, 0), Prompt(7, 1)};
  EXPECT_EQ(message(s->Forward(too_long).status()),
            "row 1: 7 tokens at position 10 do not fit in a cache of 16");
  // The failed calls changed nothing.
  EXPECT_EQ(s->position(0), 4);
  EXPECT_EQ(s->position(1), 10);
  EXPECT_EQ(s->position(2), 1);
}

}  // namespace
}  // namespace kiln
