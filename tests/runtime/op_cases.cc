#include "tests/runtime/op_cases.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace kiln::op_test {
namespace {

const std::vector<DType> kFloats = {kF32, kF16, kBF16};

Shape StaticShape(const std::vector<int64_t>& dims) {
  Shape shape;
  for (int64_t d : dims) shape.push_back(Dim::Static(d));
  return shape;
}

int NormalizeAxis(int axis, int rank) { return axis < 0 ? axis + rank : axis; }

// Data movement (exact). Integer dtypes draw from [-1000, 1000).
Input Values(Rng& rng, DType dtype, std::vector<int64_t> shape) {
  return IsFloat(dtype) ? Uniform(rng, dtype, std::move(shape))
                        : Uniform(rng, dtype, std::move(shape), -1000, 1000);
}

}  // namespace

Prepared EmbeddingCase(DType dtype, Rng& rng, DType id_dtype, int64_t offset) {
  const int64_t vocab = 97, hidden = 769;
  Input table = Uniform(rng, dtype, {vocab, hidden});
  std::uniform_int_distribution<int64_t> id(0, vocab - offset - 1);
  std::vector<int64_t> ids(15);
  for (int64_t& e : ids) e = id(rng);
  ids.front() = 0;  // both ends of the valid range
  ids.back() = vocab - offset - 1;
  Input id_input = Ints(id_dtype, {3, 5}, ids);
  Attrs attrs;
  if (offset != 0) attrs["index_offset"] = offset;
  f64::Tensor want = f64::Embedding(table.ref, id_input.ref, offset);
  return OneOp(Op::kEmbedding, {Weight("embed", table), {"ids", id_input, {"batch", "seq"}}},
               attrs, want);
}

