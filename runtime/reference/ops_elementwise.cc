// Elementwise ops and casts.
#include <cmath>

#include "absl/strings/str_cat.h"
#include "runtime/half.h"
#include "runtime/reference/ops_internal.h"

namespace kiln::reference_ops {
namespace {

// gelu with the tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
float GeluTanh(float x) {
  const float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

// Exact gelu: x * Phi(x) = 0.5 x (1 + erf(x / sqrt(2))).
float GeluErf(float x) { return 0.5f * x * (1.0f + std::erf(x * 0.7071067811865476f)); }

// silu(x) = x * sigmoid(x) = x / (1 + e^-x).
float Silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace

// The right operand repeats over the left's leading dims: element i of the
// result pairs a[i] with b[i % b.numel()].
absl::StatusOr<HostTensor> Binary(const Node& node, Operands in) {
  const HostTensor& a = *in[0];
  const HostTensor& b = *in[1];
  int64_t n = a.numel();
  int64_t period = b.numel();
  HostTensor out = HostTensor::Zeros(a.dtype, a.shape);
  bool add = node.op == Op::kAdd;
  if (period == 0) return out;
  if (IsFloat(a.dtype)) {
    for (int64_t i = 0; i < n; ++i) {
      float x = a.floats[i], y = b.floats[i % period];
      out.floats[i] = RoundToDType(add ? x + y : x * y, a.dtype);
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = a.ints[i], y = b.ints[i % period];
      out.ints[i] = add ? x + y : x * y;
    }
  }
  return out;
}

HostTensor Unary(const Node& node, const HostTensor& x) {
  HostTensor out = x;
  float factor = static_cast<float>(node.FloatAttr("factor", 1.0));
  for (float& v : out.floats) {
    switch (node.op) {
      case Op::kScale:
        v = v * factor;
        break;
      case Op::kSilu:
        v = Silu(v);
        break;
      case Op::kGeluTanh:
        v = GeluTanh(v);
        break;
      case Op::kGeluErf:
        v = GeluErf(v);
        break;
      default:  // kRelu
        v = v > 0.0f ? v : 0.0f;
        break;
    }
    v = RoundToDType(v, x.dtype);
  }
  return out;
}

// Float to float rounds to nearest even; float to integer truncates toward
// zero (as torch's .to(int)), saturating at the int64 range; NaN becomes 0.
HostTensor Cast(const Node& node, const HostTensor& x) {
  DType to = node.type.dtype;
  HostTensor out = HostTensor::Zeros(to, x.shape);
  int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (IsFloat(x.dtype) && IsFloat(to)) {
      out.floats[i] = RoundToDType(x.floats[i], to);
    } else if (IsFloat(to)) {
      out.floats[i] = RoundToDType(static_cast<float>(x.ints[i]), to);
    } else if (IsFloat(x.dtype)) {
      float v = x.floats[i];
      if (std::isnan(v)) {
        out.ints[i] = 0;
      } else if (v >= 9.2233720368547758e18f) {
        out.ints[i] = INT64_MAX;
      } else if (v <= -9.2233720368547758e18f) {
        out.ints[i] = INT64_MIN;
      } else {
        out.ints[i] = static_cast<int64_t>(v);
      }
    } else {
      out.ints[i] = x.ints[i];
    }
  }
  return out;
}

}  // namespace kiln::reference_ops
