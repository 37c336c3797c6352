#include "tests/runtime/op_reference_f64.h"

#include <cmath>
#include <limits>

namespace kiln::f64 {
namespace {

constexpr double kPi = 3.14159265358979323846;

int64_t Product(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Visits every index of `x` whose coordinate on `axis` is 0, passing the flat
// offsets of the line along `axis` through it.
template <typename Fn>
void ForEachLine(const std::vector<int64_t>& shape, int axis, Fn fn) {
  int64_t n = Product(shape);
  std::vector<int64_t> offsets(static_cast<size_t>(shape[axis]));
  for (int64_t flat = 0; flat < n; ++flat) {
    std::vector<int64_t> index = Unravel(flat, shape);
    if (index[axis] != 0) continue;
    for (int64_t i = 0; i < shape[axis]; ++i) {
      index[axis] = i;
      offsets[i] = Ravel(index, shape);
    }
    fn(offsets);
  }
}

Tensor Broadcast(const Tensor& a, const Tensor& b, bool add) {
  // b's shape is a suffix of a's, so a's flat index modulo b's size is b's.
  Tensor out = a;
  int64_t period = b.numel();
  for (int64_t i = 0; i < a.numel(); ++i) {
    double y = b.data[i % period];
    out.data[i] = add ? a.data[i] + y : a.data[i] * y;
  }
  return out;
}

}  // namespace

int64_t Tensor::numel() const { return Product(shape); }
double& Tensor::at(const std::vector<int64_t>& index) { return data[Ravel(index, shape)]; }
double Tensor::at(const std::vector<int64_t>& index) const { return data[Ravel(index, shape)]; }

Tensor Zeros(std::vector<int64_t> shape) {
  Tensor t;
  t.data.assign(static_cast<size_t>(Product(shape)), 0.0);
  t.shape = std::move(shape);
  return t;
}

std::vector<int64_t> Unravel(int64_t flat, const std::vector<int64_t>& shape) {
  std::vector<int64_t> index(shape.size());
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

int64_t Ravel(const std::vector<int64_t>& index, const std::vector<int64_t>& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + index[d];
  return flat;
}

Tensor Embedding(const Tensor& table, const Tensor& ids, int64_t index_offset) {
  int64_t width = table.shape[1];
  std::vector<int64_t> shape = ids.shape;
  shape.push_back(width);
  Tensor out = Zeros(shape);
  for (int64_t i = 0; i < ids.numel(); ++i) {
    int64_t row = static_cast<int64_t>(ids.data[i]) + index_offset;
    for (int64_t c = 0; c < width; ++c) out.data[i * width + c] = table.at({row, c});
  }
  return out;
}

Tensor Transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  std::vector<int64_t> shape(perm.size());
  for (size_t d = 0; d < perm.size(); ++d) shape[d] = x.shape[perm[d]];
  Tensor out = Zeros(shape);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    std::vector<int64_t> out_index = Unravel(flat, shape);
    std::vector<int64_t> in_index(perm.size());
    for (size_t d = 0; d < perm.size(); ++d) in_index[perm[d]] = out_index[d];
    out.data[flat] = x.at(in_index);
  }
  return out;
}

Tensor Concat(const std::vector<Tensor>& parts, int axis) {
  std::vector<int64_t> shape = parts[0].shape;
  shape[axis] = 0;
  for (const Tensor& p : parts) shape[axis] += p.shape[axis];
  Tensor out = Zeros(shape);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    std::vector<int64_t> index = Unravel(flat, shape);
    size_t part = 0;
    while (index[axis] >= parts[part].shape[axis]) index[axis] -= parts[part++].shape[axis];
    out.data[flat] = parts[part].at(index);
  }
  return out;
}

Tensor Slice(const Tensor& x, int axis, int64_t start, int64_t end) {
  std::vector<int64_t> shape = x.shape;
  shape[axis] = end - start;
  Tensor out = Zeros(shape);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    std::vector<int64_t> index = Unravel(flat, shape);
    index[axis] += start;
    out.data[flat] = x.at(index);
  }
  return out;
}

Tensor Matmul(const Tensor& a, const Tensor& b) {
  int r = static_cast<int>(a.shape.size());
  int64_t k = a.shape[r - 1], n = b.shape[r - 1];
  std::vector<int64_t> shape = a.shape;
  shape[r - 1] = n;
  Tensor out = Zeros(shape);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    std::vector<int64_t> index = Unravel(flat, shape);
    std::vector<int64_t> ia = index, ib = index;
    double sum = 0.0;
    for (int64_t t = 0; t < k; ++t) {
      ia[r - 1] = t;
      ib[r - 2] = t;
      sum += a.at(ia) * b.at(ib);
    }
    out.data[flat] = sum;
  }
  return out;
}