namespace {

Prepared ReshapeCase(DType dtype, Rng& rng) {
  bool f = IsFloat(dtype);
  Input x = Values(rng, dtype, f ? std::vector<int64_t>{2, 7, 769} : std::vector<int64_t>{6, 35});
  std::vector<int64_t> to = f ? std::vector<int64_t>{14, 769} : std::vector<int64_t>{3, 2, 5, 7};
  f64::Tensor want{to, x.ref.data};
  return OneOp(Op::kReshape, {{"x", x}}, {}, want, TensorType{dtype, StaticShape(to)});
}

Prepared TransposeCase(DType dtype, Rng& rng, std::vector<int64_t> shape,
                       std::vector<int64_t> perm) {
  Input x = Values(rng, dtype, shape);
  f64::Tensor want = f64::Transpose(x.ref, perm);
  return OneOp(Op::kTranspose, {{"x", x}}, {{"perm", perm}}, want);
}

Prepared ConcatCase(DType dtype, Rng& rng, std::vector<std::vector<int64_t>> shapes, int axis) {
  std::vector<Arg> args;
  std::vector<f64::Tensor> parts;
  for (size_t i = 0; i < shapes.size(); ++i) {
    args.push_back({absl::StrCat("x", i), Values(rng, dtype, shapes[i])});
    parts.push_back(args.back().value.ref);
  }
  f64::Tensor want = f64::Concat(parts, NormalizeAxis(axis, static_cast<int>(shapes[0].size())));
  return OneOp(Op::kConcat, args, {{"axis", int64_t{axis}}}, want);
}

Prepared SliceCase(DType dtype, Rng& rng, std::vector<int64_t> shape, int axis, int64_t start,
                   int64_t end) {
  Input x = Values(rng, dtype, shape);
  f64::Tensor want = f64::Slice(x.ref, NormalizeAxis(axis, static_cast<int>(shape.size())),
                                start, end);
  return OneOp(Op::kSlice, {{"x", x}}, {{"axis", int64_t{axis}}, {"start", start}, {"end", end}},
               want);
}

// Casts: random values over a wide range of magnitudes plus hand-picked
// rounding ties, f16 subnormals and overflow, NaN, infinities and -0.
double CastExpectation(double v, DType to) {
  switch (to) {
    case kF32:
      return v;  // every value drawn here is exact in f32
    case kF16:
      return f64::RoundToF16(v);
    case kBF16:
      return f64::RoundToBF16(v);
    default:
      return std::isnan(v) ? 0.0 : std::trunc(v) + 0.0;  // toward zero (+0); NaN -> 0
  }
}

Prepared CastCase(DType from, DType to, Rng& rng) {
  const int64_t n = 7 * 55;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  if (IsFloat(from) && IsFloat(to)) {
    floats = {1.0f + 0x1p-11f, 1.0f + 0x3p-11f,  // f16 ties: to 1 and up to 1 + 2^-9
              1.0f + 0x1p-8f,  1.0f + 0x3p-8f,   // bf16 ties: to 1 and up to 1 + 2^-6
              0x1p-25f, 0x3p-25f, -0x1p-24f,     // f16 subnormal ties and its least value
              65504.0f, 65519.0f, 65520.0f, -1e5f, 3e38f, NAN, INFINITY, -INFINITY, -0.0f, 0.0f};
  } else if (IsFloat(from)) {
    floats = {NAN, -0.0f, 0.5f, -0.5f, 0.999f, -1.5f, 2.99f, -2.99f, 1000.5f, -65504.0f};
  } else {
    ints = {0, 1, -1, 255, 257, -257, 2049, 65504, 65519, 65520, 1 << 24, -(1 << 24)};
  }
  // Float -> int draws stay below 2^15 so that f16 sources remain finite.
  std::uniform_real_distribution<double> exponent(-30, IsFloat(to) ? 20 : 15), mantissa(1, 2);
  std::uniform_int_distribution<int64_t> integer(-(1 << 20), 1 << 20);
  std::bernoulli_distribution negative(0.5);
  while (static_cast<int64_t>(floats.size() + ints.size()) < n) {
    if (IsFloat(from)) {
      double v = std::ldexp(mantissa(rng), static_cast<int>(exponent(rng)));
      floats.push_back(static_cast<float>(negative(rng) ? -v : v));
    } else {
      ints.push_back(integer(rng));
    }
  }
  Input x = IsFloat(from) ? Floats(from, {7, 55}, floats) : Ints(from, {7, 55}, ints);
  f64::Tensor want = x.ref;
  for (double& v : want.data) v = CastExpectation(v, to);
  return OneOp(Op::kCast, {{"x", x}}, {}, want, TensorType{to, StaticShape({7, 55})});
}

// Linear algebra and normalisation.
Prepared MatmulCase(DType dtype, Rng& rng, std::vector<int64_t> a_shape, int64_t n) {
  std::vector<int64_t> b_shape = a_shape;
  b_shape[b_shape.size() - 2] = a_shape.back();
  b_shape.back() = n;
  Input a = Uniform(rng, dtype, a_shape), b = Uniform(rng, dtype, b_shape);
  return OneOp(Op::kMatmul, {{"a", a}, {"b", b}}, {}, f64::Matmul(a.ref, b.ref));
}

Prepared MatmulNTCase(DType dtype, Rng& rng, bool with_bias) {
  Input x = Uniform(rng, dtype, {2, 7, 769}), w = Uniform(rng, dtype, {65, 769});
  Input bias = Uniform(rng, dtype, {65}, -4, 4);
  std::vector<Arg> args = {{"x", x, {"batch", "seq"}}, Weight("w", w)};
  if (with_bias) args.push_back(Weight("bias", bias));
  return OneOp(Op::kMatmulNT, args, {}, f64::MatmulNT(x.ref, w.ref, with_bias ? &bias.ref : nullptr));
}

Prepared RmsNormCase(DType dtype, Rng& rng, double weight_offset) {
  Input x = Normal(rng, dtype, {2, 7, 769}, 0.3, 2.0);
  Input w = Normal(rng, dtype, {769}, 1.0 - weight_offset, 0.2);
  Attrs attrs = {{"eps", 1e-6}};
  if (weight_offset != 0) attrs["weight_offset"] = weight_offset;
  return OneOp(Op::kRmsNorm, {{"x", x, {"batch", "seq"}}, Weight("w", w)}, attrs,
               f64::RmsNorm(x.ref, w.ref, 1e-6, weight_offset));
}

Prepared LayerNormCase(DType dtype, Rng& rng) {
  Input x = Normal(rng, dtype, {2, 7, 769}, 3.0, 2.0);
  Input w = Normal(rng, dtype, {769}, 1.0, 0.2), b = Normal(rng, dtype, {769}, 0.0, 0.5);
  return OneOp(Op::kLayerNorm, {{"x", x}, Weight("w", w), Weight("b", b)}, {{"eps", 1e-5}},
               f64::LayerNorm(x.ref, w.ref, b.ref, 1e-5));
}

Prepared SoftmaxCase(DType dtype, Rng& rng, std::vector<int64_t> shape, int axis) {
  Input x = Uniform(rng, dtype, shape, -8, 8);
  return OneOp(Op::kSoftmax, {{"x", x}}, {{"axis", int64_t{axis}}},
               f64::Softmax(x.ref, NormalizeAxis(axis, static_cast<int>(shape.size()))));
}

// Rotary embedding of x[2, 7, 8, head_dim] at positions up to 8191, one of
// them 0 (the identity rotation).
Prepared RopeCase(DType dtype, Rng& rng, int64_t head_dim, double theta,
                  const f64::RopeScaling& scaling) {
  Input x = Normal(rng, dtype, {2, 7, 8, head_dim});
  Input pos = Uniform(rng, kI32, {2, 7}, 0, 8192);
  pos.host.ints[3] = pos.ref.data[3] = 0;
  Attrs attrs = {{"theta", theta}};
  if (scaling.kind != "none") {
    attrs["scaling"] = scaling.kind;
    attrs["factor"] = scaling.factor;
  }
  if (scaling.kind == "llama3") {
    attrs["low_freq_factor"] = scaling.low_freq_factor;
    attrs["high_freq_factor"] = scaling.high_freq_factor;
    attrs["original_max_position"] = scaling.original_max_position;
  }
  std::vector<double> inv_freq = f64::RopeInverseFrequencies(theta, head_dim, scaling);
  Prepared p = OneOp(Op::kRope, {{"x", x, {"batch", "seq"}}, {"pos", pos, {"batch", "seq"}}},
                     attrs, f64::Rope(x.ref, pos.ref, inv_freq));
  f64::Tensor pair = x.ref;  // |x_i| + |x_partner|
  for (int64_t i = 0; i < pair.numel(); ++i) {
    int64_t partner = i % head_dim < head_dim / 2 ? i + head_dim / 2 : i - head_dim / 2;
    pair.data[i] = std::fabs(x.ref.data[i]) + std::fabs(x.ref.data[partner]);
  }
  p.term_magnitude.push_back(std::move(pair));
  return p;
}

}  // namespace

