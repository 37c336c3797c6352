// Speculative sampling keeps the target's distribution: with p from one
// random fixture model and q from another (both through the same warper
// chain, top-k 8), 20,000 seeded speculative generations (two drafted
// tokens, then the bonus token or a next round) give the target's exact
// distribution of the first token, the first two and the first three
// (chi-square, alpha = 0.001); the same test run with a rule that accepts
// every draft rejects it (the mutation check: the test can fail).
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "gtest/gtest.h"
#include "runtime/generate/sampler.h"
#include "runtime/generate/speculative.h"
#include "runtime/reference/session.h"
#include "runtime/tokenizer/load.h"
#include "tests/runtime/bucketed_model.h"

namespace kiln {
namespace {

constexpr char kFixtures[] = "tests/fixtures/models/";
constexpr int64_t kMaxSeq = 16;
constexpr int kDraws = 20000;

using Pair = std::pair<int32_t, int32_t>;
using Triple = std::tuple<int32_t, int32_t, int32_t>;

// The (1 - 0.001) quantile of chi-square with `df` degrees of freedom
// (Wilson and Hilferty's cube-root normal approximation; z = 3.0902).
double ChiSquareCritical(int df) {
  const double h = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - h + 3.0902 * std::sqrt(h), 3.0);
}

// Pearson's statistic of `counts` against `probability` over `n` draws;
// outcomes expected fewer than 5 times are pooled into one bin. Sets `df`.
template <typename K>
double ChiSquare(const std::map<K, int>& counts, const std::map<K, double>& probability, int n,
                 int& df) {
  double stat = 0, pooled_expected = 0;
  int pooled_count = 0, bins = 0;
  for (const auto& [key, p] : probability) {
    const double expected = p * n;
    const int observed = counts.count(key) ? counts.at(key) : 0;
    if (expected < 5) {
      pooled_expected += expected;
      pooled_count += observed;
      continue;
    }
    stat += (observed - expected) * (observed - expected) / expected;
    ++bins;
  }
  for (const auto& [key, c] : counts) {  // outcomes the target cannot produce
    if (!probability.count(key)) pooled_count += c;
  }
  if (pooled_expected > 0 || pooled_count > 0) {
    // An impossible outcome observed makes the statistic infinite.
    stat += pooled_expected > 0 ? (pooled_count - pooled_expected) *
                                      (pooled_count - pooled_expected) / pooled_expected
                                : INFINITY;
    ++bins;
  }
  df = bins - 1;
  return stat;
}

class SpeculativeDistributionTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<tokenizer::Tokenizer>> tok =
        tokenizer::LoadTokenizer("tests/fixtures/tokenizers/bytes256/tokenizer.json");
    ASSERT_TRUE(tok.ok()) << tok.status();
    tokenizer_ = *std::move(tok);
    for (auto [name, model] : {std::pair{"llama3", &target_}, std::pair{"mistral", &draft_}}) {
      absl::StatusOr<BucketedModel> m = CompileBucketedModel(std::string(kFixtures) + name + "/f32",
                                                             DType::kF32, {1}, {2, 4}, kMaxSeq);
      ASSERT_TRUE(m.ok()) << m.status();
      *model = *std::move(m);
    }
    config_.do_sample = true;
    config_.top_k = 8;
    config_.max_new_tokens = 3;  // two drafted tokens, then the next round
    config_.num_assistant_tokens = 2;
    config_.num_assistant_tokens_schedule = "constant";
    config_.assistant_confidence_threshold = 0;
    prompt_ = {72, 105, 33, 32};  // "Hi! "
  }

  std::unique_ptr<ReferenceSession> Session(const BucketedModel& m) {
    absl::StatusOr<ReferenceSession> s =
        ReferenceSession::Create(*m.executor, kMaxSeq, m.buckets.at(1));
    EXPECT_TRUE(s.ok()) << s.status();
    return std::make_unique<ReferenceSession>(*std::move(s));
  }

  // The target's distribution after `ids` (TokenDistribution of its
  // logits, as the plain sampler draws).
  std::vector<double> TargetDistribution(const std::vector<int32_t>& ids) {
    std::unique_ptr<ReferenceSession> s = Session(target_);
    absl::StatusOr<HostTensor> logits = s->ForwardLast(ids);
    EXPECT_TRUE(logits.ok()) << logits.status();
    absl::StatusOr<std::vector<double>> p = TokenDistribution(logits->floats, config_, ids);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }

  // kDraws speculative generations of two tokens, seeds 1..kDraws.
  void Draw(AcceptRule rule, std::map<int32_t, int>& first, std::map<Pair, int>& pairs,
            std::map<Triple, int>& triples) {
    std::unique_ptr<ReferenceSession> target = Session(target_);
    std::unique_ptr<ReferenceSession> draft = Session(draft_);
    ASSERT_TRUE(target->ForwardLast(std::span(prompt_).first(prompt_.size() - 1)).ok());
    SingleRow target_rows(*target), draft_rows(*draft);
    AssistantDrafter drafter(draft_rows, kMaxSeq);
    int64_t drafted = 0, accepted = 0;
    for (int seed = 1; seed <= kDraws; ++seed) {
      ASSERT_TRUE(target->Rewind(static_cast<int64_t>(prompt_.size()) - 1).ok());
      GenerationConfig c = config_;
      c.seed = static_cast<uint64_t>(seed);
      GenerationResult result;
      RowOutput output(*tokenizer_, result);
      SpeculativeRow row;
      row.context = prompt_;
      row.output = &output;
      ASSERT_TRUE(RunSpeculativeRounds(target_rows, drafter, c, {2, kMaxSeq, false, rule},
                                       std::span<SpeculativeRow>(&row, 1))
                      .ok());
      ASSERT_EQ(result.token_ids.size(), 3u);
      ++first[result.token_ids[0]];
      ++pairs[{result.token_ids[0], result.token_ids[1]}];
      ++triples[{result.token_ids[0], result.token_ids[1], result.token_ids[2]}];
      drafted += result.drafted_tokens;
      accepted += result.accepted_tokens;
    }
    // The models disagree: some drafts are rejected, so acceptance is tested.
    EXPECT_GT(drafted, 0);
    if (rule == AcceptRule::kExact) {
      EXPECT_LT(accepted, drafted);
    }
  }

  // The chi-square statistics of the first token and of the pair, with
  // their critical values.
  struct Stats {
    double first, first_critical, pair, pair_critical, triple, triple_critical;
  };
  Stats Test(AcceptRule rule) {
    std::map<int32_t, int> first;
    std::map<Pair, int> pairs;
    std::map<Triple, int> triples;
    Draw(rule, first, pairs, triples);
    const std::vector<double> p0 = TargetDistribution(prompt_);
    std::map<int32_t, double> want_first;
    std::map<Pair, double> want_pair;
    std::map<Triple, double> want_triple;
    for (int32_t t = 0; t < static_cast<int32_t>(p0.size()); ++t) {
      if (p0[t] == 0) continue;
      want_first[t] = p0[t];
      std::vector<int32_t> ids = prompt_;
      ids.push_back(t);
      const std::vector<double> p1 = TargetDistribution(ids);
      for (int32_t u = 0; u < static_cast<int32_t>(p1.size()); ++u) {
        if (p1[u] == 0) continue;
        want_pair[{t, u}] = p0[t] * p1[u];
        std::vector<int32_t> ids2 = ids;
        ids2.push_back(u);
        const std::vector<double> p2 = TargetDistribution(ids2);
        for (int32_t v = 0; v < static_cast<int32_t>(p2.size()); ++v) {
          if (p2[v] > 0) want_triple[{t, u, v}] = p0[t] * p1[u] * p2[v];
        }
      }
    }
    int df_first = 0, df_pair = 0, df_triple = 0;
    Stats s;
    s.first = ChiSquare(first, want_first, kDraws, df_first);
    s.pair = ChiSquare(pairs, want_pair, kDraws, df_pair);
    s.triple = ChiSquare(triples, want_triple, kDraws, df_triple);
    s.first_critical = ChiSquareCritical(df_first);
    s.pair_critical = ChiSquareCritical(df_pair);
    s.triple_critical = ChiSquareCritical(df_triple);
    std::printf(
        "chi-square: first %.1f (critical %.1f, df %d), pairs %.1f (%.1f, df %d), "
        "triples %.1f (%.1f, df %d)\n",
        s.first, s.first_critical, df_first, s.pair, s.pair_critical, df_pair, s.triple,
        s.triple_critical, df_triple);
    return s;
  }

  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  BucketedModel target_, draft_;
  GenerationConfig config_;
  std::vector<int32_t> prompt_;
};

TEST_F(SpeculativeDistributionTest, SpeculativeSamplingKeepsTheTargetsDistribution) {
  Stats s = Test(AcceptRule::kExact);
  EXPECT_LT(s.first, s.first_critical) << "first token";
  EXPECT_LT(s.pair, s.pair_critical) << "token pairs";
  EXPECT_LT(s.triple, s.triple_critical) << "token triples (the third: the bonus or next round)";
}

TEST_F(SpeculativeDistributionTest, AcceptingEveryDraftFailsTheSameTest) {
  Stats s = Test(AcceptRule::kAlwaysAcceptForTesting);
  EXPECT_GT(s.first, s.first_critical) << "first token";
  EXPECT_GT(s.pair, s.pair_critical) << "token pairs";
}

}  // namespace
}  // namespace kiln
