#include "ir/infer.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

absl::Status Error(const std::string& message) { return absl::InvalidArgumentError(message); }

std::string Describe(const Function& f, const Node& node, int index) {
  const Node& operand = f.node(node.operands[static_cast<size_t>(index)]);
  return absl::StrCat("operand ", index, " (%", operand.name, ": ", TypeToString(operand.type),
                      ")");
}

// Resolves a possibly negative axis against `rank`.
absl::StatusOr<int> NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return Error(absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  }
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

// Operand type accessors with the checks most ops share.
class Operands {
 public:
  Operands(const Function& f, const Node& node) : f_(f), node_(node) {}

  const TensorType& type(int i) const {
    return f_.node(node_.operands[static_cast<size_t>(i)]).type;
  }
  int count() const { return static_cast<int>(node_.operands.size()); }

  absl::Status ExpectFloat(int i) const {
    if (IsFloat(type(i).dtype)) return absl::OkStatus();
    return Error(absl::StrCat(Describe(f_, node_, i), " must be a float type"));
  }
  absl::Status ExpectInteger(int i) const {
    DType d = type(i).dtype;
    if (d == DType::kI32 || d == DType::kI64) return absl::OkStatus();
    return Error(absl::StrCat(Describe(f_, node_, i), " must be i32 or i64"));
  }
  absl::Status ExpectRank(int i, int rank) const {
    if (type(i).rank() == rank) return absl::OkStatus();
    return Error(absl::StrCat(Describe(f_, node_, i), " must have rank ", rank));
  }
  // A weight operand: a float type, or a block-quantized one (its values
  // are the dequantised f32 values; base/dtype.h) when f32 computes with it.
  absl::Status ExpectWeightFor(int w, DType compute) const {
    const DType d = type(w).dtype;
    if (IsBlockQuantized(d) && compute == DType::kF32) {
      if (type(w).rank() >= 1 && type(w).shape.back().is_static() &&
          type(w).shape.back().size % BlockSize(d) == 0) {
        return absl::OkStatus();
      }
      return Error(absl::StrCat(Describe(f_, node_, w), " must have rows of whole ",
                                std::string(DTypeName(d)), " blocks (", BlockSize(d), " elements)"));
    }
    if (IsBlockQuantized(d)) {
      return Error(absl::StrCat(Describe(f_, node_, w), " is ", std::string(DTypeName(d)),
                                ": block-quantized weights compute in f32 only"));
    }
    return absl::OkStatus();
  }
  absl::Status ExpectSameDType(int i, int j) const {
    if (type(i).dtype == type(j).dtype) return absl::OkStatus();
    return Error(absl::StrCat(Describe(f_, node_, j), " must have the dtype of ",
                              Describe(f_, node_, i)));
  }
  // Dim a of operand i equals dim b of operand j.
  absl::Status ExpectDimsEqual(int i, int a, int j, int b) const {
    if (type(i).shape[a] == type(j).shape[b]) return absl::OkStatus();
    return Error(absl::StrCat("dim ", b, " of ", Describe(f_, node_, j), " must equal dim ", a,
                              " of ", Describe(f_, node_, i)));
  }

 private:
  const Function& f_;
  const Node& node_;
};


absl::StatusOr<TensorType> InferMatmul(const Operands& in) {
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, 1));
  const TensorType& a = in.type(0);
  const TensorType& b = in.type(1);
  if (a.rank() < 2 || a.rank() != b.rank()) {
    return Error("matmul operands must have equal rank >= 2");
  }
  int r = a.rank();
  for (int d = 0; d < r - 2; ++d) KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, d, 1, d));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, r - 1, 1, r - 2));
  TensorType out = a;
  out.shape[r - 1] = b.shape[r - 1];
  return out;
}

