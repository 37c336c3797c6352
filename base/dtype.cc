#include "base/dtype.h"

#include <array>
#include <limits>

namespace kiln {
namespace {

struct DTypeEntry {
  DType dtype;
  std::string_view name;
  int64_t block_size;   // elements a block
  int64_t block_bytes;  // bytes a block (u4: see StorageBytes)
};

constexpr std::array<DTypeEntry, 13> kDTypes = {{
    {DType::kF32, "f32", 1, 4},
    {DType::kF16, "f16", 1, 2},
    {DType::kBF16, "bf16", 1, 2},
    {DType::kI32, "i32", 1, 4},
    {DType::kI64, "i64", 1, 8},
    {DType::kI8, "i8", 1, 1},
    {DType::kU4, "u4", 2, 1},
    {DType::kQ8_0, "q8_0", 32, 34},
    {DType::kQ4_0, "q4_0", 32, 18},
    {DType::kQ4_1, "q4_1", 32, 20},
    {DType::kQ4_K, "q4_k", 256, 144},
    {DType::kQ5_K, "q5_k", 256, 176},
    {DType::kQ6_K, "q6_k", 256, 210},
}};

const DTypeEntry& EntryOf(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e;
  }
  return kDTypes[0];  // unreachable: every enumerator has an entry
}

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

bool IsBlockQuantized(DType dtype) { return EntryOf(dtype).block_size >= 32; }

bool IsInteger(DType dtype) { return !IsFloat(dtype) && !IsBlockQuantized(dtype); }

bool HasFloatValues(DType dtype) { return IsFloat(dtype) || IsBlockQuantized(dtype); }

int64_t BlockSize(DType dtype) { return EntryOf(dtype).block_size; }
int64_t BlockBytes(DType dtype) { return EntryOf(dtype).block_bytes; }

std::optional<int64_t> StorageBytes(DType dtype, int64_t count) {
  if (count < 0) return std::nullopt;
  if (dtype == DType::kU4) return count / 2 + count % 2;
  const DTypeEntry& e = EntryOf(dtype);
  if (count % e.block_size != 0) return std::nullopt;
  const int64_t blocks = count / e.block_size;
  if (blocks > std::numeric_limits<int64_t>::max() / e.block_bytes) return std::nullopt;
  return blocks * e.block_bytes;
}

}  // namespace kiln
