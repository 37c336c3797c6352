// Float64 implementations of Kiln ops, written for tests from each op's
// mathematical definition and sharing no code with runtime/reference. They
// take the values a test fed the executor (already rounded to the dtype) and
// compute in double without any intermediate rounding, so the difference
// from the executor is the executor's own rounding error (or a bug).
#ifndef KILN_TESTS_RUNTIME_OP_REFERENCE_F64_H_
#define KILN_TESTS_RUNTIME_OP_REFERENCE_F64_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::f64 {

// A dense row-major tensor of doubles. Integer tensors (ids, positions, int
// casts) use it too: every value a test draws is exact in a double.
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;

  int64_t numel() const;
  double& at(const std::vector<int64_t>& index);
  double at(const std::vector<int64_t>& index) const;
};

Tensor Zeros(std::vector<int64_t> shape);

// Row-major index <-> multi-index conversions.
std::vector<int64_t> Unravel(int64_t flat, const std::vector<int64_t>& shape);
int64_t Ravel(const std::vector<int64_t>& index, const std::vector<int64_t>& shape);

// Data movement, defined element by element on multi-indices.
Tensor Embedding(const Tensor& table, const Tensor& ids, int64_t index_offset);
Tensor Transpose(const Tensor& x, const std::vector<int64_t>& perm);  // out[i] = x[i∘perm⁻¹]
Tensor Concat(const std::vector<Tensor>& parts, int axis);
Tensor Slice(const Tensor& x, int axis, int64_t start, int64_t end);

// out[..., i, j] = sum_t a[..., i, t] b[..., t, j]
Tensor Matmul(const Tensor& a, const Tensor& b);
// out[..., j] = sum_t x[..., t] w[j, t] (+ bias[j]); `bias` may be null.
Tensor MatmulNT(const Tensor& x, const Tensor& w, const Tensor* bias);

// Normalisations over the last axis.
Tensor RmsNorm(const Tensor& x, const Tensor& w, double eps, double weight_offset);
Tensor LayerNorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps);
Tensor Softmax(const Tensor& x, int axis);

// Rotary embedding parameters; `kind` is "none", "linear" or "llama3".
struct RopeScaling {
  std::string kind = "none";
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position = 8192;
};
std::vector<double> RopeInverseFrequencies(double theta, int64_t head_dim,
                                           const RopeScaling& scaling);
// x[b, s, h, d] rotated by pos[b, s] · inv_freq (rotate-half convention).
Tensor Rope(const Tensor& x, const Tensor& pos, const std::vector<double>& inv_freq);

// cache[b, pos[b, s]] = update[b, s], in s order.
Tensor KvCacheWrite(Tensor cache, const Tensor& update, const Tensor& pos);
// Causal (optionally sliding-window) attention of q[b, s, h, d] against the
// whole cache k, v[b, C, kvh, d], as an explicitly masked softmax over C.
// With `term_magnitude`, also returns per output element
//   sum_j p_j |v_j| (1 + |z_j| + sum_k p_k |z_k|)
// (z the scaled scores, p the probabilities): a first-order bound, in units
// of the rounding error, on what rounding z and p to a 16-bit dtype (as
// ir/op.h's Precision note specifies) can change the output by.
Tensor Attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& pos,
                 double scale, int64_t window, Tensor* term_magnitude = nullptr);

// Elementwise: `b` repeats over the leading dims of `a`.
Tensor Add(const Tensor& a, const Tensor& b);
Tensor Mul(const Tensor& a, const Tensor& b);
double Silu(double x);
double GeluTanh(double x);
double GeluErf(double x);
double Relu(double x);
Tensor Map(const Tensor& x, double (*fn)(double));

// Index of the maximum along the last axis (removed): first on ties, first
// NaN if any (torch.argmax's conventions).
Tensor Argmax(const Tensor& x);

// `x` rounded to nearest, ties to even, to a binary format with
// `significand_bits` bits of precision (the implicit one included), minimum
// normal exponent `min_exponent` (subnormals below it) and largest finite
// value `max_finite` (beyond the rounding midpoint above it: ±inf).
double RoundToFormat(double x, int significand_bits, int min_exponent, double max_finite);
double RoundToBF16(double x);  // 8 significand bits, exponent range of f32
double RoundToF16(double x);   // 11 significand bits, min exponent -14, max 65504

}  // namespace kiln::f64

#endif  // KILN_TESTS_RUNTIME_OP_REFERENCE_F64_H_
