// Sampling: the warpers' rules, seeded determinism, and the sampled
// distribution against softmax (chi-square at a stated confidence).
#include "runtime/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace kiln {
namespace {

const std::vector<float> kLogits = {1.0f, 3.0f, 2.0f, 0.5f, -1.0f, 2.9f};

GenerationConfig Sampling(double temperature = 1.0) {
  GenerationConfig c;
  c.do_sample = true;
  c.temperature = temperature;
  c.seed = 1234;
  return c;
}

int32_t Draw(const GenerationConfig& c, uint64_t step, std::vector<int32_t> history = {}) {
  absl::StatusOr<int32_t> t = SampleToken(kLogits, c, history, step);
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

TEST(SamplerTest, GreedyAndDegenerateWarpersPickTheArgmax) {
  GenerationConfig greedy;
  EXPECT_EQ(Draw(greedy, 0), 1);
  GenerationConfig k1 = Sampling();
  k1.top_k = 1;
  GenerationConfig p_small = Sampling();
  p_small.top_p = 1e-6;
  GenerationConfig min_p_high = Sampling();
  min_p_high.min_p = 0.999;
  for (uint64_t step = 0; step < 50; ++step) {
    EXPECT_EQ(Draw(k1, step), 1);
    EXPECT_EQ(Draw(p_small, step), 1);
    EXPECT_EQ(Draw(min_p_high, step), 1);
  }
}

TEST(SamplerTest, WarpersKeepOnlyTheirTokens) {
  GenerationConfig top2 = Sampling(5.0);  // hot, so all kept tokens show up
  top2.top_k = 2;                         // tokens 1 (3.0) and 5 (2.9)
  GenerationConfig min_p = Sampling();
  min_p.min_p = 0.5;  // keeps p >= 0.5 p_max: p5/p1 = e^-0.1 stays, p2/p1 = e^-1 goes
  for (uint64_t step = 0; step < 500; ++step) {
    int32_t t = Draw(top2, step);
    EXPECT_TRUE(t == 1 || t == 5) << t;
    t = Draw(min_p, step);
    EXPECT_TRUE(t == 1 || t == 5) << t;
  }
}

// Transformers' warpers spelled out over a full stable sort (descending
// logit, ties by id): top-k, softmax over the kept, top-p's smallest prefix
// reaching the mass, min-p against the largest, renormalised.
std::vector<double> FullSortWarp(const std::vector<float>& logits, const GenerationConfig& c) {
  std::vector<double> x(logits.begin(), logits.end());
  for (double& v : x) v /= c.temperature;
  std::vector<size_t> order(x.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  size_t keep = c.top_k > 0 ? std::min(order.size(), static_cast<size_t>(c.top_k)) : order.size();
  std::vector<double> p(x.size(), 0.0);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) sum += p[order[i]] = std::exp(x[order[i]] - x[order[0]]);
  for (size_t i = 0; i < keep; ++i) p[order[i]] /= sum;
  double mass = 0;
  size_t i = 0;
  while (c.top_p < 1.0 && i < keep && (mass += p[order[i]]) < c.top_p) ++i;
  if (c.top_p < 1.0) keep = std::min(keep, i + 1);
  for (i = 1; c.min_p > 0 && i < keep && p[order[i]] >= c.min_p * p[order[0]];) ++i;
  if (c.min_p > 0) keep = i;
  sum = 0;
  for (size_t j = 0; j < order.size(); ++j) sum += j < keep ? p[order[j]] : (p[order[j]] = 0);
  for (double& v : p) v /= sum;
  return p;
}

// The sampler sorts only the prefix its rules keep, growing it as needed:
// against the full sort, vocabularies of 49,152 whose top-p sets hold from
// a few to thousands of tokens (beyond each growth step), with ties at the
// cut-off (logits rounded to 1/8), the same tokens are kept and the
// probabilities agree to 1e-12.
TEST(SamplerTest, PartialSortKeepsWhatAFullSortKeeps) {
  std::mt19937 rng(7);
  for (double spread : {8.0, 2.0, 0.5, 0.05}) {
    for (bool ties : {false, true}) {
      std::normal_distribution<float> normal(0, static_cast<float>(spread));
      std::vector<float> logits(49152);
      for (float& v : logits) v = ties ? std::round(normal(rng) * 8) / 8 : normal(rng);
      struct Rules {
        int top_k;
        double top_p, min_p;
      };
      // The most a top-p or min-p cut kept: beyond the partial sort's growth
      // steps (64, 256, 1024, ...) at the small spreads.
      size_t most_kept = 0;
      for (Rules r : {Rules{0, 0.9, 0}, Rules{0, 0.999, 0}, Rules{50, 0.95, 0}, Rules{0, 1.0, 0.05},
                      Rules{0, 0.5, 0.001}, Rules{0, 1.0, 0}, Rules{300, 1.0, 0}}) {
        GenerationConfig c = Sampling(0.7);
        c.top_k = r.top_k;
        c.top_p = r.top_p;
        c.min_p = r.min_p;
        absl::StatusOr<std::vector<double>> got = TokenDistribution(logits, c, {});
        ASSERT_TRUE(got.ok()) << got.status();
        const std::vector<double> want = FullSortWarp(logits, c);
        size_t kept = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          ASSERT_EQ((*got)[i] == 0, want[i] == 0) << "token " << i << ", spread " << spread;
          ASSERT_NEAR((*got)[i], want[i], 1e-12 * std::max(want[i], 1e-300)) << "token " << i;
          kept += want[i] > 0;
        }
        if (r.top_p < 1.0 || r.min_p > 0.0) most_kept = std::max(most_kept, kept);
      }
      std::printf("spread %.2f%s: a cut kept up to %zu tokens\n", spread, ties ? " (ties)" : "",
                  most_kept);
    }
  }
}

TEST(SamplerTest, RepetitionPenaltyFollowsTransformers) {
  GenerationConfig c;
  c.repetition_penalty = 2.0;  // seen token 1: 3.0 / 2 = 1.5 < 2.9
  EXPECT_EQ(Draw(c, 0, {1}), 5);
  EXPECT_EQ(Draw(c, 0, {4}), 1);  // a negative logit is multiplied: stays low
}

TEST(SamplerTest, SameSeedSameTokensOtherSeedOtherTokens) {
  GenerationConfig a = Sampling(1.5), b = Sampling(1.5);
  b.seed = 99;
  std::vector<int32_t> first, again, other;
  for (uint64_t step = 0; step < 64; ++step) {
    first.push_back(Draw(a, step));
    other.push_back(Draw(b, step));
  }
  for (int repeat = 0; repeat < 20; ++repeat) {
    again.clear();
    for (uint64_t step = 0; step < 64; ++step) again.push_back(Draw(a, step));
    EXPECT_EQ(first, again);
  }
  EXPECT_NE(first, other);
}

// 60000 draws at temperature 1 against softmax(kLogits): Pearson's
// chi-square with 5 degrees of freedom must stay below 20.52, its 99.9 %
// quantile, so a correct sampler fails this test once in a thousand seeds;
// the seed is fixed, so the test is deterministic.
TEST(SamplerTest, DrawsFollowTheSoftmaxDistribution) {
  GenerationConfig c = Sampling();
  std::vector<double> p(kLogits.size());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += (p[i] = std::exp(double{kLogits[i]}));
  std::vector<int> counts(p.size(), 0);
  const int n = 60000;
  for (int i = 0; i < n; ++i) ++counts[Draw(c, static_cast<uint64_t>(i))];
  double chi2 = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    double expected = n * p[i] / sum;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  EXPECT_LT(chi2, 20.52);
}

TEST(SamplerTest, NanLogitsFailTheRequest) {
  std::vector<float> bad = {1.0f, NAN, 0.0f};
  absl::StatusOr<int32_t> t = SampleToken(bad, GenerationConfig{}, {}, 0);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.status().message()).find("NaN logits"), std::string::npos);
}

