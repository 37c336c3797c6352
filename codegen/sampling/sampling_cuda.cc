#include "codegen/sampling/sampling_cuda.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "codegen/cuda_ptx.h"
#include "absl/strings/str_replace.h"

namespace kiln::codegen::sampling {
namespace {

// Logit loads per dtype: f16 widens by cvt (exact), bf16 by a shift.
constexpr char kF32Load[] = R"(
typedef float kiln_logit_t;
__device__ __forceinline__ float kiln_load(const float* row, int j) { return row[j]; }
)";
constexpr char kF16Load[] = R"(
typedef unsigned short kiln_logit_t;
__device__ __forceinline__ float kiln_load(const unsigned short* row, int j) {
  float f;
  KILN_PTX_CVT_F32_F16(f, row[j]);
  return f;
}
)";
constexpr char kBF16Load[] = R"(
typedef unsigned short kiln_logit_t;
__device__ __forceinline__ float kiln_load(const unsigned short* row, int j) {
  return __uint_as_float(static_cast<unsigned int>(row[j]) << 16);
}
)";

// Scalar helpers (all IEEE-754 double operations, no contraction:
// --fmad=false and explicit fma): the order key of a logit (an unsigned
// integer that compares as the floats do; -0 and +0 share one), its
// inverse, CounterUniform of runtime/generate/sampler.h (SplitMix64 of
// SplitMix64(seed) ^ counter, top 53 bits times 2^-53), and e^d for d <= 0:
// d = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), e^r by its
// degree-13 Taylor polynomial in Horner form (truncation error < 2^-60
// relative), times 2^k in one or two exact-power multiplications; e^0 == 1
// exactly and d <= -746 gives 0.
constexpr char kScalars[] = R"(
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kNoIndex = 0x7fffffff;

struct KilnSampleParams {
  double temperature;
  double top_p;
  double min_p;
  unsigned long long seed;
  unsigned long long counter;
  int top_k;
  int greedy;
};
static_assert(sizeof(KilnSampleParams) == 48, "layout of kiln::codegen::sampling::SampleParams");

