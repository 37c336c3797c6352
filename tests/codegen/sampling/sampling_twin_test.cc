// The sampling kernel's CPU twin (which replays the kernel's arithmetic
// exactly) against runtime/generate's SampleToken on fresh random rows:
// vocabularies 1031, 32000 and 128256; continuous, tied, bf16-rounded,
// -inf-holed, peaked and all-equal logits; greedy and sampling with random
// temperature, top_k, top_p, min_p, seed and step.
//
// The twin must pick SampleToken's token. The one tolerated exception is
// the documented boundary case (docs/CODEGEN.md "Sampling kernel"): the two
// sum in different orders (and exp differs by <= 1 ulp), so where one of
// SampleToken's decisions -- u < cumulative, mass >= top_p, p >= floor --
// is within kBoundaryEps of its threshold (computed in long double), the
// tokens may differ. Such disagreements are counted and printed; any other
// disagreement fails the test.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "codegen/gpu_target.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/sampling/sampling_host.h"
#include "gtest/gtest.h"
#include "runtime/generate/generation_config.h"
#include "runtime/generate/device_sampling.h"
#include "runtime/generate/sampler.h"
#include "tests/support/test_seed.h"

namespace kiln::codegen::sampling {
namespace {

using ::kiln::testing::Rng;
using ::kiln::testing::SeedNote;
using ::kiln::testing::TestRng;

// Left-to-right double sums of up to 2^17 terms <= 1 are within ~2^-36 of
// the exact sum; block-tree sums closer still.
constexpr long double kBoundaryEps = 1e-10L;
constexpr float kInf = std::numeric_limits<float>::infinity();

SampleParams ParamsFor(const GenerationConfig& c, uint64_t step) {
  return DeviceSampleParams(c, step);
}

// True when one of SampleToken's decisions for this row lies within
// kBoundaryEps of its threshold, recomputing its steps in long double.
// Returns which decision ("top_p", "min_p", "draw"), or "" when none.
std::string NearDecisionBoundary(const std::vector<float>& logits, const GenerationConfig& c,
                                 uint64_t step) {
  const size_t n = logits.size();
  std::vector<double> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = static_cast<double>(logits[i]) / c.temperature;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] > x[b]; });
  size_t keep = c.top_k > 0 ? std::min(n, static_cast<size_t>(c.top_k)) : n;
  std::vector<long double> p(n, 0.0L);
  long double s1 = 0;
  for (size_t i = 0; i < keep; ++i) s1 += (p[order[i]] = std::exp((long double)x[order[i]] - x[order[0]]));
  for (size_t i = 0; i < keep; ++i) p[order[i]] /= s1;
  std::string near;
  auto note = [&](bool close, const char* what) {
    if (close && near.find(what) == std::string::npos) near += near.empty() ? what : std::string(" ") + what;
  };
  if (c.top_p < 1.0) {
    long double mass = 0;
    size_t i = 0;
    for (; i < keep; ++i) {
      mass += p[order[i]];
      note(std::fabs(mass - c.top_p) <= kBoundaryEps, "top_p");
      if (mass >= c.top_p + kBoundaryEps) break;
    }
    keep = std::min(keep, i + 1);
  }
  if (c.min_p > 0.0) {
    const long double floor = c.min_p * p[order[0]];
    for (size_t i = 1; i < keep; ++i) {
      note(std::fabs(p[order[i]] - floor) <= kBoundaryEps * p[order[0]], "min_p");
    }
    size_t i = 1;
    while (i < keep && p[order[i]] >= floor) ++i;
    keep = i;
  }
  long double s2 = 0;
  for (size_t i = 0; i < keep; ++i) s2 += p[order[i]];
  std::vector<bool> kept(n, false);
  for (size_t i = 0; i < keep; ++i) kept[order[i]] = true;
  const long double u = CounterUniform(c.seed, step);
  long double cumulative = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!kept[i] || p[i] == 0) continue;
    cumulative += p[i] / s2;
    note(std::fabs(cumulative - u) <= kBoundaryEps, "draw");
  }
  return near;
}

struct Tally {
  int64_t rows = 0, sampled = 0, disagreements = 0, boundary = 0;
};

// Twin vs SampleToken on one row; a disagreement away from every decision
// boundary is a test failure.
void Compare(const std::vector<float>& logits, const GenerationConfig& c, uint64_t step,
             const char* kind, Tally& tally) {
  const int threads = SamplingThreads(static_cast<int64_t>(logits.size()), H100Target());
  const SampleParams params = ParamsFor(c, step);
  ASSERT_TRUE(ValidateSampleParams(params).ok()) << ValidateSampleParams(params);
  const SampleResult twin = SampleRowTwin(logits, params, threads);
  const absl::StatusOr<int32_t> want = SampleToken(logits, c, {}, step);
  ++tally.rows;
  tally.sampled += c.do_sample;
  if (!want.ok()) {
    EXPECT_TRUE(twin.fault) << kind << ": SampleToken says " << want.status();
    EXPECT_EQ(twin.token, -1);
    return;
  }
  EXPECT_FALSE(twin.fault) << kind;
  if (twin.token == *want) return;
  ++tally.disagreements;
  const std::string near = c.do_sample ? NearDecisionBoundary(logits, c, step) : "";
  if (!near.empty()) {
    ++tally.boundary;
    std::printf("boundary case (%s, vocab %zu, near %s; T %g top_k %d top_p %g min_p %g): twin %d, SampleToken %d\n",
                kind, logits.size(), near.c_str(), c.temperature, c.top_k, c.top_p, c.min_p, twin.token, *want);
    return;
  }
  ADD_FAILURE() << kind << " vocab " << logits.size() << ": twin " << twin.token
                << ", SampleToken " << *want << " (do_sample " << c.do_sample << ", T "
                << c.temperature << ", top_k " << c.top_k << ", top_p " << c.top_p << ", min_p "
                << c.min_p << ", seed " << c.seed << ", step " << step << ")";
}

