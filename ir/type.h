// Tensor types of Kiln IR values: a dtype and a shape of static or symbolic
// dimensions.
#ifndef KILN_IR_TYPE_H_
#define KILN_IR_TYPE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/dtype.h"

namespace kiln {

// One dimension: a static size, or a symbol (e.g. "batch", "seq", "cache")
// that a specialisation pass or the executor binds to a size later. Two
// symbolic dims are the same size exactly when their symbols are equal.
struct Dim {
  int64_t size = 0;    // meaningful when `symbol` is empty
  std::string symbol;  // non-empty for a symbolic dim

  static Dim Static(int64_t n) { return Dim{n, ""}; }
  static Dim Symbol(std::string name) { return Dim{0, std::move(name)}; }
  bool is_static() const { return symbol.empty(); }
  bool operator==(const Dim&) const = default;
};

using Shape = std::vector<Dim>;

// A dtype and a shape, written `f32[batch,seq,64]` (a scalar is `f32[]`).
struct TensorType {
  DType dtype = DType::kF32;
  Shape shape;

  int rank() const { return static_cast<int>(shape.size()); }
  bool operator==(const TensorType&) const = default;
};

// Builds a shape from static sizes and symbols, e.g. MakeShape({"batch", 64}).
struct DimInit {
  DimInit(int64_t n) : dim(Dim::Static(n)) {}  // NOLINT: implicit on purpose
  DimInit(int n) : dim(Dim::Static(n)) {}      // NOLINT
  DimInit(const char* s) : dim(Dim::Symbol(s)) {}  // NOLINT
  DimInit(Dim d) : dim(std::move(d)) {}        // NOLINT
  Dim dim;
};
Shape MakeShape(std::initializer_list<DimInit> dims);

std::string DimToString(const Dim& dim);
std::string ShapeToString(const Shape& shape);  // "[batch,seq,64]"
std::string TypeToString(const TensorType& type);

// The product of the static dims, or nullopt on int64 overflow.
std::optional<int64_t> StaticElementCount(const Shape& shape);

}  // namespace kiln

#endif  // KILN_IR_TYPE_H_
