// Matrix products, normalisations, softmax and argmax.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "base/half.h"
#include "runtime/reference/ops_internal.h"

namespace kiln::reference_ops {
namespace {

void RoundAll(HostTensor& t) {
  if (t.dtype == DType::kF32) return;
  for (float& v : t.floats) v = RoundToDType(v, t.dtype);
}

}  // namespace

// out[b, i, j] = sum_k a[b, i, k] * b[b, k, j], f32 accumulation.
HostTensor Matmul(const Node& node, Operands in, OutShape out_shape) {
  const HostTensor& a = *in[0];
  const HostTensor& b = *in[1];
  int r = a.rank();
  int64_t m = a.shape[r - 2], k = a.shape[r - 1], n = b.shape[r - 1];
  int64_t batches = m * k == 0 ? 0 : a.numel() / (m * k);
  HostTensor out = HostTensor::Zeros(a.dtype, out_shape);
  for (int64_t bi = 0; bi < batches; ++bi) {
    const float* pa = a.floats.data() + bi * m * k;
    const float* pb = b.floats.data() + bi * k * n;
    float* po = out.floats.data() + bi * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0.0f;
        for (int64_t t = 0; t < k; ++t) acc += pa[i * k + t] * pb[t * n + j];
        po[i * n + j] = acc;
      }
    }
  }
  RoundAll(out);
  return out;
}

namespace {

// Calls fn(begin, end) on disjoint ranges covering [0, n): on two threads
// when `work` (multiply-adds) is large enough to repay starting one, else on
// this thread. Each output is computed by exactly one call, in the same
// order either way, so results do not depend on the split.
void ParallelFor(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
  constexpr int64_t kMinWorkPerThread = 1 << 20;
  const int64_t threads = std::min<int64_t>({kiln::CpuThreads(), work / kMinWorkPerThread, n});
  if (threads <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> workers;
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t begin = chunk; begin < n; begin += chunk) {
    workers.emplace_back(fn, begin, std::min(n, begin + chunk));
  }
  fn(0, std::min(n, chunk));
  for (std::thread& w : workers) w.join();
}

}  // namespace

// out[r, j] = sum_k x[r, k] * w[j, k] (+ bias[j]), f32 accumulation in
// order of k; the bias is added to the f32 sum before the single rounding.
// Four rows of w are reduced side by side (four independent dependency
// chains keep the FPU busy), each in the same order as a plain loop, so the
// result is bit-identical to the one-at-a-time definition.
HostTensor MatmulNT(const Node& node, Operands in, OutShape out_shape) {
  const HostTensor& x = *in[0];
  const HostTensor& w = *in[1];
  const HostTensor* bias = in.size() == 3 ? in[2] : nullptr;
  const int64_t k = x.inner(), n = w.shape[0], rows = x.rows();
  HostTensor out = HostTensor::Zeros(x.dtype, out_shape);
  auto columns = [&](int64_t j_begin, int64_t j_end) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* px = x.floats.data() + r * k;
      float* po = out.floats.data() + r * n;
      int64_t j = j_begin;
      for (; j + 4 <= j_end; j += 4) {
        const float* w0 = w.floats.data() + j * k;
        const float *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (int64_t t = 0; t < k; ++t) {
          const float xt = px[t];
          a0 += xt * w0[t];
          a1 += xt * w1[t];
          a2 += xt * w2[t];
          a3 += xt * w3[t];
        }
        po[j] = a0 + (bias ? bias->floats[j] : 0.0f);
        po[j + 1] = a1 + (bias ? bias->floats[j + 1] : 0.0f);
        po[j + 2] = a2 + (bias ? bias->floats[j + 2] : 0.0f);
        po[j + 3] = a3 + (bias ? bias->floats[j + 3] : 0.0f);
      }
      for (; j < j_end; ++j) {
        const float* pw = w.floats.data() + j * k;
        float acc = 0.0f;
        for (int64_t t = 0; t < k; ++t) acc += px[t] * pw[t];
        po[j] = acc + (bias ? bias->floats[j] : 0.0f);
      }
    }
  };
  ParallelFor(n, rows * n * k, columns);
  RoundAll(out);
  return out;
}