absl::StatusOr<TensorType> InferMatmulNT(const Operands& in) {
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  if (IsBlockQuantized(in.type(1).dtype)) {
    KILN_RETURN_IF_ERROR(in.ExpectWeightFor(1, in.type(0).dtype));
  } else {
    KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, 1));
  }
  KILN_RETURN_IF_ERROR(in.ExpectRank(1, 2));
  if (in.type(0).rank() < 1) return Error("operand 0 must have rank >= 1");
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(1, 1, 0, in.type(0).rank() - 1));
  if (in.count() == 3) {
    KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, 2));
    KILN_RETURN_IF_ERROR(in.ExpectRank(2, 1));
    KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(1, 0, 2, 0));
  }
  TensorType out = in.type(0);
  out.shape.back() = in.type(1).shape[0];
  return out;
}

absl::StatusOr<TensorType> InferNorm(const Operands& in) {
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  if (in.type(0).rank() < 1) return Error("operand 0 must have rank >= 1");
  int last = in.type(0).rank() - 1;
  for (int i = 1; i < in.count(); ++i) {
    KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, i));
    KILN_RETURN_IF_ERROR(in.ExpectRank(i, 1));
    KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, last, i, 0));
  }
  return in.type(0);
}

absl::Status CheckRopeAttrs(const Node& node) {
  std::string scaling = node.StringAttr("scaling", std::string(kRopeScalingNone));
  auto require = [&](std::string_view key) -> absl::Status {
    if (node.attrs.count(key)) return absl::OkStatus();
    return Error(absl::StrCat("rope scaling '", scaling, "' needs attribute '", std::string(key), "'"));
  };
  if (scaling == kRopeScalingLinear) {
    KILN_RETURN_IF_ERROR(require("factor"));
  } else if (scaling == kRopeScalingLlama3) {
    for (std::string_view key :
         {"factor", "low_freq_factor", "high_freq_factor", "original_max_position"}) {
      KILN_RETURN_IF_ERROR(require(key));
    }
    if (node.FloatAttr("high_freq_factor") <= node.FloatAttr("low_freq_factor")) {
      return Error("rope llama3 scaling needs high_freq_factor > low_freq_factor");
    }
  } else if (scaling != kRopeScalingNone) {
    return Error(absl::StrCat("unknown rope scaling '", scaling, "' (none, linear, llama3)"));
  }
  if (!(node.FloatAttr("theta") > 0)) return Error("rope theta must be positive");
  if (node.attrs.count("factor") && !(node.FloatAttr("factor") > 0)) {
    return Error("rope factor must be positive");
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorType> InferRope(const Operands& in, const Node& node) {
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  KILN_RETURN_IF_ERROR(in.ExpectRank(0, 4));
  KILN_RETURN_IF_ERROR(in.ExpectInteger(1));
  KILN_RETURN_IF_ERROR(in.ExpectRank(1, 2));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 0, 1, 0));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 1, 1, 1));
  const Dim& head_dim = in.type(0).shape[3];
  if (!head_dim.is_static() || head_dim.size % 2 != 0) {
    return Error("rope needs a static, even head dim (dim 3 of operand 0)");
  }
  KILN_RETURN_IF_ERROR(CheckRopeAttrs(node));
  return in.type(0);
}

absl::StatusOr<TensorType> InferKvCacheWrite(const Operands& in) {
  // The cache may have its own float dtype: the new values are rounded to it.
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  KILN_RETURN_IF_ERROR(in.ExpectRank(0, 4));
  KILN_RETURN_IF_ERROR(in.ExpectFloat(1));
  KILN_RETURN_IF_ERROR(in.ExpectRank(1, 4));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 0, 1, 0));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 2, 1, 2));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 3, 1, 3));
  KILN_RETURN_IF_ERROR(in.ExpectInteger(2));
  KILN_RETURN_IF_ERROR(in.ExpectRank(2, 2));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(1, 0, 2, 0));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(1, 1, 2, 1));
  return in.type(0);
}