// An unsigned key ordered as the float logits (-0 and +0 share one).
__device__ __forceinline__ unsigned kiln_key(float f) {
  unsigned b = __float_as_uint(f);
  if (b == 0x80000000u) b = 0u;
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float kiln_key_value(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

__device__ __forceinline__ unsigned long long kiln_splitmix64(unsigned long long x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
// CounterUniform: 53 random bits times 2^-53 (exact).
__device__ __forceinline__ double kiln_uniform(unsigned long long seed, unsigned long long counter) {
  const unsigned long long bits = kiln_splitmix64(kiln_splitmix64(seed) ^ counter);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

__device__ __forceinline__ double kiln_pow2(int k) {
  return __longlong_as_double(static_cast<long long>(k + 1023) << 52);
}
// e^d for d <= 0: d = k ln2 + r (ln2 = hi + lo, k * hi exact), e^r by the
// degree-13 Taylor polynomial (Horner, fma), times 2^k.
__device__ __forceinline__ double kiln_exp_neg(double d) {
  if (!(d > -746.0)) return 0.0;
  const double k = floor(d * 0x1.71547652b82fep+0 + 0.5);
  double r = fma(-k, 0x1.62e42fefa3800p-1, d);
  r = fma(-k, 0x1.ef35793c76730p-45, r);
  double e = 0x1.6124613a86d09p-33;
  e = fma(e, r, 0x1.1eed8eff8d898p-29);
  e = fma(e, r, 0x1.ae64567f544e4p-26);
  e = fma(e, r, 0x1.27e4fb7789f5cp-22);
  e = fma(e, r, 0x1.71de3a556c734p-19);
  e = fma(e, r, 0x1.a01a01a01a01ap-16);
  e = fma(e, r, 0x1.a01a01a01a01ap-13);
  e = fma(e, r, 0x1.6c16c16c16c17p-10);
  e = fma(e, r, 0x1.1111111111111p-7);
  e = fma(e, r, 0x1.5555555555555p-5);
  e = fma(e, r, 0x1.5555555555555p-3);
  e = fma(e, r, 0.5);
  e = fma(e, r, 1.0);
  e = fma(e, r, 1.0);
  const int ki = static_cast<int>(k);
  if (ki >= -1022) return e * kiln_pow2(ki);
  return (e * kiln_pow2(ki + 200)) * 0x1p-200;
}
)";

// Block-level pieces. Shared memory is one static struct (< 4 KiB).
constexpr char kBlock[] = R"(
struct KilnShared {
  double warp_sum[kWarps];
  double bucket_warp[16][kWarps];
  double bucket_total[16];
  unsigned hist[256];
  unsigned count16[16];
  float warp_best[kWarps];
  int warp_best_i[kWarps];
  int warp_count[kWarps];
  unsigned prefix;
  int rank;
  int index;
  int hit;
  int last;
  double above;
};

// A prefix of the row in SampleToken's order (logit descending, index
// ascending): keys above `key`, and `key` itself up to `index`.
struct KilnCut {
  unsigned key;
  int index;
  __device__ __forceinline__ bool contains(unsigned k, int j) const {
    return k > key || (k == key && j <= index);
  }
};

// One row: its logits and the scalars every step reads.
struct KilnRow {
  const kiln_logit_t* logits;
  int vocab;
  double temperature;
  double xmax;  // the largest logit / temperature
  double s1;    // sum of e over the top-k cut
  __device__ __forceinline__ double e(float l) const {
    return kiln_exp_neg(static_cast<double>(l) / temperature - xmax);
  }
};

// Sum over the warp: the xor butterfly (every lane ends with the total).
__device__ __forceinline__ double kiln_warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v = v + __shfl_xor_sync(kFull, v, o);
  return v;
}

// The warp's largest value and its index, the lower index on ties (every
// lane ends with both).
__device__ __forceinline__ void kiln_warp_argmax(float& best, int& best_i) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(kFull, best, o);
    const int oi = __shfl_xor_sync(kFull, best_i, o);
    if (ov > best || (ov == best && oi < best_i)) {
      best = ov;
      best_i = oi;
    }
  }
}

// Sum over the block: xor butterfly in each warp, then over the warp
// totals padded with zeros (host: codegen/host_runtime.h kiln_block_sum).
__device__ __forceinline__ double kiln_block_sum(double v, KilnShared& sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = kiln_warp_sum(v);
  if (lane == 0) sh.warp_sum[warp] = v;
  __syncthreads();
  const double w = kiln_warp_sum(lane < kWarps ? sh.warp_sum[lane] : 0.0);
  __syncthreads();
  return w;
}

// The rank-th (1-based) smallest index whose key is `key`: tiles of
// kThreads indices, counted by ballots, until the rank is reached.
__device__ int kiln_select_index(const KilnRow& row, unsigned key, int rank, KilnShared& sh) {
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  if (t == 0) sh.index = row.vocab - 1;
  int seen = 0;
  for (int base = 0; base < row.vocab; base += kThreads) {
    const int j = base + t;
    const bool pred = j < row.vocab && kiln_key(kiln_load(row.logits, j)) == key;
    const unsigned ballot = __ballot_sync(kFull, pred);
    if (lane == 0) sh.warp_count[warp] = __popc(ballot);
    __syncthreads();
    int before = 0, total = 0;
    for (int w = 0; w < kWarps; ++w) {
      const int c = sh.warp_count[w];
      before += w < warp ? c : 0;
      total += c;
    }
    if (pred && seen + before + __popc(ballot & ((1u << lane) - 1u)) + 1 == rank) sh.index = j;
    __syncthreads();
    seen += total;
    if (seen >= rank) break;
  }
  const int index = sh.index;
  __syncthreads();
  return index;
}