TEST(GenerationConfigTest, EachBadFieldIsNamed) {
  auto error = [](GenerationConfig c) {
    return std::string(ValidateGenerationConfig(c, 256).message());
  };
  GenerationConfig c;
  EXPECT_TRUE(ValidateGenerationConfig(c, 256).ok());
  c.max_new_tokens = 0;
  EXPECT_NE(error(c).find("max_new_tokens must be at least 1, got 0"), std::string::npos);
  c = {};
  c.max_new_tokens = -3;
  EXPECT_NE(error(c).find("got -3"), std::string::npos);
  c = {};
  c.temperature = NAN;
  EXPECT_NE(error(c).find("temperature must be"), std::string::npos);
  c = {};
  c.temperature = -1;
  EXPECT_NE(error(c).find("temperature must be"), std::string::npos);
  c = {};
  c.do_sample = true;
  c.temperature = 0;
  EXPECT_NE(error(c).find("temperature must be"), std::string::npos);
  for (double top_p : {0.0, -0.5, 1.5, double{NAN}}) {
    c = {};
    c.top_p = top_p;
    EXPECT_NE(error(c).find("top_p must be in (0, 1]"), std::string::npos) << top_p;
  }
  c = {};
  c.min_p = 1.0;
  EXPECT_NE(error(c).find("min_p must be in [0, 1)"), std::string::npos);
  c = {};
  c.top_k = -1;
  EXPECT_NE(error(c).find("top_k must be >= 0"), std::string::npos);
  c = {};
  c.repetition_penalty = 0;
  EXPECT_NE(error(c).find("repetition_penalty"), std::string::npos);
  for (int32_t id : {-1, 256, INT32_MAX}) {
    c = {};
    c.eos_token_ids = {id};
    EXPECT_NE(error(c).find("outside the vocabulary [0, 256)"), std::string::npos) << id;
  }
  c = {};
  c.stop_strings = {""};
  EXPECT_NE(error(c).find("stop_strings must not contain an empty string"), std::string::npos);
}

