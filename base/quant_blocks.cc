#include "base/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/half.h"

namespace kiln {
namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float LoadF16(const uint8_t* p) { return F16ToFloat(LoadU16(p)); }
void StoreF16(uint8_t* p, float v) {
  const uint16_t h = FloatToF16(v);
  std::memcpy(p, &h, 2);
}

// --- Dequantisation, one block at a time (layouts in the header) ---

void DequantQ8_0(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<int8_t>(b[2 + i]);
}

void DequantQ4_0(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * ((b[2 + i] & 0x0F) - 8);
    y[i + 16] = d * ((b[2 + i] >> 4) - 8);
  }
}

void DequantQ4_1(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float m = LoadF16(b + 2);
  for (int i = 0; i < 16; ++i) {
    y[i] = d * (b[4 + i] & 0x0F) + m;
    y[i + 16] = d * (b[4 + i] >> 4) + m;
  }
}

// q4_k and q5_k share everything but the fifth bit (qh == nullptr for q4_k).
void DequantQ4KOrQ5K(const uint8_t* b, const uint8_t* qs, const uint8_t* qh, float* y) {
  const float d = LoadF16(b);
  const float dmin = LoadF16(b + 2);
  uint8_t sc[8], mn[8];
  UnpackQ4KScales(b + kQ4KScalesAt, sc, mn);
  for (int j = 0; j < 8; ++j) {
    const float scale = d * sc[j];
    const float min = dmin * mn[j];
    const uint8_t* q = qs + 32 * (j / 2);
    const int shift = 4 * (j % 2);
    for (int l = 0; l < 32; ++l) {
      int v = (q[l] >> shift) & 0x0F;
      if (qh != nullptr && ((qh[l] >> j) & 1)) v += 16;
      y[32 * j + l] = scale * v - min;
    }
  }
}

void DequantQ6K(const uint8_t* b, float* y) {
  const float d = LoadF16(b + kQ6KDAt);
  const auto* scales = reinterpret_cast<const int8_t*>(b + kQ6KScalesAt);
  for (int e = 0; e < kQK; ++e) {
    const int h = e / 128, t = (e % 128) / 32, l = e % 32;
    const uint8_t lo = b[64 * h + l + 32 * (t & 1)];
    const int low4 = t < 2 ? (lo & 0x0F) : (lo >> 4);
    const int high2 = (b[kQ6KQhAt + 32 * h + l] >> (2 * t)) & 3;
    y[e] = (d * scales[8 * h + 2 * t + l / 16]) * ((low4 | (high2 << 4)) - 32);
  }
}

// --- Quantisation ---

absl::Status CheckFinite(const float* x, int n, int64_t block) {
  for (int i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("block ", block, ": element ", i, " is not finite (", x[i], ")"));
    }
  }
  return absl::OkStatus();
}

int RoundClamp(float v, int lo, int hi) {
  return std::clamp(static_cast<int>(std::nearbyint(v)), lo, hi);
}

void QuantQ8_0(const float* x, uint8_t* b) {
  float amax = 0;
  for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127;
  const float id = d != 0 ? 1 / d : 0;
  StoreF16(b, d);
  for (int i = 0; i < 32; ++i) b[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::round(x[i] * id)));
}

