#include "ir/type.h"

#include <limits>

namespace kiln {

Shape MakeShape(std::initializer_list<DimInit> dims) {
  Shape shape;
  shape.reserve(dims.size());
  for (const DimInit& d : dims) shape.push_back(d.dim);
  return shape;
}

std::string DimToString(const Dim& dim) {
  return dim.is_static() ? std::to_string(dim.size) : dim.symbol;
}

std::string ShapeToString(const Shape& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ',';
    out += DimToString(shape[i]);
  }
  return out + "]";
}

std::string TypeToString(const TensorType& type) {
  return std::string(DTypeName(type.dtype)) + ShapeToString(type.shape);
}

std::optional<int64_t> StaticElementCount(const Shape& shape) {
  int64_t count = 1;
  for (const Dim& d : shape) {
    if (!d.is_static()) continue;
    if (d.size < 0) return std::nullopt;
    if (d.size != 0 && count > std::numeric_limits<int64_t>::max() / d.size) {
      return std::nullopt;
    }
    count *= d.size;
  }
  return count;
}

}  // namespace kiln
