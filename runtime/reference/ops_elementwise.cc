// Elementwise ops and casts.
#include <algorithm>
#include <climits>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "base/half.h"
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

namespace {

// Integer results wrap to the result dtype (two's complement), as torch and
// CUDA integer arithmetic do; computed in uint64 so no overflow is undefined.
int64_t WrapToDType(uint64_t bits, DType dtype) {
  if (dtype == DType::kI32) return static_cast<int32_t>(static_cast<uint32_t>(bits));
  if (dtype == DType::kI8) return static_cast<int8_t>(static_cast<uint8_t>(bits));
  return static_cast<int64_t>(bits);
}

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
      uint64_t x = static_cast<uint64_t>(a.ints[i]), y = static_cast<uint64_t>(b.ints[i % period]);
      out.ints[i] = WrapToDType(add ? x + y : x * y, a.dtype);
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

// Float to float rounds to nearest even. Float to integer truncates toward
// zero (torch's .to(int)) and saturates at the target's range; NaN becomes
// 0. Integer to integer saturates too. Integer to f16/bf16 goes through f32
// first, as torch does.
HostTensor Cast(const Node& node, const HostTensor& x) {
  DType to = node.type.dtype;
  HostTensor out = HostTensor::Zeros(to, x.shape);
  int64_t max = to == DType::kI32 ? INT32_MAX : to == DType::kI8 ? INT8_MAX : INT64_MAX;
  int64_t min = -max - 1;
  int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    if (IsFloat(x.dtype) && IsFloat(to)) {
      out.floats[i] = RoundToDType(x.floats[i], to);
    } else if (IsFloat(to)) {
      out.floats[i] = RoundToDType(static_cast<float>(x.ints[i]), to);
    } else if (IsFloat(x.dtype)) {
      // Compare in double: every int32 bound is exact there, and 2^63 is.
      double v = x.floats[i];
      if (std::isnan(v)) {
        out.ints[i] = 0;
      } else if (v >= static_cast<double>(max)) {
        out.ints[i] = max;
      } else if (v <= static_cast<double>(min)) {
        out.ints[i] = min;
      } else {
        out.ints[i] = static_cast<int64_t>(v);
      }
    } else {
      out.ints[i] = std::clamp(x.ints[i], min, max);
    }
  }
  return out;
}

}  // namespace kiln::reference_ops