void QuantQ4_0(const float* x, uint8_t* b) {
  // The element of largest magnitude maps to -8 exactly, keeping its sign.
  float amax = 0, max = 0;
  for (int i = 0; i < 32; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  const float d = max / -8;
  const float id = d != 0 ? 1 / d : 0;
  StoreF16(b, d);
  for (int i = 0; i < 16; ++i) {
    const int lo = std::min(15, static_cast<int>(x[i] * id + 8.5f));
    const int hi = std::min(15, static_cast<int>(x[i + 16] * id + 8.5f));
    b[2 + i] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void QuantQ4_1(const float* x, uint8_t* b) {
  float min = x[0], max = x[0];
  for (int i = 1; i < 32; ++i) {
    min = std::min(min, x[i]);
    max = std::max(max, x[i]);
  }
  const float d = (max - min) / 15;
  const float id = d != 0 ? 1 / d : 0;
  StoreF16(b, d);
  StoreF16(b + 2, min);
  for (int i = 0; i < 16; ++i) {
    const int lo = std::min(15, static_cast<int>((x[i] - min) * id + 0.5f));
    const int hi = std::min(15, static_cast<int>((x[i + 16] - min) * id + 0.5f));
    b[4 + i] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void QuantQ4K(const float* x, uint8_t* b) {
  float scale[8], min[8], max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float lo = 0, hi = x[32 * j];  // lo starts at 0: mins are stored as -min >= 0
    for (int l = 0; l < 32; ++l) {
      lo = std::min(lo, x[32 * j + l]);
      hi = std::max(hi, x[32 * j + l]);
    }
    scale[j] = (hi - lo) / 15;
    min[j] = -lo;
    max_scale = std::max(max_scale, scale[j]);
    max_min = std::max(max_min, min[j]);
  }
  StoreF16(b, max_scale / 63);
  StoreF16(b + 2, max_min / 63);
  const float d = LoadF16(b), dmin = LoadF16(b + 2);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = d > 0 ? static_cast<uint8_t>(RoundClamp(scale[j] / d, 0, 63)) : 0;
    mn[j] = dmin > 0 ? static_cast<uint8_t>(RoundClamp(min[j] / dmin, 0, 63)) : 0;
  }
  PackQ4KScales(sc, mn, b + kQ4KScalesAt);
  uint8_t* qs = b + kQ4KQsAt;
  std::memset(qs, 0, 128);
  for (int j = 0; j < 8; ++j) {
    // Round with the scale and min the decoder will use.
    const float s = d * sc[j], m = dmin * mn[j];
    for (int l = 0; l < 32; ++l) {
      const int q = s > 0 ? RoundClamp((x[32 * j + l] + m) / s, 0, 15) : 0;
      qs[32 * (j / 2) + l] |= static_cast<uint8_t>(q << (4 * (j % 2)));
    }
  }
}

void QuantQ6K(const float* x, uint8_t* b) {
  float scale[16], max_scale = 0, amax_scale = 0;
  for (int s = 0; s < 16; ++s) {
    float amax = 0, max = 0;
    for (int l = 0; l < 16; ++l) {
      if (std::fabs(x[16 * s + l]) > amax) {
        amax = std::fabs(x[16 * s + l]);
        max = x[16 * s + l];
      }
    }
    scale[s] = max / -32;
    if (std::fabs(scale[s]) > amax_scale) {
      amax_scale = std::fabs(scale[s]);
      max_scale = scale[s];
    }
  }
  std::memset(b, 0, 210);
  StoreF16(b + kQ6KDAt, max_scale / -128);
  const float d = LoadF16(b + kQ6KDAt);
  auto* scales = reinterpret_cast<int8_t*>(b + kQ6KScalesAt);
  for (int s = 0; s < 16; ++s) {
    scales[s] = static_cast<int8_t>(d != 0 ? RoundClamp(scale[s] / d, -128, 127) : 0);
  }
  for (int e = 0; e < kQK; ++e) {
    const float step = d * scales[e / 16];
    const int q = (step != 0 ? RoundClamp(x[e] / step, -32, 31) : 0) + 32;
    const int h = e / 128, t = (e % 128) / 32, l = e % 32;
    b[64 * h + l + 32 * (t & 1)] |= static_cast<uint8_t>((q & 0x0F) << (t < 2 ? 0 : 4));
    b[kQ6KQhAt + 32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * t));
  }
}

}  // namespace

void UnpackQ4KScales(const uint8_t* s, uint8_t sc[8], uint8_t mn[8]) {
  for (int j = 0; j < 4; ++j) {
    sc[j] = s[j] & 63;
    mn[j] = s[j + 4] & 63;
  }
  for (int j = 4; j < 8; ++j) {
    sc[j] = static_cast<uint8_t>((s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4));
    mn[j] = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

void PackQ4KScales(const uint8_t sc[8], const uint8_t mn[8], uint8_t* s) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0x0F) | ((mn[j + 4] & 0x0F) << 4));
  }
}