Tensor MatmulNT(const Tensor& x, const Tensor& w, const Tensor* bias) {
  int64_t k = x.shape.back(), n = w.shape[0], rows = x.numel() / k;
  std::vector<int64_t> shape = x.shape;
  shape.back() = n;
  Tensor out = Zeros(shape);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = bias ? bias->data[j] : 0.0;
      for (int64_t t = 0; t < k; ++t) sum += x.data[r * k + t] * w.at({j, t});
      out.data[r * n + j] = sum;
    }
  }
  return out;
}

Tensor RmsNorm(const Tensor& x, const Tensor& w, double eps, double weight_offset) {
  Tensor out = x;
  int64_t h = x.shape.back();
  for (int64_t r = 0; r < x.numel() / h; ++r) {
    double mean_sq = 0.0;
    for (int64_t i = 0; i < h; ++i) mean_sq += x.data[r * h + i] * x.data[r * h + i] / h;
    double rms = std::sqrt(mean_sq + eps);
    for (int64_t i = 0; i < h; ++i) {
      out.data[r * h + i] = x.data[r * h + i] / rms * (w.data[i] + weight_offset);
    }
  }
  return out;
}

Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  Tensor out = x;
  int64_t h = x.shape.back();
  for (int64_t r = 0; r < x.numel() / h; ++r) {
    const double* row = x.data.data() + r * h;
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < h; ++i) mean += row[i] / h;
    for (int64_t i = 0; i < h; ++i) var += (row[i] - mean) * (row[i] - mean) / h;
    for (int64_t i = 0; i < h; ++i) {
      out.data[r * h + i] = (row[i] - mean) / std::sqrt(var + eps) * w.data[i] + b.data[i];
    }
  }
  return out;
}

Tensor Softmax(const Tensor& x, int axis) {
  Tensor out = x;
  ForEachLine(x.shape, axis, [&](const std::vector<int64_t>& line) {
    double max = -std::numeric_limits<double>::infinity();
    for (int64_t o : line) max = std::max(max, x.data[o]);
    double sum = 0.0;
    for (int64_t o : line) sum += std::exp(x.data[o] - max);
    for (int64_t o : line) out.data[o] = std::exp(x.data[o] - max) / sum;
  });
  return out;
}

// inv_freq[i] = theta^(-2i/d). Linear scaling (position interpolation)
// divides every frequency by `factor`. Llama 3.1 scaling looks at each
// wavelength 2π/f against the original context L: wavelengths shorter than
// L/high_freq_factor are kept, longer than L/low_freq_factor divided by
// `factor`, and in between f is blended as (1-s)·f/factor + s·f with
// s = (L/wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor).
std::vector<double> RopeInverseFrequencies(double theta, int64_t head_dim,
                                           const RopeScaling& scaling) {
  std::vector<double> inv_freq(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    inv_freq[i] = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(head_dim));
  }
  if (scaling.kind == "linear") {
    for (double& f : inv_freq) f /= scaling.factor;
  } else if (scaling.kind == "llama3") {
    double context = static_cast<double>(scaling.original_max_position);
    double shortest_scaled = context / scaling.low_freq_factor;
    double longest_kept = context / scaling.high_freq_factor;
    for (double& f : inv_freq) {
      double wavelength = 2.0 * kPi / f;
      if (wavelength < longest_kept) continue;
      if (wavelength > shortest_scaled) {
        f /= scaling.factor;
        continue;
      }
      double s = (context / wavelength - scaling.low_freq_factor) /
                 (scaling.high_freq_factor - scaling.low_freq_factor);
      f = (1.0 - s) * f / scaling.factor + s * f;
    }
  }
  return inv_freq;
}

// Transformers' form: y = x · cos(θ) + rotate_half(x) · sin(θ), with θ and
// its cos/sin repeated over both halves and rotate_half(x) = [-x2, x1].
Tensor Rope(const Tensor& x, const Tensor& pos, const std::vector<double>& inv_freq) {
  int64_t d = x.shape[3], half = d / 2;
  Tensor out = x;
  for (int64_t flat = 0; flat < x.numel(); ++flat) {
    std::vector<int64_t> idx = Unravel(flat, x.shape);  // b, s, h, i
    int64_t i = idx[3];
    double angle = pos.at({idx[0], idx[1]}) * inv_freq[i % half];
    std::vector<int64_t> partner = idx;
    partner[3] = i < half ? i + half : i - half;
    double rotated = i < half ? -x.at(partner) : x.at(partner);
    out.data[flat] = x.data[flat] * std::cos(angle) + rotated * std::sin(angle);
  }
  return out;
}

