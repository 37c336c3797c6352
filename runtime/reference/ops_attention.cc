// Rotary embedding, KV-cache writes and attention against the cache.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "runtime/reference/ops_internal.h"

namespace kiln::reference_ops {
namespace {

constexpr float kTwoPi = 6.283185307179586f;

// Rotary inverse frequencies, computed in f32 as Transformers does
// (modeling_rope_utils): inv_freq[i] = 1 / theta^(2i/d), then scaled.
std::vector<float> RopeInverseFrequencies(const Node& node, int64_t head_dim) {
  float theta = static_cast<float>(node.FloatAttr("theta"));
  std::string scaling = node.StringAttr("scaling", std::string(kRopeScalingNone));
  float factor = static_cast<float>(node.FloatAttr("factor", 1.0));
  std::vector<float> inv_freq(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[i] = 1.0f / std::pow(theta, exponent);
  }
  if (scaling == kRopeScalingLinear) {
    for (float& f : inv_freq) f /= factor;
  } else if (scaling == kRopeScalingLlama3) {
    // Llama 3.1: keep high frequencies (wavelength < original / high_ff),
    // divide low ones (wavelength > original / low_ff) by factor, and blend
    // linearly in 1/wavelength between the two.
    float low = static_cast<float>(node.FloatAttr("low_freq_factor"));
    float high = static_cast<float>(node.FloatAttr("high_freq_factor"));
    float original = static_cast<float>(node.IntAttr("original_max_position"));
    float low_freq_wavelen = original / low, high_freq_wavelen = original / high;
    for (float& f : inv_freq) {
      float wavelen = kTwoPi / f;
      if (wavelen > low_freq_wavelen) {
        f = f / factor;
      } else if (wavelen >= high_freq_wavelen) {
        float smooth = (original / wavelen - low) / (high - low);
        f = (1.0f - smooth) * f / factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

absl::Status PositionError(const Node* node, int64_t position, int64_t capacity) {
  std::string where = node ? absl::StrCat("%", node->name, " (attention)") : "kv_cache_write";
  return absl::InvalidArgumentError(absl::StrCat(where, ": cache position ", position,
                                                 " is outside the cache [0, ", capacity, ")"));
}

}  // namespace

// Rotate-half rotary embedding: for i < d/2 with angle a = pos * inv_freq[i],
//   y[i]       = x[i] cos a - x[i + d/2] sin a
//   y[i + d/2] = x[i + d/2] cos a + x[i] sin a
// rounding each product and the sum to the dtype (Transformers'
// q * cos + rotate_half(q) * sin in the model dtype).
HostTensor Rope(const Node& node, Operands in) {
  const HostTensor& x = *in[0];
  const HostTensor& pos = *in[1];
  int64_t tokens = x.shape[0] * x.shape[1], heads = x.shape[2], d = x.shape[3], half = d / 2;
  std::vector<float> inv_freq = RopeInverseFrequencies(node, d);
  HostTensor out = HostTensor::Zeros(x.dtype, x.shape);
  std::vector<float> cos(static_cast<size_t>(half)), sin(static_cast<size_t>(half));
  for (int64_t t = 0; t < tokens; ++t) {
    float p = static_cast<float>(pos.ints[t]);
    for (int64_t i = 0; i < half; ++i) {
      // cos and sin are held in the activation dtype, as in Transformers'
      // rotary modules and in kernels' cos/sin caches.
      float angle = p * inv_freq[i];
      cos[i] = RoundToDType(std::cos(angle), x.dtype);
      sin[i] = RoundToDType(std::sin(angle), x.dtype);
    }
    for (int64_t h = 0; h < heads; ++h) {
      const float* px = x.floats.data() + (t * heads + h) * d;
      float* po = out.floats.data() + (t * heads + h) * d;
      for (int64_t i = 0; i < half; ++i) {
        auto r = [&](float v) { return RoundToDType(v, x.dtype); };
        po[i] = r(r(px[i] * cos[i]) + r(-px[i + half] * sin[i]));
        po[i + half] = r(r(px[i + half] * cos[i]) + r(px[i] * sin[i]));
      }
    }
  }
  return out;
}

// cache[b, pos[b, s], :, :] = new[b, s, :, :]
absl::StatusOr<HostTensor> KvCacheWrite(Operands in, bool may_consume_first) {
  HostTensor cache = may_consume_first ? std::move(*in[0]) : *in[0];
  const HostTensor& update = *in[1];
  const HostTensor& pos = *in[2];
  int64_t batch = update.shape[0], seq = update.shape[1], capacity = cache.shape[1];
  int64_t row = update.shape[2] * update.shape[3];
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < seq; ++s) {
      int64_t p = pos.ints[b * seq + s];
      if (p < 0 || p >= capacity) return PositionError(nullptr, p, capacity);
      // Rounded to the cache's dtype (which may differ from the values').
      std::transform(update.floats.begin() + (b * seq + s) * row,
                     update.floats.begin() + (b * seq + s + 1) * row,
                     cache.floats.begin() + (b * capacity + p) * row,
                     [&](float v) { return RoundToDType(v, cache.dtype); });
    }
  }
  return cache;
}

// For the query of token (b, s) in head h, at position p = pos[b, s], with
// KV head g = h / (heads / kv_heads):
//   visible j: j <= p, and p - j < window when window > 0
//   w_j = softmax_j(scale * q . k[b, j, g])
// with the roundings of ir/op.h's Precision note in f16/bf16.
//   out = sum_j w_j v[b, j, g]
absl::StatusOr<HostTensor> Attention(const Node& node, Operands in) {
  const HostTensor& q = *in[0];
  const HostTensor& k = *in[1];
  const HostTensor& v = *in[2];
  const HostTensor& pos = *in[3];
  int64_t batch = q.shape[0], seq = q.shape[1], heads = q.shape[2], d = q.shape[3];
  int64_t capacity = k.shape[1], kv_heads = k.shape[2], group = heads / kv_heads;
  float scale = static_cast<float>(node.FloatAttr("scale"));
  int64_t window = node.IntAttr("window", 0);
  HostTensor out = HostTensor::Zeros(q.dtype, q.shape);
  std::vector<double> weights;
  std::vector<float> acc(static_cast<size_t>(d));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t s = 0; s < seq; ++s) {
      int64_t p = pos.ints[b * seq + s];
      if (p < 0 || p >= capacity) return PositionError(&node, p, capacity);
      int64_t first = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
      for (int64_t h = 0; h < heads; ++h) {
        const float* pq = q.floats.data() + ((b * seq + s) * heads + h) * d;
        auto kv_row = [&](int64_t j) { return ((b * capacity + j) * kv_heads + h / group) * d; };
        weights.assign(static_cast<size_t>(p - first + 1), 0.0);
        double max = -INFINITY;
        for (int64_t j = first; j <= p; ++j) {
          const float* pk = k.floats.data() + kv_row(j);
          float dot = 0.0f;
          for (int64_t i = 0; i < d; ++i) dot += pq[i] * pk[i];
          // Scores are rounded to the dtype after the product and after the
          // scaling, as Transformers' eager attention does (ir/op.h).
          float score = RoundToDType(RoundToDType(dot, q.dtype) * scale, q.dtype);
          weights[j - first] = static_cast<double>(score);
          max = std::max(max, weights[j - first]);
        }
        double sum = 0.0;
        for (double& w : weights) sum += (w = std::exp(w - max));
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = first; j <= p; ++j) {
          // The probabilities are rounded to the activation dtype before
          // they weight V, as in Transformers' eager attention and in
          // FlashAttention's P.V product.
          float w = RoundToDType(static_cast<float>(weights[j - first] / sum), q.dtype);
          const float* pv = v.floats.data() + kv_row(j);
          for (int64_t i = 0; i < d; ++i) acc[i] += w * pv[i];
        }
        float* po = out.floats.data() + ((b * seq + s) * heads + h) * d;
        for (int64_t i = 0; i < d; ++i) po[i] = RoundToDType(acc[i], q.dtype);
      }
    }
  }
  return out;
}

}  // namespace kiln::reference_ops