enum class Kind { kNormal, kQuantised, kBF16, kHoles, kPeaked, kFewValues, kAllEqual, kCount };
const char* KindName(Kind k) {
  static const char* kNames[] = {"normal", "quantised", "bf16", "-inf holes", "peaked",
                                 "few values", "all equal"};
  return kNames[static_cast<int>(k)];
}

std::vector<float> RandomRow(Rng& rng, size_t n, Kind kind) {
  std::normal_distribution<double> normal(0.0, std::uniform_real_distribution<double>(0.5, 4)(rng));
  std::vector<float> row(n);
  for (float& v : row) v = static_cast<float>(normal(rng));
  switch (kind) {
    case Kind::kQuantised:
      for (float& v : row) v = std::round(v * 4) / 4;
      break;
    case Kind::kBF16:
      for (float& v : row) v = std::bit_cast<float>(std::bit_cast<uint32_t>(v) & 0xffff0000u);
      break;
    case Kind::kHoles:
      for (float& v : row) {
        if (std::uniform_int_distribution<int>(0, 9)(rng) == 0) v = -kInf;
      }
      break;
    case Kind::kPeaked:
      row[std::uniform_int_distribution<size_t>(0, n - 1)(rng)] += 12.0f;
      break;
    case Kind::kFewValues:
      for (float& v : row) v = static_cast<float>(std::uniform_int_distribution<int>(0, 3)(rng));
      break;
    case Kind::kAllEqual:
      std::fill(row.begin(), row.end(), static_cast<float>(normal(rng)));
      break;
    default:
      break;
  }
  return row;
}

GenerationConfig RandomConfig(Rng& rng, size_t n) {
  auto pick = [&](auto values) { return values[std::uniform_int_distribution<size_t>(0, values.size() - 1)(rng)]; };
  GenerationConfig c;
  c.do_sample = std::uniform_int_distribution<int>(0, 6)(rng) != 0;
  c.temperature = pick(std::vector<double>{0.25, 0.7, 1.0, 1.0, 1.3, 2.5});
  c.top_k = pick(std::vector<int>{0, 0, 1, 2, 10, 50, 1000, static_cast<int>(n) + 5});
  c.top_p = pick(std::vector<double>{1.0, 1.0, 0.999, 0.95, 0.9, 0.5, 0.1});
  c.min_p = pick(std::vector<double>{0.0, 0.0, 0.0, 0.02, 0.1, 0.5});
  c.seed = rng();
  return c;
}

TEST(SamplingTwinTest, PicksSampleTokensTokenOnRandomRows) {
  Rng rng = TestRng();
  std::printf("%s\n", SeedNote().c_str());
  for (auto [vocab, rows] : {std::pair<size_t, int>{1031, 1400}, {32000, 140}, {128256, 35}}) {
    Tally tally;
    for (int r = 0; r < rows; ++r) {
      const Kind kind = static_cast<Kind>(r % static_cast<int>(Kind::kCount));
      const std::vector<float> row = RandomRow(rng, vocab, kind);
      Compare(row, RandomConfig(rng, vocab), rng() % 100000, KindName(kind), tally);
    }
    std::printf("vocab %6zu: %lld rows (%lld sampled), %lld disagreements, %lld of them boundary cases\n",
                vocab, (long long)tally.rows, (long long)tally.sampled,
                (long long)tally.disagreements, (long long)tally.boundary);
  }
}

// Top-p with all-equal logits where top_p * vocab is an integer: the mass
// reaches top_p exactly in real arithmetic, so SampleToken's left-to-right
// sum and the kernel's r * p may land on either side -- the documented
// boundary case. Either the tokens agree or the case is classified.
TEST(SamplingTwinTest, TopPExactlyAtTheMassIsTheDocumentedBoundaryCase) {
  Tally tally;
  for (int vocab : {1000, 1030, 2048, 4000}) {
    const std::vector<float> row(vocab, 0.5f);
    for (double top_p : {0.5, 0.25, 0.75}) {
      for (uint64_t step = 0; step < 20; ++step) {
        GenerationConfig c;
        c.do_sample = true;
        c.top_p = top_p;
        c.seed = 7 + vocab;
        Compare(row, c, step, "exact top_p", tally);
      }
    }
  }
  std::printf("exact top_p: %lld rows, %lld disagreements, %lld boundary cases\n",
              (long long)tally.rows, (long long)tally.disagreements, (long long)tally.boundary);
}

