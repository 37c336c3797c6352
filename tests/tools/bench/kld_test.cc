// tools/bench/kld.h on hand-made logits: KLD of a row with itself is 0; a
// two-token case worked by hand; softmax is shift-invariant; same-top-1,
// perplexity, percentiles and the summary's standard errors; rows that are
// not distributions are refused.
#include "tools/bench/kld.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace kiln::bench {
namespace {

TEST(KldTest, IdenticalRowsHaveZeroDivergence) {
  const std::vector<float> row = {1.5f, -2.0f, 0.25f, 7.0f, 3.0f};
  absl::StatusOr<PositionScore> s = ScorePosition(row, row, 2);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->kld, 0.0);
  EXPECT_TRUE(s->same_top1);
  EXPECT_DOUBLE_EQ(s->nll, s->base_nll);
}

// Two tokens. Base logits (0, 0): P = (1/2, 1/2). Engine logits (log 3, 0):
// Q = (3/4, 1/4). KLD(P || Q) = 1/2 log((1/2)/(3/4)) + 1/2 log((1/2)/(1/4))
// = 1/2 log(2/3) + 1/2 log 2 = 1/2 log(4/3). Top-1: P ties (index 0 first),
// Q picks 0. Next token 1: -log p = log 2, -log q = log 4.
TEST(KldTest, TwoTokenCaseByHand) {
  const std::vector<float> base = {0.0f, 0.0f};
  const std::vector<float> engine = {static_cast<float>(std::log(3.0)), 0.0f};
  absl::StatusOr<PositionScore> s = ScorePosition(base, engine, 1);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->kld, 0.5 * std::log(4.0 / 3.0), 1e-7);
  EXPECT_TRUE(s->same_top1);
  EXPECT_NEAR(s->base_nll, std::log(2.0), 1e-12);
  EXPECT_NEAR(s->nll, std::log(4.0), 1e-7);
  // The other direction differs (KLD is not symmetric): KLD(Q || P) =
  // 3/4 log(3/2) + 1/4 log(1/2).
  absl::StatusOr<PositionScore> r = ScorePosition(engine, base, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->kld, 0.75 * std::log(1.5) + 0.25 * std::log(0.5), 1e-7);
}

TEST(KldTest, SoftmaxIsShiftInvariantAndStableForLargeLogits) {
  const std::vector<float> a = {1.0f, 2.0f, 3.0f};
  const std::vector<float> b = {1001.0f, 1002.0f, 1003.0f};
  absl::StatusOr<std::vector<double>> la = LogSoftmax(a), lb = LogSoftmax(b);
  ASSERT_TRUE(la.ok() && lb.ok());
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR((*la)[i], (*lb)[i], 1e-9);
    sum += std::exp((*la)[i]);
  }
  EXPECT_NEAR(sum, 1.0, 1e-15);
  absl::StatusOr<PositionScore> s = ScorePosition(a, b, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->kld, 0.0, 1e-12);
}

TEST(KldTest, DifferentTopTokenIsCounted) {
  absl::StatusOr<PositionScore> s = ScorePosition(std::vector<float>{2, 1, 0},
                                                  std::vector<float>{1, 2, 0}, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE(s->same_top1);
  EXPECT_GT(s->kld, 0.0);
}

TEST(KldTest, SummaryAveragesAndCounts) {
  QualityAccumulator acc;
  EXPECT_EQ(acc.Summary().positions, 0);
  acc.Add({0.1, true, std::log(2.0), std::log(4.0)});
  acc.Add({0.3, false, std::log(8.0), std::log(4.0)});
  const QualitySummary s = acc.Summary();
  EXPECT_EQ(s.positions, 2);
  EXPECT_NEAR(s.mean_kld, 0.2, 1e-12);
  // Sample sd of {0.1, 0.3} is sqrt(0.02); over sqrt(2): 0.1.
  EXPECT_NEAR(s.mean_kld_stderr, 0.1, 1e-12);
  EXPECT_NEAR(s.max_kld, 0.3, 1e-12);
  EXPECT_NEAR(s.same_top1_pct, 50.0, 1e-12);
  EXPECT_NEAR(s.same_top1_pct_stderr, 50.0, 1e-12);  // 100 sqrt(0.25 / 1)
  EXPECT_NEAR(s.base_ppl, 4.0, 1e-12);                // exp((log 2 + log 8) / 2)
  EXPECT_NEAR(s.ppl, 4.0, 1e-12);
}

TEST(KldTest, QuantileInterpolatesBetweenOrderStatistics) {
  EXPECT_EQ(Quantile({}, 0.99), 0.0);
  EXPECT_EQ(Quantile({5.0}, 0.99), 5.0);
  std::vector<double> v;
  for (int i = 100; i >= 0; --i) v.push_back(i);  // 0..100, unsorted
  EXPECT_NEAR(Quantile(v, 0.99), 99.0, 1e-12);
  EXPECT_NEAR(Quantile(v, 0.995), 99.5, 1e-12);
  EXPECT_NEAR(Quantile(v, 0.0), 0.0, 1e-12);
  EXPECT_NEAR(Quantile(v, 1.0), 100.0, 1e-12);
}

TEST(KldTest, RowsThatAreNotDistributionsAreRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(LogSoftmax(std::vector<float>{}).ok());
  EXPECT_FALSE(LogSoftmax(std::vector<float>{1, nan}).ok());
  EXPECT_FALSE(LogSoftmax(std::vector<float>{inf, 1}).ok());
  EXPECT_FALSE(ScorePosition(std::vector<float>{1, 2}, std::vector<float>{1, 2, 3}, 0).ok());
  EXPECT_FALSE(ScorePosition(std::vector<float>{1, 2}, std::vector<float>{1, 2}, 2).ok());
  EXPECT_FALSE(ScorePosition(std::vector<float>{1, 2}, std::vector<float>{1, 2}, -1).ok());
}

}  // namespace
}  // namespace kiln::bench
