#include "base/dtype.h"

#include <array>
#include <limits>

namespace kiln {
namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
};

constexpr std::array<DTypeEntry, 7> kDTypes = {{
    {DType::kF32, "f32"},
    {DType::kF16, "f16"},
    {DType::kBF16, "bf16"},
    {DType::kI32, "i32"},
    {DType::kI64, "i64"},
    {DType::kI8, "i8"},
    {DType::kU4, "u4"},
}};

}  // namespace

std::string_view DTypeName(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.name == name) return e.dtype;
  }
  return std::nullopt;
}

bool IsFloat(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16;
}

bool IsInteger(DType dtype) { return !IsFloat(dtype); }

std::optional<int64_t> StorageBytes(DType dtype, int64_t count) {
  if (count < 0) return std::nullopt;
  if (dtype == DType::kU4) return count / 2 + count % 2;
  int64_t width = 1;
  switch (dtype) {
    case DType::kF32:
    case DType::kI32:
      width = 4;
      break;
    case DType::kF16:
    case DType::kBF16:
      width = 2;
      break;
    case DType::kI64:
      width = 8;
      break;
    case DType::kI8:
    case DType::kU4:
      width = 1;
      break;
  }
  if (count > std::numeric_limits<int64_t>::max() / width) return std::nullopt;
  return count * width;
}

}  // namespace kiln
