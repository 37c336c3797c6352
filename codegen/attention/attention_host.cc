#include "codegen/attention/attention_host.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "base/half.h"

namespace kiln::codegen::attention {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr int kLanes = 32;

// A block's rows as the kernel's shared memory holds them.
struct BlockRows {
  std::vector<float> q;    // [block_m, head_dim], zeros for no row
  std::vector<int> pos;    // -1: no row, or a faulted one
  std::vector<int> first;  // first visible slot
};

// The per-row state the lanes of a warp hold: acc indexed by dim.
struct RowState {
  float m = kNegInf;
  float l = 0.0f;
  std::vector<float> acc;
};

BlockRows EmptyRows(const AttentionShape& shape, const TileConfig& tiles) {
  const size_t m = static_cast<size_t>(tiles.block_m());
  return {std::vector<float>(m * shape.head_dim, 0.0f), std::vector<int>(m, -1),
          std::vector<int>(m, 0)};
}

// kiln_set_row plus kiln_load_queries for one row.
void SetRow(const AttentionShape& shape, const AttentionInputs& in, int r, int64_t token,
            int64_t head, BlockRows& rows, bool& fault) {
  const int32_t p = in.pos[token];
  if (p < 0 || p >= in.capacity) {
    fault = true;
  } else {
    rows.pos[r] = p;
    rows.first[r] = in.window > 0 ? std::max<int>(0, p - static_cast<int>(in.window) + 1) : 0;
  }
  const int64_t d = shape.head_dim;
  std::copy_n(in.q.begin() + (token * shape.heads + head) * d, d, rows.q.begin() + r * d);
}

// kiln_block_range.
std::pair<int, int> BlockRange(const BlockRows& rows) {
  int lo = std::numeric_limits<int>::max(), hi = 0;
  for (size_t r = 0; r < rows.pos.size(); ++r) {
    if (rows.pos[r] >= 0) {
      lo = std::min(lo, rows.first[r]);
      hi = std::max(hi, rows.pos[r] + 1);
    }
  }
  return {hi > 0 ? lo : 0, hi};
}

// __shfl_xor_sync butterfly: at offset o every lane adds lane (l ^ o)'s
// value. a + b == b + a, so all lanes end equal; lane 0's is returned.
float ButterflySum(std::array<float, kLanes> v) {
  for (int o = 16; o > 0; o >>= 1) {
    std::array<float, kLanes> next;
    for (int l = 0; l < kLanes; ++l) next[l] = v[l] + v[l ^ o];
    v = next;
  }
  return v[0];
}

// kiln_attn_tiles: the rows' online softmax over keys [lo, hi) of the
// cache rows starting at element (kv_row0 + key * kv_heads) * head_dim.
std::vector<RowState> RunTiles(const AttentionShape& shape, const TileConfig& tiles,
                               const AttentionInputs& in, int64_t kv_row0, int lo, int hi,
                               const BlockRows& rows) {
  const int d = shape.head_dim, bn = tiles.block_n, rpw = tiles.rows_per_warp;
  const DType dt = shape.dtype;
  std::vector<RowState> st(static_cast<size_t>(tiles.block_m()));
  for (RowState& s : st) s.acc.assign(static_cast<size_t>(d), 0.0f);
  // Row r's visible slots, inclusive, cut to [lo, hi); a warp's union.
  std::vector<int> row_lo(st.size()), row_hi(st.size());
  std::vector<int> warp_lo(tiles.warps, std::numeric_limits<int>::max()), warp_hi(tiles.warps, -1);
  for (size_t row = 0; row < st.size(); ++row) {
    row_lo[row] = std::max(rows.first[row], lo);
    row_hi[row] = std::min(rows.pos[row], hi - 1);
    if (row_lo[row] <= row_hi[row]) {
      const size_t w = row / rpw;
      warp_lo[w] = std::min(warp_lo[w], row_lo[row]);
      warp_hi[w] = std::max(warp_hi[w], row_hi[row]);
    }
  }
  std::vector<float> k_tile(static_cast<size_t>(bn) * d), v_tile(k_tile.size());
  std::vector<float> s(bn), p(bn);
  for (int tile = lo / bn * bn; tile < hi; tile += bn) {
    for (int j = 0; j < bn; ++j) {
      const int key = tile + j;
      const bool in_range = key >= lo && key < hi;
      const int64_t off = (kv_row0 + int64_t{key} * shape.kv_heads) * d;
      for (int i = 0; i < d; ++i) {
        k_tile[j * d + i] = in_range ? in.k_cache[off + i] : 0.0f;
        v_tile[j * d + i] = in_range ? in.v_cache[off + i] : 0.0f;
      }
    }
    for (int w = 0; w < tiles.warps; ++w) {
      if (tile > warp_hi[w] || tile + bn <= warp_lo[w]) continue;
      for (int row = w * rpw; row < (w + 1) * rpw; ++row) {
        RowState& r = st[row];
        const float* q = rows.q.data() + int64_t{row} * d;
        float tile_max = kNegInf;
        for (int j = 0; j < bn; ++j) {
          float dot = 0.0f;
          for (int i = 0; i < d; ++i) dot = std::fma(q[i], k_tile[j * d + i], dot);
          const int key = tile + j;
          const bool visible = key >= row_lo[row] && key <= row_hi[row];
          s[j] = visible ? RoundToDType(RoundToDType(dot, dt) * in.scale, dt) : kNegInf;
          tile_max = std::fmax(tile_max, s[j]);  // max is exact in any order
        }
        const float m_new = std::fmax(r.m, tile_max);
        const float m_use = m_new == kNegInf ? 0.0f : m_new;
        const float alpha = std::exp(r.m - m_use);
        std::array<float, kLanes> lane_sum{};
        for (int j = 0; j < bn; ++j) {
          p[j] = std::exp(s[j] - m_use);
          const int lane = j % kLanes;
          lane_sum[lane] = j < kLanes ? p[j] : lane_sum[lane] + p[j];
        }
        r.l = std::fma(r.l, alpha, ButterflySum(lane_sum));
        r.m = m_new;
        for (float& a : r.acc) a *= alpha;
        for (int j = 0; j < bn; ++j) {
          const float pj = RoundToDType(p[j], dt);
          for (int i = 0; i < d; ++i) r.acc[i] = std::fma(pj, v_tile[j * d + i], r.acc[i]);
        }
      }
    }
  }
  return st;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

TwinOutput FlashPrefillTwin(const AttentionShape& shape, const TileConfig& tiles,
                            const AttentionInputs& in) {
  const int64_t d = shape.head_dim, bm = tiles.block_m();
  TwinOutput result;
  result.out.assign(static_cast<size_t>(in.batch * in.seq * shape.heads * d), 0.0f);
  for (int64_t b = 0; b < in.batch; ++b) {
    for (int64_t h = 0; h < shape.heads; ++h) {
      for (int64_t s0 = 0; s0 < in.seq; s0 += bm) {
        BlockRows rows = EmptyRows(shape, tiles);
        for (int r = 0; r < bm && s0 + r < in.seq; ++r) {
          SetRow(shape, in, r, b * in.seq + s0 + r, h, rows, result.fault);
        }
        const auto [lo, hi] = BlockRange(rows);
        const int64_t kv_row0 = b * in.capacity * shape.kv_heads + h / shape.group();
        std::vector<RowState> st = RunTiles(shape, tiles, in, kv_row0, lo, hi, rows);
        for (int r = 0; r < bm && s0 + r < in.seq; ++r) {
          if (rows.pos[r] < 0) continue;  // the kernel writes zeros, as assigned
          float* o = result.out.data() + ((b * in.seq + s0 + r) * shape.heads + h) * d;
          for (int64_t i = 0; i < d; ++i) o[i] = RoundToDType(st[r].acc[i] / st[r].l, shape.dtype);
        }
      }
    }
  }
  return result;
}

DecodePartials SplitKvDecodeTwin(const AttentionShape& shape, const TileConfig& tiles,
                                 const AttentionInputs& in, int splits) {
  const int64_t d = shape.head_dim, bm = tiles.block_m(), bn = tiles.block_n;
  const int64_t rows_total = shape.group() * in.seq;
  DecodePartials part;
  part.splits = splits;
  const size_t slots = static_cast<size_t>(in.batch * in.seq * shape.heads * splits);
  part.acc.assign(slots * d, 0.0f);
  part.ml.assign(slots * 2, 0.0f);
  for (int64_t b = 0; b < in.batch; ++b) {
    for (int64_t kvh = 0; kvh < shape.kv_heads; ++kvh) {
      for (int64_t r0 = 0; r0 < rows_total; r0 += bm) {
        BlockRows rows = EmptyRows(shape, tiles);
        for (int r = 0; r < bm && r0 + r < rows_total; ++r) {
          const int64_t s = (r0 + r) / shape.group(),
                        h = kvh * shape.group() + (r0 + r) % shape.group();
          SetRow(shape, in, r, b * in.seq + s, h, rows, part.fault);
        }
        const auto [lo, hi] = BlockRange(rows);
        const int64_t base = lo / bn * bn;
        const int64_t chunk = CeilDiv(CeilDiv(hi - base, splits), bn) * bn;
        for (int split = 0; split < splits; ++split) {
          const int64_t c_lo = std::max<int64_t>(lo, base + split * chunk);
          const int64_t c_hi = std::min<int64_t>(hi, base + (split + 1) * chunk);
          const bool any = c_lo < c_hi;
          std::vector<RowState> st =
              RunTiles(shape, tiles, in, b * in.capacity * shape.kv_heads + kvh,
                       any ? static_cast<int>(c_lo) : 0, any ? static_cast<int>(c_hi) : 0, rows);
          for (int r = 0; r < bm && r0 + r < rows_total; ++r) {
            const int64_t s = (r0 + r) / shape.group(),
                          h = kvh * shape.group() + (r0 + r) % shape.group();
            const int64_t slot = ((b * in.seq + s) * shape.heads + h) * splits + split;
            std::copy(st[r].acc.begin(), st[r].acc.end(), part.acc.begin() + slot * d);
            part.ml[slot * 2] = st[r].m;
            part.ml[slot * 2 + 1] = st[r].l;
          }
        }
      }
    }
  }
  return part;
}

std::vector<float> DecodeCombineTwin(const AttentionShape& shape, const DecodePartials& partials) {
  const int64_t d = shape.head_dim, splits = partials.splits;
  const int64_t rows = static_cast<int64_t>(partials.ml.size()) / (2 * splits);
  std::vector<float> out(static_cast<size_t>(rows * d));
  for (int64_t row = 0; row < rows; ++row) {
    const float* ml = partials.ml.data() + row * splits * 2;
    float m_max = kNegInf;
    for (int64_t k = 0; k < splits; ++k) m_max = std::fmax(m_max, ml[2 * k]);
    for (int64_t i = 0; i < d; ++i) {
      float l = 0.0f, o = 0.0f;
      for (int64_t k = 0; k < splits; ++k) {
        const float w = ml[2 * k] == kNegInf ? 0.0f : std::exp(ml[2 * k] - m_max);
        l = std::fma(ml[2 * k + 1], w, l);
        o = std::fma(partials.acc[(row * splits + k) * d + i], w, o);
      }
      out[row * d + i] = RoundToDType(l > 0.0f ? o / l : 0.0f, shape.dtype);
    }
  }
  return out;
}

std::vector<float> RopeInverseFrequencies(const RopeParams& params, int head_dim) {
  // Same f32 operations, in the same order, as the reference executor's
  // rope (runtime/reference/ops_attention.cc), so the tables agree bit for bit.
  constexpr float kTwoPi = 6.283185307179586f;
  std::vector<float> inv_freq(static_cast<size_t>(head_dim / 2));
  for (size_t i = 0; i < inv_freq.size(); ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inv_freq[i] = 1.0f / std::pow(params.theta, exponent);
  }
  if (params.scaling == "linear") {
    for (float& f : inv_freq) f /= params.factor;
  } else if (params.scaling == "llama3") {
    // Llama 3.1: wavelengths above original/low_freq_factor are divided by
    // factor, those below original/high_freq_factor kept, and the band in
    // between blended linearly in original/wavelength.
    const float original = static_cast<float>(params.original_max_position);
    const float low = params.low_freq_factor, high = params.high_freq_factor;
    for (float& f : inv_freq) {
      const float wavelen = kTwoPi / f;
      if (wavelen > original / low) {
        f = f / params.factor;
      } else if (wavelen >= original / high) {
        const float smooth = (original / wavelen - low) / (high - low);
        f = (1.0f - smooth) * f / params.factor + smooth * f;
      }
    }
  }
  return inv_freq;
}

std::vector<float> RopeCosSinTable(std::span<const float> inv_freq, int64_t capacity, DType dtype) {
  const int64_t half = static_cast<int64_t>(inv_freq.size()), d = 2 * half;
  std::vector<float> table(static_cast<size_t>(capacity * d));
  for (int64_t p = 0; p < capacity; ++p) {
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inv_freq[i];
      table[p * d + i] = RoundToDType(std::cos(angle), dtype);
      table[p * d + half + i] = RoundToDType(std::sin(angle), dtype);
    }
  }
  return table;
}

TwinOutput RopeKvWriteTwin(const AttentionShape& shape, const RopeKvInputs& in,
                           std::span<float> k_cache, std::span<float> v_cache) {
  const int64_t d = shape.head_dim, half = d / 2;
  const DType dt = shape.dtype;
  TwinOutput result;
  result.out.assign(static_cast<size_t>(in.batch * in.seq * shape.heads * d), 0.0f);
  // kiln_rotate: products and sum rounded to dtype, as the reference's rope.
  auto rotate = [&](const float* x, float* y, const float* cs) {
    for (int64_t i = 0; i < half; ++i) {
      const float c = cs[i], s = cs[half + i], x0 = x[i], x1 = x[i + half];
      y[i] = RoundToDType(RoundToDType(x0 * c, dt) + RoundToDType(-x1 * s, dt), dt);
      y[i + half] = RoundToDType(RoundToDType(x1 * c, dt) + RoundToDType(x0 * s, dt), dt);
    }
  };
  for (int64_t token = 0; token < in.batch * in.seq; ++token) {
    const int64_t b = token / in.seq, p = in.pos[token];
    if (p < 0 || p >= in.capacity) {
      result.fault = true;  // q_out's row stays zero, the caches untouched
      continue;
    }
    const float* cs = in.cos_sin.data() + p * d;
    for (int64_t h = 0; h < shape.heads; ++h) {
      rotate(in.q.data() + (token * shape.heads + h) * d,
             result.out.data() + (token * shape.heads + h) * d, cs);
    }
    const int64_t slot = (b * in.capacity + p) * shape.kv_heads * d;
    for (int64_t h = 0; h < shape.kv_heads; ++h) {
      rotate(in.k.data() + (token * shape.kv_heads + h) * d, k_cache.data() + slot + h * d, cs);
    }
    std::copy_n(in.v.begin() + token * shape.kv_heads * d, shape.kv_heads * d,
                v_cache.begin() + slot);
  }
  return result;
}

}  // namespace kiln::codegen::attention