Prepared AttentionCase(DType dtype, Rng& rng, AttentionShape a) {
  const int64_t capacity = 83;
  Input q = Normal(rng, dtype, {a.batch, a.seq, a.heads, a.head_dim}, 0.0, 1.5);
  Input k = Normal(rng, dtype, {a.batch, capacity, a.kv_heads, a.head_dim});
  Input v = Normal(rng, dtype, {a.batch, capacity, a.kv_heads, a.head_dim});
  Input pos = ContiguousPositions(rng, a.batch, a.seq, a.first_position, capacity);
  double scale = 1.0 / std::sqrt(static_cast<double>(a.head_dim));
  Attrs attrs = {{"scale", scale}};
  if (a.window > 0) attrs["window"] = a.window;
  f64::Tensor terms;
  f64::Tensor want = f64::Attention(q.ref, k.ref, v.ref, pos.ref, scale, a.window, &terms);
  Prepared p = OneOp(Op::kAttention,
                     {{"q", q, {"batch", "seq"}}, {"k", k, {"batch", "cache"}},
                      {"v", v, {"batch", "cache"}}, {"pos", pos, {"batch", "seq"}}},
                     attrs, want);
  p.term_magnitude.push_back(std::move(terms));
  return p;
}

Prepared KvCacheWriteCase(DType dtype, Rng& rng, int64_t seq, int64_t head_dim) {
  Input cache = Normal(rng, dtype, {2, 83, 2, head_dim});
  Input update = Normal(rng, dtype, {2, seq, 2, head_dim});
  Input pos = DistinctPositions(rng, 2, seq, 83);
  return OneOp(Op::kKvCacheWrite,
               {{"cache", cache, {"batch", "cache"}}, {"new", update, {"batch", "seq"}},
                {"pos", pos, {"batch", "seq"}}},
               {}, f64::KvCacheWrite(cache.ref, update.ref, pos.ref));
}