// top_k: the k-th largest key by a radix select over 8-bit digits (counts
// by shared-memory atomics: integers, so any order gives the same), then
// the index that ends the cut among that key's ties.
__device__ KilnCut kiln_top_k_cut(const KilnRow& row, int k, KilnShared& sh) {
  const int t = threadIdx.x;
  unsigned prefix = 0, mask = 0;
  int want = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = t; b < 256; b += kThreads) sh.hist[b] = 0;
    __syncthreads();
    for (int j = t; j < row.vocab; j += kThreads) {
      const unsigned key = kiln_key(kiln_load(row.logits, j));
      if ((key & mask) == prefix) atomicAdd(&sh.hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (t == 0) {
      int b = 255;
      for (; b > 0 && want > static_cast<int>(sh.hist[b]); --b) want -= sh.hist[b];
      sh.prefix = prefix | (static_cast<unsigned>(b) << shift);
      sh.rank = want;
    }
    __syncthreads();
    prefix = sh.prefix;
    want = sh.rank;
    mask |= 255u << shift;
  }
  return {prefix, kiln_select_index(row, prefix, want, sh)};
}
)";

// top_p: eight levels of 4-bit digits, most significant first. Level L sums
// the probabilities of the cut's tokens that share the key's top 4L bits
// found so far into 16 buckets by the next digit; walking the buckets from
// the largest digit, `above` (the mass of every key above the bucket) plus
// the bucket's mass first reaching top_p picks the bucket (the last
// non-empty one when none does). After 32 bits the key is exact and the
// ties at it are cut by count: the smallest r with above + r * p >= top_p
// (all of them when none). Bucket masses are per-thread register sums
// (thread t's columns in order), then per-bucket block sums; counts are
// shared atomics.
constexpr char kTopP[] = R"(
__device__ KilnCut kiln_top_p_cut(const KilnRow& row, const KilnCut& in, double top_p,
                                  KilnShared& sh) {
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  unsigned prefix = 0;
  double above = 0.0;
  int ties = 0;
  for (int level = 0; level < 8; ++level) {
    const int shift = 28 - 4 * level;
    double acc[16];
#pragma unroll
    for (int b = 0; b < 16; ++b) acc[b] = 0.0;
    if (t < 16) sh.count16[t] = 0;
    __syncthreads();
    for (int j = t; j < row.vocab; j += kThreads) {
      const float l = kiln_load(row.logits, j);
      const unsigned key = kiln_key(l);
      if (!in.contains(key, j)) continue;
      if (level > 0 && (key >> (shift + 4)) != (prefix >> (shift + 4))) continue;
      const unsigned digit = (key >> shift) & 15u;
      const double p = row.e(l) / row.s1;
#pragma unroll
      for (int b = 0; b < 16; ++b) {
        if (digit == static_cast<unsigned>(b)) acc[b] = acc[b] + p;
      }
      atomicAdd(&sh.count16[digit], 1u);
    }
#pragma unroll
    for (int b = 0; b < 16; ++b) {
      const double v = kiln_warp_sum(acc[b]);
      if (lane == 0) sh.bucket_warp[b][warp] = v;
    }
    __syncthreads();
    for (int b = warp; b < 16; b += kWarps) {
      const double w = kiln_warp_sum(lane < kWarps ? sh.bucket_warp[b][lane] : 0.0);
      if (lane == 0) sh.bucket_total[b] = w;
    }
    __syncthreads();
    if (t == 0) {
      double run = above, chosen_above = above;
      int chosen = -1;
      for (int b = 15; b >= 0; --b) {
        if (sh.count16[b] == 0) continue;
        chosen = b;
        chosen_above = run;
        run = run + sh.bucket_total[b];
        if (run >= top_p) break;
      }
      sh.prefix = prefix | (static_cast<unsigned>(chosen) << shift);
      sh.above = chosen_above;
      sh.rank = static_cast<int>(sh.count16[chosen]);
    }
    __syncthreads();
    prefix = sh.prefix;
    above = sh.above;
    ties = sh.rank;
  }
  // The ties at the final key share one probability: keep the fewest r
  // with above + r p >= top_p (monotone in r, so a binary search).
  const double p = row.e(kiln_key_value(prefix)) / row.s1;
  int lo = 1, hi = ties;
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (above + static_cast<double>(mid) * p >= top_p) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return {prefix, kiln_select_index(row, prefix, lo, sh)};
}
)";