Tensor KvCacheWrite(Tensor cache, const Tensor& update, const Tensor& pos) {
  for (int64_t flat = 0; flat < update.numel(); ++flat) {
    std::vector<int64_t> idx = Unravel(flat, update.shape);  // b, s, kvh, d
    std::vector<int64_t> slot = idx;
    slot[1] = static_cast<int64_t>(pos.at({idx[0], idx[1]}));
    cache.at(slot) = update.data[flat];
  }
  return cache;
}

Tensor Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& pos,
                 double scale, int64_t window, Tensor* term_magnitude) {
  int64_t batch = q.shape[0], seq = q.shape[1], heads = q.shape[2], d = q.shape[3];
  int64_t capacity = k.shape[1], kv_heads = k.shape[2];
  int64_t queries_per_kv = heads / kv_heads;
  Tensor out = Zeros(q.shape);
  if (term_magnitude) *term_magnitude = Zeros(q.shape);
  std::vector<double> score(static_cast<size_t>(capacity)), logit(static_cast<size_t>(capacity));
  const double kMasked = -std::numeric_limits<double>::infinity();
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < seq; ++s) {
      int64_t p = static_cast<int64_t>(pos.at({b, s}));
      for (int64_t h = 0; h < heads; ++h) {
        int64_t g = h / queries_per_kv;
        // Additive mask: 0 where visible, -inf elsewhere.
        double max = kMasked;
        for (int64_t j = 0; j < capacity; ++j) {
          bool visible = j <= p && (window == 0 || p - j < window);
          double dot = 0.0;
          for (int64_t i = 0; i < d; ++i) dot += q.at({b, s, h, i}) * k.at({b, j, g, i});
          score[j] = visible ? scale * dot : kMasked;
          logit[j] = visible ? scale * dot : 0.0;
          max = std::max(max, score[j]);
        }
        double denom = 0.0;
        for (double& e : score) denom += (e = std::exp(e - max));
        double mean_abs_logit = 0.0;
        for (int64_t j = 0; j < capacity; ++j) mean_abs_logit += score[j] / denom * std::fabs(logit[j]);
        for (int64_t i = 0; i < d; ++i) {
          double acc = 0.0, magnitude = 0.0;
          for (int64_t j = 0; j < capacity; ++j) {
            double vj = v.at({b, j, g, i});
            acc += score[j] * vj;
            magnitude += score[j] / denom * std::fabs(vj) * (1.0 + std::fabs(logit[j]) + mean_abs_logit);
          }
          out.at({b, s, h, i}) = acc / denom;
          if (term_magnitude) term_magnitude->at({b, s, h, i}) = magnitude;
        }
      }
    }
  }
  return out;
}

Tensor Add(const Tensor& a, const Tensor& b) { return Broadcast(a, b, /*add=*/true); }
Tensor Mul(const Tensor& a, const Tensor& b) { return Broadcast(a, b, /*add=*/false); }

double Silu(double x) { return x / (1.0 + std::exp(-x)); }
double GeluTanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / kPi) * (x + 0.044715 * x * x * x)));
}
double GeluErf(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double Relu(double x) { return x > 0.0 ? x : 0.0; }

Tensor Map(const Tensor& x, double (*fn)(double)) {
  Tensor out = x;
  for (double& e : out.data) e = fn(e);
  return out;
}

Tensor Argmax(const Tensor& x) {
  int64_t h = x.shape.back();
  std::vector<int64_t> shape(x.shape.begin(), x.shape.end() - 1);
  Tensor out = Zeros(shape);
  for (int64_t r = 0; r < out.numel(); ++r) {
    const double* row = x.data.data() + r * h;
    int64_t best = -1;
    for (int64_t i = 0; i < h && best < 0; ++i) {
      if (std::isnan(row[i])) best = i;
    }
    if (best < 0) {
      best = 0;
      for (int64_t i = 1; i < h; ++i) {
        if (row[i] > row[best]) best = i;
      }
    }
    out.data[r] = static_cast<double>(best);
  }
  return out;
}

double RoundToFormat(double x, int significand_bits, int min_exponent, double max_finite) {
  if (!std::isfinite(x) || x == 0.0) return x;
  int e;
  std::frexp(x, &e);  // |x| = m · 2^e with m in [0.5, 1): leading bit 2^(e-1)
  int exponent = std::max(e - 1, min_exponent);
  double ulp = std::ldexp(1.0, exponent - (significand_bits - 1));
  double rounded = std::nearbyint(x / ulp) * ulp;  // default mode: ties to even
  if (std::fabs(rounded) > max_finite) return std::copysign(INFINITY, x);
  return rounded;
}

double RoundToBF16(double x) {
  return RoundToFormat(x, 8, -126, std::ldexp(255.0, 120));  // (2 - 2^-7) · 2^127
}

double RoundToF16(double x) { return RoundToFormat(x, 11, -14, 65504.0); }

}  // namespace kiln::f64