TEST(CounterUniformTest, IsInRangeAndCentred) {
  double sum = 0;
  for (uint64_t i = 0; i < 100000; ++i) {
    double u = CounterUniform(7, i);
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    sum += u;
  }
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);  // sd of the mean: 0.0009
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

// generation_config.json resolves as Transformers' generate() resolves it.
TEST(GenerationDefaultsTest, FileValuesWinAndTheRestAreTransformersDefaults) {
  absl::StatusOr<GenerationConfig> none = GenerationDefaults(nlohmann::json::object());
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->do_sample);
  EXPECT_EQ(none->temperature, 1.0);
  EXPECT_EQ(none->top_k, 50);  // GenerationConfig._get_default_generation_params
  EXPECT_EQ(none->top_p, 1.0);
  EXPECT_EQ(none->repetition_penalty, 1.0);
  EXPECT_EQ(none->max_new_tokens, GenerationConfig{}.max_new_tokens);

  // SmolLM2-Instruct's file, and fields Kiln leaves to the caller.
  absl::StatusOr<GenerationConfig> smollm2 = GenerationDefaults(nlohmann::json::parse(
      R"({"do_sample": true, "temperature": 0.2, "top_p": 0.9, "top_k": null,
          "max_new_tokens": 256, "bos_token_id": 1, "eos_token_id": 2,
          "transformers_version": "4.42.3"})"));
  ASSERT_TRUE(smollm2.ok()) << smollm2.status();
  EXPECT_TRUE(smollm2->do_sample);
  EXPECT_EQ(smollm2->temperature, 0.2);
  EXPECT_EQ(smollm2->top_p, 0.9);
  EXPECT_EQ(smollm2->top_k, 50);
  EXPECT_EQ(smollm2->max_new_tokens, 256);
  EXPECT_TRUE(smollm2->eos_token_ids.empty());
}

TEST(GenerationDefaultsTest, BadFieldsAreNamed) {
  struct Bad {
    const char* json;
    const char* error;
  };
  for (const Bad& bad : {
           Bad{R"({"temperature": "hot"})", "'temperature' must be a number, got \"hot\""},
           Bad{R"({"do_sample": 1})", "'do_sample' must be true or false, got 1"},
           Bad{R"({"top_k": 1.5})", "'top_k' must be an integer, got 1.5"},
           Bad{R"({"top_k": 4294967296})", "'top_k' is out of range: 4294967296"},
           Bad{R"({"max_new_tokens": -1})", "'max_new_tokens' is out of range: -1"},
           Bad{R"({"top_p": 1.5})", "generation_config.json: top_p must be in (0, 1], got 1.5"},
           Bad{R"({"do_sample": true, "temperature": 0})", "temperature must be a finite number > 0"},
           Bad{R"([1, 2])", "generation_config.json must hold a JSON object"},
       }) {
    absl::StatusOr<GenerationConfig> c = GenerationDefaults(nlohmann::json::parse(bad.json));
    ASSERT_FALSE(c.ok()) << bad.json;
    EXPECT_NE(std::string(c.status().message()).find(bad.error), std::string::npos) << c.status();
  }
}

}  // namespace
}  // namespace kiln