// The kernel, per row:
//   1. NaN check and argmax (first index of the largest logit); greedy
//      rows stop here;
//   2. the largest scaled logit; an infinite one makes SampleToken's
//      probabilities NaN (inf - inf), and its walk then returns the last
//      token;
//   3. top_k: the k-th largest key by an 8-bit radix select, then the index
//      that ends the cut among its ties;
//   4. S1 = sum of e_j over the top-k cut;
//   5. top_p: the shortest prefix of the cut whose mass reaches top_p;
//   6. min_p and S2 = sum of the kept probabilities;
//   7. the draw: the first token, in index order, whose cumulative
//      probability exceeds u.
constexpr char kKernel[] = R"(
extern "C" __global__ void __launch_bounds__(kThreads, 1)
$KERNEL(const kiln_logit_t* __restrict__ logits, const KilnSampleParams* __restrict__ params,
        int vocab, int* __restrict__ tokens, int* __restrict__ faults) {
  __shared__ KilnShared sh;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const KilnSampleParams prm = params[blockIdx.x];
  KilnRow row;
  row.logits = logits + static_cast<size_t>(blockIdx.x) * vocab;
  row.vocab = vocab;
  row.temperature = prm.temperature;
  // 1. NaN flag; argmax = first index of the largest (-0 == +0).
  bool nan = false;
  float best = __int_as_float(0xff800000);
  int best_i = kNoIndex;
  for (int j = t; j < vocab; j += kThreads) {
    const float v = kiln_load(row.logits, j);
    if (v != v) {
      nan = true;
    } else if (v > best || (v == best && j < best_i)) {
      best = v;
      best_i = j;
    }
  }
  kiln_warp_argmax(best, best_i);
  if (lane == 0) {
    sh.warp_best[warp] = best;
    sh.warp_best_i[warp] = best_i;
  }
  const bool any_nan = __syncthreads_or(nan) != 0;
  best = lane < kWarps ? sh.warp_best[lane] : __int_as_float(0xff800000);
  best_i = lane < kWarps ? sh.warp_best_i[lane] : kNoIndex;
  kiln_warp_argmax(best, best_i);
  if (any_nan || prm.greedy != 0) {
    if (t == 0) {
      tokens[blockIdx.x] = any_nan ? -1 : best_i;
      faults[blockIdx.x] = any_nan ? 1 : 0;
    }
    return;
  }
  // 2. An infinite largest scaled logit: SampleToken's walk ends on the
  //    last token (its probabilities are NaN).
  row.xmax = static_cast<double>(best) / prm.temperature;
  if (fabs(row.xmax) == __longlong_as_double(0x7ff0000000000000ll)) {
    if (t == 0) {
      tokens[blockIdx.x] = vocab - 1;
      faults[blockIdx.x] = 0;
    }
    return;
  }
  // 3. top_k cut.
  KilnCut cut = {0u, vocab - 1};
  if (prm.top_k > 0 && prm.top_k < vocab) cut = kiln_top_k_cut(row, prm.top_k, sh);
  // 4. S1.
  double part = 0.0;
  for (int j = t; j < vocab; j += kThreads) {
    const float l = kiln_load(row.logits, j);
    if (cut.contains(kiln_key(l), j)) part += row.e(l);
  }
  row.s1 = kiln_block_sum(part, sh);
  // 5. top_p cut.
  if (prm.top_p < 1.0) cut = kiln_top_p_cut(row, cut, prm.top_p, sh);
  // 6. min_p (a per-token test: p is monotone along the order) and S2.
  const double floor_p = prm.min_p * (1.0 / row.s1);
  const bool use_min_p = prm.min_p > 0.0;
  part = 0.0;
  for (int j = t; j < vocab; j += kThreads) {
    const float l = kiln_load(row.logits, j);
    if (!cut.contains(kiln_key(l), j)) continue;
    const double p = row.e(l) / row.s1;
    if (!use_min_p || p >= floor_p) part += p;
  }
  const double s2 = kiln_block_sum(part, sh);
  // 7. The draw: inclusive scans of q = p / S2 over tiles of kThreads
  //    tokens; the first kept token with u < carry + prefix wins.
  const double u = kiln_uniform(prm.seed, prm.counter);
  if (t == 0) {
    sh.hit = kNoIndex;
    sh.last = -1;
  }
  __syncthreads();
  double carry = 0.0;
  for (int base = 0; base < vocab; base += kThreads) {
    const int j = base + t;
    double q = 0.0;
    if (j < vocab) {
      const float l = kiln_load(row.logits, j);
      if (cut.contains(kiln_key(l), j)) {
        const double p = row.e(l) / row.s1;
        if (!use_min_p || p >= floor_p) q = p / s2;
      }
    }
    double s = q;
    for (int o = 1; o < 32; o <<= 1) {
      const double n = __shfl_up_sync(kFull, s, o);
      if (lane >= o) s = n + s;
    }
    if (lane == 31) sh.warp_sum[warp] = s;
    __syncthreads();
    double w = lane < kWarps ? sh.warp_sum[lane] : 0.0;
    for (int o = 1; o < 32; o <<= 1) {
      const double n = __shfl_up_sync(kFull, w, o);
      if (lane >= o) w = n + w;
    }
    const double before = __shfl_sync(kFull, w, warp == 0 ? 0 : warp - 1);
    const double offset = warp == 0 ? 0.0 : before;
    const double total = __shfl_sync(kFull, w, 31);
    const double c = carry + (offset + s);
    if (q != 0.0) {
      if (u < c) atomicMin(&sh.hit, j);
      atomicMax(&sh.last, j);
    }
    __syncthreads();
    const int hit = sh.hit;
    carry = carry + total;
    if (hit != kNoIndex) break;
  }
  if (t == 0) {
    tokens[blockIdx.x] = sh.hit != kNoIndex ? sh.hit : sh.last;
    faults[blockIdx.x] = 0;
  }
}
)";

}  // namespace