void DequantizeRow(DType dtype, const uint8_t* src, int64_t count, float* dst) {
  const int64_t bs = BlockSize(dtype), bb = BlockBytes(dtype);
  for (int64_t i = 0; i < count / bs; ++i) {
    const uint8_t* b = src + i * bb;
    float* y = dst + i * bs;
    switch (dtype) {
      case DType::kF32: std::memcpy(y, b, 4); break;
      case DType::kF16: *y = F16ToFloat(LoadU16(b)); break;
      case DType::kBF16: *y = BF16ToFloat(LoadU16(b)); break;
      case DType::kQ8_0: DequantQ8_0(b, y); break;
      case DType::kQ4_0: DequantQ4_0(b, y); break;
      case DType::kQ4_1: DequantQ4_1(b, y); break;
      case DType::kQ4_K: DequantQ4KOrQ5K(b, b + kQ4KQsAt, nullptr, y); break;
      case DType::kQ5_K: DequantQ4KOrQ5K(b, b + kQ5KQsAt, b + kQ5KQhAt, y); break;
      case DType::kQ6_K: DequantQ6K(b, y); break;
      default: std::abort();  // not a weight dtype: a caller bug
    }
  }
}

absl::Status QuantizeRow(DType dtype, const float* src, int64_t count, uint8_t* dst) {
  void (*quant)(const float*, uint8_t*) = nullptr;
  switch (dtype) {
    case DType::kQ8_0: quant = QuantQ8_0; break;
    case DType::kQ4_0: quant = QuantQ4_0; break;
    case DType::kQ4_1: quant = QuantQ4_1; break;
    case DType::kQ4_K: quant = QuantQ4K; break;
    case DType::kQ6_K: quant = QuantQ6K; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("cannot quantize to ", std::string(DTypeName(dtype)),
                       " (supported: q8_0, q4_0, q4_1, q4_k, q6_k)"));
  }
  const int64_t bs = BlockSize(dtype), bb = BlockBytes(dtype);
  if (count < 0 || count % bs != 0) {
    return absl::InvalidArgumentError(absl::StrCat(count, " elements are not a whole number of ",
                                                   std::string(DTypeName(dtype)), " blocks of ", bs));
  }
  for (int64_t i = 0; i < count / bs; ++i) {
    if (absl::Status s = CheckFinite(src + i * bs, static_cast<int>(bs), i); !s.ok()) return s;
    quant(src + i * bs, dst + i * bb);
  }
  return absl::OkStatus();
}

absl::Status CheckBlockScales(DType dtype, std::span<const uint8_t> bytes) {
  if (!IsBlockQuantized(dtype)) return absl::OkStatus();
  const int64_t bb = BlockBytes(dtype);
  if (bytes.size() % bb != 0) {
    return absl::InvalidArgumentError(absl::StrCat(bytes.size(), " bytes are not a whole number of ",
                                                   std::string(DTypeName(dtype)), " blocks of ", bb, " bytes"));
  }
  // Byte offsets of the block's f16 scales.
  int offsets[2] = {0, -1};
  if (dtype == DType::kQ4_1 || dtype == DType::kQ4_K || dtype == DType::kQ5_K) offsets[1] = 2;
  if (dtype == DType::kQ6_K) offsets[0] = kQ6KDAt;
  const int64_t blocks = static_cast<int64_t>(bytes.size()) / bb;
  for (int64_t i = 0; i < blocks; ++i) {
    for (int off : offsets) {
      if (off < 0) continue;
      const float v = LoadF16(bytes.data() + i * bb + off);
      if (!std::isfinite(v)) {
        return absl::InvalidArgumentError(absl::StrCat(std::string(DTypeName(dtype)), " block ", i,
                                                       ": scale at byte ", off, " is not finite"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