namespace {

// Elementwise and argmax.
Prepared BinaryCase(Op op, DType dtype, Rng& rng, std::vector<int64_t> a_shape,
                    std::vector<int64_t> b_shape) {
  Input a = Values(rng, dtype, a_shape), b = Values(rng, dtype, b_shape);
  f64::Tensor want = op == Op::kAdd ? f64::Add(a.ref, b.ref) : f64::Mul(a.ref, b.ref);
  return OneOp(op, {{"a", a}, {"b", b}}, {}, want);
}

Prepared UnaryCase(Op op, double (*fn)(double), DType dtype, Rng& rng) {
  Input x = Uniform(rng, dtype, {7, 769}, -8, 8);
  return OneOp(op, {{"x", x}}, {}, f64::Map(x.ref, fn));
}

Prepared ScaleCase(DType dtype, Rng& rng) {
  Input x = Uniform(rng, dtype, {7, 769}, -8, 8);
  f64::Tensor want = x.ref;
  for (double& v : want.data) v *= -3.7;
  return OneOp(Op::kScale, {{"x", x}}, {{"factor", -3.7}}, want);
}

Prepared ArgmaxCase(DType dtype, Rng& rng) {
  Input x = Uniform(rng, dtype, {7, 769});  // bf16 rounding makes ties likely
  return OneOp(Op::kArgmax, {{"x", x, {"rows"}}}, {}, f64::Argmax(x.ref));
}

// Ties, NaN and infinities: torch.argmax picks the first maximum or NaN.
Prepared ArgmaxSpecialCase(DType dtype, Rng&) {
  const float inf = INFINITY, nan = NAN;
  Input x = Floats(dtype, {6, 4},
                   {1, 3, 3, 2,  -inf, -inf, -5, -inf,  0, nan, 5, nan,
                    nan, 1, 2, 3,  -1, -1, -1, -1,  inf, 1, inf, 0});
  f64::Tensor want{{6}, {1, 2, 1, 0, 0, 0}};
  return OneOp(Op::kArgmax, {{"x", x}}, {}, want);
}

}  // namespace