TEST(SamplingTwinTest, NanInfinityAndTinyRows) {
  Tally tally;
  GenerationConfig greedy, sample;
  sample.do_sample = true;
  sample.top_k = 5;
  std::vector<float> row(1031, 1.0f);
  row[17] = std::nanf("");
  Compare(row, greedy, 0, "NaN greedy", tally);
  Compare(row, sample, 0, "NaN sampled", tally);
  EXPECT_TRUE(SampleRowTwin(row, ParamsFor(sample, 0), 96).fault);
  std::fill(row.begin(), row.end(), -kInf);
  Compare(row, greedy, 0, "all -inf greedy", tally);
  Compare(row, sample, 0, "all -inf sampled", tally);
  row[3] = kInf;
  row[9] = kInf;
  Compare(row, greedy, 0, "+inf greedy", tally);
  Compare(row, sample, 0, "+inf sampled", tally);
  for (float v : {-kInf, 0.0f, 3.0f}) Compare({v}, sample, 1, "vocab 1", tally);
  // -0 and +0 tie: the lower index comes first.
  Compare({-0.0f, 0.0f, -1.0f}, greedy, 0, "signed zeros", tally);
  GenerationConfig k1 = sample;
  k1.top_k = 1;
  Compare({-1.0f, 0.0f, -0.0f, -2.0f}, k1, 0, "signed zeros top_k 1", tally);
  EXPECT_EQ(tally.disagreements, 0);
  // Extreme temperatures: quotients overflow to +-inf or crowd near 0. A
  // huge temperature flattens a row to (nearly) equal probabilities, which
  // can put the top_p mass exactly on its threshold: the documented
  // boundary case, the only disagreement allowed here (Compare fails on
  // any other).
  Rng rng = TestRng();
  for (double t : {1e-300, 1e-30, 1e30, 1e200}) {
    for (int r = 0; r < 6; ++r) {
      GenerationConfig c = RandomConfig(rng, 1031);
      c.do_sample = true;
      c.temperature = t;
      Compare(RandomRow(rng, 1031, static_cast<Kind>(r)), c, r, "extreme temperature", tally);
    }
  }
  EXPECT_EQ(tally.disagreements, tally.boundary);
}

TEST(SamplingTwinTest, ScalarHelpersMatchTheHost) {
  Rng rng = TestRng();
  for (int i = 0; i < 10000; ++i) {
    const uint64_t seed = rng(), counter = rng() % 1000000;
    ASSERT_EQ(SampleUniform(seed, counter), CounterUniform(seed, counter));
  }
  // SampleExp against glibc's exp: at most 1 ulp apart.
  EXPECT_EQ(SampleExp(0.0), 1.0);
  EXPECT_EQ(SampleExp(-0.0), 1.0);
  EXPECT_EQ(SampleExp(-std::numeric_limits<double>::infinity()), 0.0);
  EXPECT_EQ(SampleExp(-800.0), 0.0);
  double worst = 0;
  std::uniform_real_distribution<double> d(-745.5, 0.0), small(-1.0, 0.0);
  for (int i = 0; i < 200000; ++i) {
    const double x = i % 2 ? d(rng) : small(rng);
    const double got = SampleExp(x), want = std::exp(x);
    const double ulp = std::nextafter(want, 1.0) - want;
    worst = std::max(worst, std::fabs(got - want) / (ulp > 0 ? ulp : 1e-300));
  }
  std::printf("SampleExp vs std::exp: worst %.2f ulp\n", worst);
  EXPECT_LE(worst, 1.0);
  // Keys order as the floats do.
  const std::vector<float> ordered = {-kInf, -3.5f, -1e-40f, 0.0f, 1e-40f, 2.0f, kInf};
  for (size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(LogitKey(ordered[i - 1]), LogitKey(ordered[i]));
    EXPECT_EQ(LogitFromKey(LogitKey(ordered[i])), ordered[i]);
  }
  EXPECT_EQ(LogitKey(-0.0f), LogitKey(0.0f));
}

TEST(SamplingTwinTest, ValidatesParameters) {
  EXPECT_TRUE(ValidateSampleParams({}).ok());
  SampleParams p{.greedy = 0};
  EXPECT_TRUE(ValidateSampleParams(p).ok());
  for (double t : {0.0, -1.0, 0x1p801, std::nan("")}) {
    p.temperature = t;
    EXPECT_FALSE(ValidateSampleParams(p).ok()) << t;
  }
  p = {.top_p = 0.0, .greedy = 0};
  EXPECT_FALSE(ValidateSampleParams(p).ok());
  p = {.min_p = 1.0, .greedy = 0};
  EXPECT_FALSE(ValidateSampleParams(p).ok());
  p = {.top_k = -1, .greedy = 0};
  EXPECT_FALSE(ValidateSampleParams(p).ok());
}

}  // namespace
}  // namespace kiln::codegen::sampling
