// The twin follows sampling_cuda.cc's kernel section by section (the
// numbered steps are the same in both files). Integer results (counts,
// radix selections, index selections) do not depend on the order of
// operations, so the twin computes them sequentially; every double sum is
// formed exactly as the kernel forms it: per-thread partial sums over the
// thread's columns t, t + T, ... in order, then the warp butterfly and the
// butterfly over warp totals (codegen/host_runtime.h's kiln_block_sum), and
// for the draw the Hillis-Steele scans below.
#include "codegen/sampling/sampling_host.h"

#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "codegen/host_runtime.h"
#include "base/counter_rng.h"

namespace kiln::codegen::sampling {
namespace {

double Pow2(int k) {  // 2^k for -1022 <= k <= 1023, exact
  return std::bit_cast<double>(static_cast<uint64_t>(k + 1023) << 52);
}

// A prefix of the tokens in SampleToken's order (logit descending, index
// ascending): the tokens whose key is above `key`, and those with `key`
// itself up to index `index`. {0, vocab - 1} is every token.
struct Cut {
  uint32_t key = 0;
  int32_t index = 0;
  bool Contains(uint32_t k, int32_t j) const { return k > key || (k == key && j <= index); }
};

// The `rank`-th (1-based) smallest index whose key is `key`.
int32_t SelectIndex(const std::vector<uint32_t>& keys, uint32_t key, int64_t rank) {
  for (size_t j = 0; j < keys.size(); ++j) {
    if (keys[j] == key && --rank == 0) return static_cast<int32_t>(j);
  }
  return static_cast<int32_t>(keys.size()) - 1;  // unreachable for a valid rank
}

// Inclusive scan of 32 lanes as __shfl_up_sync at offsets 1, 2, 4, 8, 16
// computes it: lane l >= o takes (lane l-o's value) + (its own).
void WarpInclusiveScan(double (&lanes)[32]) {
  for (int o = 1; o < 32; o <<= 1) {
    double next[32];
    for (int l = 0; l < 32; ++l) next[l] = l >= o ? lanes[l - o] + lanes[l] : lanes[l];
    for (int l = 0; l < 32; ++l) lanes[l] = next[l];
  }
}

// The kernel's state for one row; Run() is the kernel body.
class RowTwin {
 public:
  RowTwin(std::span<const float> logits, const SampleParams& p, int threads)
      : logits_(logits), p_(p), threads_(threads), n_(static_cast<int32_t>(logits.size())) {}

  SampleResult Run() {
    // 1. NaN check and argmax (first index of the largest logit).
    int32_t best_i = 0;
    for (int32_t j = 0; j < n_; ++j) {
      if (std::isnan(logits_[j])) return {-1, true};
      if (logits_[j] > logits_[best_i]) best_i = j;
    }
    if (p_.greedy != 0) return {best_i, false};
    // 2. The largest scaled logit; an infinite one makes SampleToken's
    //    probabilities NaN (inf - inf), and its walk then returns the last
    //    token.
    xmax_ = static_cast<double>(logits_[best_i]) / p_.temperature;
    if (std::isinf(xmax_)) return {n_ - 1, false};
    keys_.resize(n_);
    for (int32_t j = 0; j < n_; ++j) keys_[j] = LogitKey(logits_[j]);
    // 3. top_k: the k-th largest key by an 8-bit radix select, then the
    //    index that ends the cut among its ties.
    Cut cut{0, n_ - 1};
    if (p_.top_k > 0 && p_.top_k < n_) cut = TopKCut(p_.top_k);
    // 4. S1 = sum of e_j over the top-k cut.
    s1_ = BlockSum([&](int32_t j) { return cut.Contains(keys_[j], j) ? E(j) : -1.0; });
    // 5. top_p: the shortest prefix of the cut whose mass reaches top_p.
    if (p_.top_p < 1.0) cut = TopPCut(cut);
    // 6. min_p and S2 = sum of the kept probabilities.
    const double floor = p_.min_p * (1.0 / s1_);
    const bool use_min_p = p_.min_p > 0.0;
    auto kept_p = [&](int32_t j) {
      if (!cut.Contains(keys_[j], j)) return -1.0;
      const double p = E(j) / s1_;
      return (!use_min_p || p >= floor) ? p : -1.0;
    };
    const double s2 = BlockSum(kept_p);
    // 7. The draw: first token, in index order, whose cumulative
    //    probability exceeds u.
    return {Walk(kept_p, s2), false};
  }