std::vector<OpCase> AllCases() {
  using namespace std::placeholders;
  const std::vector<DType> kMovable = {kF32, kF16, kBF16, kI32};
  f64::RopeScaling none, linear{"linear", 4.0}, llama3{"llama3", 8.0, 1.0, 4.0, 8192};
  std::vector<OpCase> cases = {
      {"embedding", "embedding", kFloats, true,
       [](DType d, Rng& r) { return EmbeddingCase(d, r, kI32, 0); }},
      {"embedding_i64_offset2", "embedding", kFloats, true,
       [](DType d, Rng& r) { return EmbeddingCase(d, r, kI64, 2); }},
      {"reshape", "reshape", kMovable, true, ReshapeCase},
      {"transpose_0213", "transpose", kMovable, true,
       [](DType d, Rng& r) { return TransposeCase(d, r, {2, 7, 8, 64}, {0, 2, 1, 3}); }},
      {"transpose_201", "transpose", {kF32, kI64}, true,
       [](DType d, Rng& r) { return TransposeCase(d, r, {5, 7, 3}, {2, 0, 1}); }},
      {"concat_axis1", "concat", kMovable, true,
       [](DType d, Rng& r) { return ConcatCase(d, r, {{2, 3, 5}, {2, 1, 5}, {2, 4, 5}}, 1); }},
      {"concat_last", "concat", {kF32, kI64}, true,
       [](DType d, Rng& r) { return ConcatCase(d, r, {{3, 769}, {3, 7}}, -1); }},
      {"slice_axis1", "slice", kMovable, true,
       [](DType d, Rng& r) { return SliceCase(d, r, {2, 13, 9}, 1, 3, 10); }},
      {"slice_last", "slice", {kF32, kI64}, true,
       [](DType d, Rng& r) { return SliceCase(d, r, {4, 769}, -1, 700, 769); }},
      {"matmul", "matmul", kFloats, false,
       [](DType d, Rng& r) { return MatmulCase(d, r, {2, 7, 769}, 33); }},
      {"matmul_2d", "matmul", kFloats, false,
       [](DType d, Rng& r) { return MatmulCase(d, r, {7, 769}, 5); }},
      {"matmul_nt", "matmul_nt", kFloats, false, std::bind(MatmulNTCase, _1, _2, false)},
      {"matmul_nt_bias", "matmul_nt", kFloats, false, std::bind(MatmulNTCase, _1, _2, true)},
      {"rms_norm", "rms_norm", kFloats, false, std::bind(RmsNormCase, _1, _2, 0.0)},
      {"rms_norm_offset1", "rms_norm", kFloats, false, std::bind(RmsNormCase, _1, _2, 1.0)},
      {"layer_norm", "layer_norm", kFloats, false, LayerNormCase},
      {"softmax_last", "softmax", kFloats, false,
       [](DType d, Rng& r) { return SoftmaxCase(d, r, {3, 7, 769}, -1); }},
      {"softmax_axis1", "softmax", kFloats, false,
       [](DType d, Rng& r) { return SoftmaxCase(d, r, {3, 83, 5}, 1); }},
      {"rope_none_d64", "rope", kFloats, false,
       std::bind(RopeCase, _1, _2, 64, 10000.0, none)},
      {"rope_linear_d128", "rope", kFloats, false,
       std::bind(RopeCase, _1, _2, 128, 10000.0, linear)},
      {"rope_llama3_d128", "rope", kFloats, false,
       std::bind(RopeCase, _1, _2, 128, 500000.0, llama3)},
      {"kv_cache_write_prefill", "kv_cache_write", kFloats, true,
       std::bind(KvCacheWriteCase, _1, _2, 7, 64)},
      {"kv_cache_write_decode", "kv_cache_write", kFloats, true,
       std::bind(KvCacheWriteCase, _1, _2, 1, 128)},
      // batch, seq, heads, kv_heads, head_dim, window, first position
      {"attention_causal_decode", "attention", kFloats, false,
       std::bind(AttentionCase, _1, _2, AttentionShape{2, 1, 8, 8, 64, 0, 0})},
      {"attention_sliding_window", "attention", kFloats, false,
       std::bind(AttentionCase, _1, _2, AttentionShape{2, 7, 8, 8, 64, 16, 20})},
      {"attention_gqa_8q_2kv", "attention", kFloats, false,
       std::bind(AttentionCase, _1, _2, AttentionShape{2, 1, 8, 2, 128, 0, 0})},
      {"attention_multi_token", "attention", kFloats, false,
       std::bind(AttentionCase, _1, _2, AttentionShape{2, 7, 8, 2, 128, 0, 1})},
      {"attention_window_gqa_multi_token", "attention", kFloats, false,
       std::bind(AttentionCase, _1, _2, AttentionShape{2, 7, 8, 2, 64, 5, 30})},
      {"add", "add", kFloats, false,
       std::bind(BinaryCase, Op::kAdd, _1, _2, std::vector<int64_t>{2, 7, 769},
                 std::vector<int64_t>{2, 7, 769})},
      {"add_broadcast", "add", kFloats, false,
       std::bind(BinaryCase, Op::kAdd, _1, _2, std::vector<int64_t>{2, 7, 769},
                 std::vector<int64_t>{769})},
      {"add_i32", "add_i32", {kI32}, true,
       std::bind(BinaryCase, Op::kAdd, _1, _2, std::vector<int64_t>{7, 83},
                 std::vector<int64_t>{83})},
      {"mul", "mul", kFloats, false,
       std::bind(BinaryCase, Op::kMul, _1, _2, std::vector<int64_t>{7, 769},
                 std::vector<int64_t>{7, 769})},
      {"mul_broadcast", "mul", kFloats, false,
       std::bind(BinaryCase, Op::kMul, _1, _2, std::vector<int64_t>{2, 7, 769},
                 std::vector<int64_t>{7, 769})},
      {"scale", "scale", kFloats, false, ScaleCase},
      {"silu", "silu", kFloats, false, std::bind(UnaryCase, Op::kSilu, f64::Silu, _1, _2)},
      {"gelu_tanh", "gelu_tanh", kFloats, false,
       std::bind(UnaryCase, Op::kGeluTanh, f64::GeluTanh, _1, _2)},
      {"gelu_erf", "gelu_erf", kFloats, false,
       std::bind(UnaryCase, Op::kGeluErf, f64::GeluErf, _1, _2)},
      {"relu", "relu", kFloats, false, std::bind(UnaryCase, Op::kRelu, f64::Relu, _1, _2)},
      {"argmax", "argmax", kFloats, true, ArgmaxCase},
      {"argmax_ties_nan_inf", "argmax", kFloats, true, ArgmaxSpecialCase},
  };
  const std::pair<DType, DType> kCasts[] = {
      {kF32, kF16}, {kF32, kBF16}, {kF16, kF32}, {kBF16, kF32}, {kF16, kBF16}, {kBF16, kF16},
      {kF32, kI32}, {kF32, kI64}, {kF16, kI32}, {kBF16, kI64}, {kI32, kF32}, {kI64, kF16},
      {kI32, kBF16}, {kI64, kI32}, {kI32, kI64}};
  for (auto [from, to] : kCasts) {
    cases.push_back({absl::StrCat("cast_", std::string(DTypeName(from)), "_to_",
                                  std::string(DTypeName(to))),
                     "cast", {from}, true,
                     [to = to](DType d, Rng& r) { return CastCase(d, to, r); }});
  }
  return cases;
}

std::vector<TableEntry> Table() {
  std::vector<TableEntry> entries;
  for (const OpCase& c : AllCases()) {
    for (DType d : c.dtypes) entries.push_back({c, d});
  }
  return entries;
}

void PrintTo(const TableEntry& e, std::ostream* os) {
  *os << e.op_case.name << " " << DTypeName(e.dtype);
}

}  // namespace kiln::op_test