int SamplingThreads(int64_t vocab, const GpuTarget& info) {
  const int64_t warps = (vocab + 16 * 32 - 1) / (16 * 32);
  const int64_t cap = std::min<int64_t>(512, info.max_threads_per_block);
  return static_cast<int>(std::clamp<int64_t>(warps * 32, 64, cap));
}

std::string SamplingKernelName(const SamplingVariant& variant) {
  return absl::StrCat("kiln_sample_", std::string(DTypeName(variant.dtype)), "_t", variant.threads);
}

absl::StatusOr<std::string> RenderSamplingCuda(const SamplingVariant& variant) {
  const char* load = nullptr;
  switch (variant.dtype) {
    case DType::kF32: load = kF32Load; break;
    case DType::kF16: load = kF16Load; break;
    case DType::kBF16: load = kBF16Load; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("sampling kernel logits must be f32, f16 or bf16, got ",
                       std::string(DTypeName(variant.dtype))));
  }
  if (variant.threads < 32 || variant.threads > 512 || variant.threads % 32 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sampling kernel threads must be a multiple of 32 in [32, 512], got ", variant.threads));
  }
  const std::string kernel =
      absl::StrReplaceAll(kKernel, {{"$KERNEL", SamplingKernelName(variant)}});
  return absl::StrCat("// ", SamplingKernelName(variant),
                      ": on-device sampling (codegen/sampling/sampling_cuda.h).\n",
                      kCudaPtxPatterns, "constexpr int kThreads = ", variant.threads, ";\n", load, kScalars, kBlock,
                      kTopP, kernel);
}

}  // namespace kiln::codegen::sampling