absl::StatusOr<TensorType> InferAttention(const Operands& in, const Node& node) {
  KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
  for (int i = 0; i < 3; ++i) KILN_RETURN_IF_ERROR(in.ExpectRank(i, 4));
  // The caches share a float dtype, which may differ from q's.
  KILN_RETURN_IF_ERROR(in.ExpectFloat(1));
  KILN_RETURN_IF_ERROR(in.ExpectSameDType(1, 2));
  for (int d = 0; d < 4; ++d) KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(1, d, 2, d));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 0, 1, 0));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 3, 1, 3));
  KILN_RETURN_IF_ERROR(in.ExpectInteger(3));
  KILN_RETURN_IF_ERROR(in.ExpectRank(3, 2));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 0, 3, 0));
  KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, 1, 3, 1));
  const Dim& heads = in.type(0).shape[2];
  const Dim& kv_heads = in.type(1).shape[2];
  if (!heads.is_static() || !kv_heads.is_static() || kv_heads.size <= 0 ||
      heads.size % kv_heads.size != 0) {
    return Error("attention needs static head counts with query heads (dim 2 of operand 0) "
                 "a multiple of KV heads (dim 2 of operand 1)");
  }
  if (node.IntAttr("window", 0) < 0) return Error("attention window must be >= 0");
  return in.type(0);
}

absl::StatusOr<TensorType> InferBinary(const Operands& in) {
  KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, 1));
  const Shape& a = in.type(0).shape;
  const Shape& b = in.type(1).shape;
  if (b.size() > a.size() || !std::equal(b.begin(), b.end(), a.end() - b.size())) {
    return Error("the right operand's shape must equal a suffix of the left operand's");
  }
  return in.type(0);
}

absl::StatusOr<TensorType> InferTranspose(const Operands& in, const Node& node) {
  std::vector<int64_t> perm = node.IntsAttr("perm");
  const TensorType& x = in.type(0);
  std::vector<bool> seen(static_cast<size_t>(x.rank()), false);
  if (static_cast<int>(perm.size()) != x.rank()) {
    return Error("transpose perm must list every axis once");
  }
  TensorType out = x;
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= x.rank() || seen[static_cast<size_t>(perm[i])]) {
      return Error("transpose perm must list every axis once");
    }
    seen[static_cast<size_t>(perm[i])] = true;
    out.shape[i] = x.shape[static_cast<size_t>(perm[i])];
  }
  return out;
}

absl::StatusOr<TensorType> InferConcat(const Operands& in, const Node& node) {
  const TensorType& first = in.type(0);
  absl::StatusOr<int> axis = NormalizeAxis(node.IntAttr("axis"), first.rank());
  if (!axis.ok()) return axis.status();
  TensorType out = first;
  int64_t total = 0;
  for (int i = 0; i < in.count(); ++i) {
    KILN_RETURN_IF_ERROR(in.ExpectSameDType(0, i));
    KILN_RETURN_IF_ERROR(in.ExpectRank(i, first.rank()));
    for (int d = 0; d < first.rank(); ++d) {
      if (d != *axis) KILN_RETURN_IF_ERROR(in.ExpectDimsEqual(0, d, i, d));
    }
    const Dim& along = in.type(i).shape[static_cast<size_t>(*axis)];
    if (!along.is_static()) return Error("concat along a symbolic dim is not supported");
    if (__builtin_add_overflow(total, along.size, &total)) {
      return Error("concat length overflows int64");
    }
  }
  out.shape[static_cast<size_t>(*axis)] = Dim::Static(total);
  return out;
}

absl::StatusOr<TensorType> InferSlice(const Operands& in, const Node& node) {
  const TensorType& x = in.type(0);
  absl::StatusOr<int> axis = NormalizeAxis(node.IntAttr("axis"), x.rank());
  if (!axis.ok()) return axis.status();
  int64_t start = node.IntAttr("start"), end = node.IntAttr("end");
  const Dim& dim = x.shape[static_cast<size_t>(*axis)];
  if (start < 0 || end <= start || (dim.is_static() && end > dim.size)) {
    return Error(absl::StrCat("slice [", start, ", ", end, ") is out of range for dim ",
                              DimToString(dim)));
  }
  TensorType out = x;
  out.shape[static_cast<size_t>(*axis)] = Dim::Static(end - start);
  return out;
}