 private:
  double E(int32_t j) const {
    return SampleExp(static_cast<double>(logits_[j]) / p_.temperature - xmax_);
  }

  // Block sum of value(j) over the row, skipping negative values (the
  // kernel's "not kept"): thread t sums its columns in order.
  template <typename F>
  double BlockSum(F value) const {
    std::vector<double> partials(threads_, 0.0);
    for (int t = 0; t < threads_; ++t) {
      for (int32_t j = t; j < n_; j += threads_) {
        const double v = value(j);
        if (v >= 0.0) partials[t] += v;
      }
    }
    return host::kiln_block_sum(partials.data(), threads_);
  }

  Cut TopKCut(int64_t k) const {
    uint32_t prefix = 0, mask = 0;
    int64_t want = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
      int64_t hist[256] = {};
      for (uint32_t key : keys_) {
        if ((key & mask) == prefix) ++hist[(key >> shift) & 255];
      }
      int b = 255;
      for (; b > 0 && want > hist[b]; --b) want -= hist[b];
      prefix |= static_cast<uint32_t>(b) << shift;
      mask |= 255u << shift;
    }
    return {prefix, SelectIndex(keys_, prefix, want)};
  }

  // Eight levels of 4-bit digits, most significant first. Level L sums
  // the probabilities of the cut's tokens that share the key's top 4L bits
  // found so far into 16 buckets by the next digit; walking the buckets
  // from the largest digit, `above` (the mass of every key above the
  // bucket) plus the bucket's mass first reaching top_p picks the bucket
  // (the last non-empty one when none does). After 32 bits the key is
  // exact and the ties at it are cut by count: the smallest r with
  // above + r * p >= top_p (all of them when none).
  Cut TopPCut(const Cut& in) const {
    uint32_t prefix = 0;
    double above = 0.0;
    int64_t ties = 0;
    for (int level = 0; level < 8; ++level) {
      const int shift = 28 - 4 * level;
      std::vector<double> acc(16 * threads_, 0.0);
      int64_t count[16] = {};
      for (int t = 0; t < threads_; ++t) {
        for (int32_t j = t; j < n_; j += threads_) {
          const uint32_t key = keys_[j];
          if (!in.Contains(key, j)) continue;
          if (level > 0 && (key >> (shift + 4)) != (prefix >> (shift + 4))) continue;
          const int digit = (key >> shift) & 15;
          acc[digit * threads_ + t] += E(j) / s1_;
          ++count[digit];
        }
      }
      double run = above, chosen_above = above;
      int chosen = -1;
      for (int b = 15; b >= 0; --b) {
        if (count[b] == 0) continue;
        chosen = b;
        chosen_above = run;
        run = run + host::kiln_block_sum(&acc[b * threads_], threads_);
        if (run >= p_.top_p) break;
      }
      prefix |= static_cast<uint32_t>(chosen) << shift;
      above = chosen_above;
      ties = count[chosen];
    }
    const double p = SampleExp(static_cast<double>(LogitFromKey(prefix)) / p_.temperature -
                               xmax_) / s1_;
    int64_t lo = 1, hi = ties;
    while (lo < hi) {
      const int64_t mid = lo + (hi - lo) / 2;
      if (above + static_cast<double>(mid) * p >= p_.top_p) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    return {prefix, SelectIndex(keys_, prefix, lo)};
  }

  // Tiles of `threads_` consecutive tokens (thread t holds base + t): each
  // warp scans its 32 values, warp totals are scanned the same way (zero
  // padded to 32), and C_j = carry + (exclusive warp offset + warp-inclusive
  // value). The first kept j with u < C_j is the token; carry grows by the
  // tile total. No hit anywhere: the last kept token with q_j != 0.
  template <typename F>
  int32_t Walk(F kept_p, double s2) const {
    const double u = SampleUniform(p_.seed, p_.counter);
    const int warps = threads_ / 32;
    double carry = 0.0;
    int32_t last = -1;
    std::vector<double> q(threads_), incl(threads_);
    for (int32_t base = 0; base < n_; base += threads_) {
      for (int t = 0; t < threads_; ++t) {
        const int32_t j = base + t;
        const double p = j < n_ ? kept_p(j) : -1.0;
        q[t] = p >= 0.0 ? p / s2 : 0.0;
      }
      double totals[32];
      for (int w = 0; w < 32; ++w) {
        double lanes[32];
        for (int l = 0; l < 32; ++l) lanes[l] = w < warps ? q[w * 32 + l] : 0.0;
        WarpInclusiveScan(lanes);
        for (int l = 0; l < 32 && w < warps; ++l) incl[w * 32 + l] = lanes[l];
        totals[w] = w < warps ? lanes[31] : 0.0;
      }
      WarpInclusiveScan(totals);
      for (int t = 0; t < threads_; ++t) {
        const int w = t / 32;
        const double offset = w == 0 ? 0.0 : totals[w - 1];
        const double c = carry + (offset + incl[t]);
        if (q[t] != 0.0 && u < c) return base + t;
        if (q[t] != 0.0) last = base + t;
      }
      carry = carry + totals[31];
    }
    return last;
  }

  std::span<const float> logits_;
  SampleParams p_;
  int threads_;
  int32_t n_;
  std::vector<uint32_t> keys_;
  double xmax_ = 0.0;
  double s1_ = 0.0;
};

}  // namespace

absl::Status ValidateSampleParams(const SampleParams& p) {
  if (p.greedy != 0) return absl::OkStatus();
  if (!(p.temperature > 0 && p.temperature <= kMaxKernelTemperature)) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be in (0, 2^800] for the sampling kernel, got ",
                     p.temperature));
  }
  if (!(p.top_p > 0 && p.top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1], got ", p.top_p));
  }
  if (!(p.min_p >= 0 && p.min_p < 1)) {
    return absl::InvalidArgumentError(absl::StrCat("min_p must be in [0, 1), got ", p.min_p));
  }
  if (p.top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0, got ", p.top_k));
  return absl::OkStatus();
}