// y = x / sqrt(mean(x^2) + eps) * (w + weight_offset). Gemma stores w - 1
// and uses weight_offset = 1, scaling in f32 (GemmaRMSNorm); without an
// offset the normalised x is rounded to the dtype before the scaling
// (LlamaRMSNorm's cast before `weight * x`).
HostTensor RmsNorm(const Node& node, Operands in) {
  const HostTensor& x = *in[0];
  const HostTensor& w = *in[1];
  double eps = node.FloatAttr("eps");
  float offset = static_cast<float>(node.FloatAttr("weight_offset", 0.0));
  HostTensor out = HostTensor::Zeros(x.dtype, x.shape);
  int64_t h = x.inner();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* px = x.floats.data() + r * h;
    double sum_sq = 0.0;
    for (int64_t i = 0; i < h; ++i) sum_sq += static_cast<double>(px[i]) * px[i];
    float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / static_cast<double>(h) + eps));
    for (int64_t i = 0; i < h; ++i) {
      out.floats[r * h + i] = offset != 0 ? px[i] * inv_rms * (w.floats[i] + offset)
                                          : RoundToDType(px[i] * inv_rms, x.dtype) * w.floats[i];
    }
  }
  RoundAll(out);
  return out;
}

// y = (x - mean) / sqrt(var + eps) * w + b, with the biased variance.
HostTensor LayerNorm(const Node& node, Operands in) {
  const HostTensor& x = *in[0];
  const HostTensor& w = *in[1];
  const HostTensor& b = *in[2];
  double eps = node.FloatAttr("eps");
  HostTensor out = HostTensor::Zeros(x.dtype, x.shape);
  int64_t h = x.inner();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* px = x.floats.data() + r * h;
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < h; ++i) mean += px[i];
    mean /= static_cast<double>(h);
    for (int64_t i = 0; i < h; ++i) var += (px[i] - mean) * (px[i] - mean);
    var /= static_cast<double>(h);
    double inv_std = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < h; ++i) {
      out.floats[r * h + i] =
          static_cast<float>((px[i] - mean) * inv_std) * w.floats[i] + b.floats[i];
    }
  }
  RoundAll(out);
  return out;
}

// softmax(x)_i = exp(x_i - max) / sum_j exp(x_j - max) along `axis`.
HostTensor Softmax(const Node& node, const HostTensor& x) {
  int axis = ResolveAxis(node.IntAttr("axis"), x.rank());
  AxisSplit s = SplitAtAxis(x.shape, axis);
  HostTensor out = HostTensor::Zeros(x.dtype, x.shape);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t in = 0; in < s.inner; ++in) {
      auto at = [&](int64_t i) { return (o * s.size + i) * s.inner + in; };
      float max = -INFINITY;
      for (int64_t i = 0; i < s.size; ++i) max = std::max(max, x.floats[at(i)]);
      double sum = 0.0;
      for (int64_t i = 0; i < s.size; ++i) sum += std::exp(static_cast<double>(x.floats[at(i)]) - max);
      for (int64_t i = 0; i < s.size; ++i) {
        out.floats[at(i)] = static_cast<float>(std::exp(static_cast<double>(x.floats[at(i)]) - max) / sum);
      }
    }
  }
  RoundAll(out);
  return out;
}

// Index of the largest element of each last-axis row; the first on ties, and
// the first NaN if there is one (torch.argmax's conventions).
HostTensor Argmax(const HostTensor& x, OutShape out_shape) {
  HostTensor out = HostTensor::Zeros(DType::kI32, out_shape);
  int64_t h = x.inner();
  for (int64_t r = 0; r < x.rows(); ++r) {
    const float* p = x.floats.data() + r * h;
    int64_t best = 0;
    for (int64_t i = 1; i < h; ++i) {
      if (std::isnan(p[best])) break;
      if (std::isnan(p[i]) || p[i] > p[best]) best = i;
    }
    out.ints[r] = best;
  }
  return out;
}

}  // namespace kiln::reference_ops

namespace kiln {

int64_t CpuThreads() {
  static const int64_t threads = [] {
    const char* env = std::getenv("KILN_CPU_THREADS");
    if (env != nullptr && std::atoi(env) > 0) return static_cast<int64_t>(std::atoi(env));
    return static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return std::min<int64_t>(threads, 8);
}

}  // namespace kiln