absl::StatusOr<TensorType> InferDeclared(const Operands& in, const Node& node) {
  if (node.op == Op::kParameter) return node.type;
  const TensorType& x = in.type(0);
  if (node.op == Op::kCast) {
    if (x.shape != node.type.shape) return Error("cast must keep the shape");
    return node.type;
  }
  // Reshape.
  if (x.dtype != node.type.dtype) return Error("reshape must keep the dtype");
  if (!SameElementCount(x.shape, node.type.shape)) {
    return Error(absl::StrCat("reshape from ", ShapeToString(x.shape), " to ",
                              ShapeToString(node.type.shape), " changes the element count"));
  }
  return node.type;
}

}  // namespace

bool SameElementCount(const Shape& a, const Shape& b) {
  auto symbols = [](const Shape& s) {
    std::vector<std::string> out;
    for (const Dim& d : s) {
      if (!d.is_static()) out.push_back(d.symbol);
    }
    std::sort(out.begin(), out.end());
    return out;
  };
  return StaticElementCount(a) == StaticElementCount(b) && StaticElementCount(a).has_value() &&
         symbols(a) == symbols(b);
}

absl::StatusOr<TensorType> InferType(const Module& module, const Function& function,
                                     const Node& node) {
  Operands in(function, node);
  switch (node.op) {
    case Op::kParameter:
    case Op::kReshape:
    case Op::kCast:
      return InferDeclared(in, node);
    case Op::kConstant: {
      const WeightDecl* weight = module.FindWeight(node.StringAttr("weight"));
      if (weight == nullptr) {
        return Error(absl::StrCat("no module weight named \"", node.StringAttr("weight"), "\""));
      }
      return weight->type;
    }
    case Op::kEmbedding: {
      // A block-quantized table gathers its rows dequantised, in f32.
      const bool quantized = IsBlockQuantized(in.type(0).dtype);
      if (quantized) {
        KILN_RETURN_IF_ERROR(in.ExpectWeightFor(0, DType::kF32));
      } else {
        KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
      }
      KILN_RETURN_IF_ERROR(in.ExpectRank(0, 2));
      KILN_RETURN_IF_ERROR(in.ExpectInteger(1));
      TensorType out{quantized ? DType::kF32 : in.type(0).dtype, in.type(1).shape};
      out.shape.push_back(in.type(0).shape[1]);
      return out;
    }
    case Op::kTranspose:
      return InferTranspose(in, node);
    case Op::kConcat:
      return InferConcat(in, node);
    case Op::kSlice:
      return InferSlice(in, node);
    case Op::kMatmul:
      return InferMatmul(in);
    case Op::kMatmulNT:
      return InferMatmulNT(in);
    case Op::kRmsNorm:
    case Op::kLayerNorm:
      return InferNorm(in);
    case Op::kSoftmax: {
      KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
      absl::StatusOr<int> axis = NormalizeAxis(node.IntAttr("axis"), in.type(0).rank());
      if (!axis.ok()) return axis.status();
      return in.type(0);
    }
    case Op::kRope:
      return InferRope(in, node);
    case Op::kKvCacheWrite:
      return InferKvCacheWrite(in);
    case Op::kAttention:
      return InferAttention(in, node);
    case Op::kAdd:
    case Op::kMul:
      return InferBinary(in);
    case Op::kScale:
    case Op::kSilu:
    case Op::kGeluTanh:
    case Op::kGeluErf:
    case Op::kRelu:
      KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
      return in.type(0);
    case Op::kArgmax: {
      KILN_RETURN_IF_ERROR(in.ExpectFloat(0));
      if (in.type(0).rank() < 1) return Error("argmax needs rank >= 1");
      TensorType out{DType::kI32, in.type(0).shape};
      out.shape.pop_back();
      return out;
    }
  }
  return Error("unknown op");
}

}  // namespace kiln