double SampleUniform(uint64_t seed, uint64_t counter) { return CounterUniformDraw(seed, counter); }

double SampleExp(double d) {
  if (!(d > -746.0)) return 0.0;
  constexpr double kLog2e = 0x1.71547652b82fep+0;
  constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;  // ln 2, top 43 bits: k * hi is exact
  constexpr double kLn2Lo = 0x1.ef35793c76730p-45;  // ln 2 - kLn2Hi
  const double k = std::floor(d * kLog2e + 0.5);
  double r = std::fma(-k, kLn2Hi, d);
  r = std::fma(-k, kLn2Lo, r);
  double e = 0x1.6124613a86d09p-33;  // 1/13!
  e = std::fma(e, r, 0x1.1eed8eff8d898p-29);
  e = std::fma(e, r, 0x1.ae64567f544e4p-26);
  e = std::fma(e, r, 0x1.27e4fb7789f5cp-22);
  e = std::fma(e, r, 0x1.71de3a556c734p-19);
  e = std::fma(e, r, 0x1.a01a01a01a01ap-16);
  e = std::fma(e, r, 0x1.a01a01a01a01ap-13);
  e = std::fma(e, r, 0x1.6c16c16c16c17p-10);
  e = std::fma(e, r, 0x1.1111111111111p-7);
  e = std::fma(e, r, 0x1.5555555555555p-5);
  e = std::fma(e, r, 0x1.5555555555555p-3);
  e = std::fma(e, r, 0.5);
  e = std::fma(e, r, 1.0);
  e = std::fma(e, r, 1.0);
  const int ki = static_cast<int>(k);
  if (ki >= -1022) return e * Pow2(ki);
  return (e * Pow2(ki + 200)) * 0x1p-200;  // subnormal: one rounding, in the last product
}

uint32_t LogitKey(float logit) {
  uint32_t b = std::bit_cast<uint32_t>(logit);
  if (b == 0x80000000u) b = 0;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

float LogitFromKey(uint32_t key) {
  return std::bit_cast<float>((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

SampleResult SampleRowTwin(std::span<const float> logits, const SampleParams& params,
                           int threads) {
  if (logits.empty()) return {-1, true};
  return RowTwin(logits, params, threads).Run();
}

}  // namespace kiln::codegen::sampling
