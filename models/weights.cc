#include "models/weights.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/half.h"
#include "base/quant_blocks.h"

namespace kiln {
namespace {

// Reads element i of a possibly misaligned byte span as T.
template <typename T>
T ReadElement(std::span<const uint8_t> bytes, int64_t i) {
  T value;
  std::memcpy(&value, bytes.data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

float ReadFloat(const TensorEntry& entry, int64_t i) {
  switch (entry.dtype) {
    case DType::kF16:
      return F16ToFloat(ReadElement<uint16_t>(entry.bytes, i));
    case DType::kBF16:
      return BF16ToFloat(ReadElement<uint16_t>(entry.bytes, i));
    default:
      return ReadElement<float>(entry.bytes, i);
  }
}

int64_t ReadInt(const TensorEntry& entry, int64_t i) {
  switch (entry.dtype) {
    case DType::kI8:
      return ReadElement<int8_t>(entry.bytes, i);
    case DType::kI32:
      return ReadElement<int32_t>(entry.bytes, i);
    default:
      return ReadElement<int64_t>(entry.bytes, i);
  }
}

}  // namespace

absl::StatusOr<HostTensor> HostTensorFromEntry(const TensorEntry& entry, DType to) {
  int64_t n = entry.NumElements();
  if (IsBlockQuantized(entry.dtype) || IsBlockQuantized(to)) {
    if (to != entry.dtype) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor \"", entry.name, "\" is stored as ", std::string(DTypeName(entry.dtype)),
          " and cannot be read as ", std::string(DTypeName(to))));
    }
    // Validated by the reader: whole blocks, bytes == StorageBytes(n).
    std::vector<float> values(static_cast<size_t>(n));
    DequantizeRow(entry.dtype, entry.bytes.data(), n, values.data());
    HostTensor t;
    t.dtype = to;
    t.shape = entry.shape;
    t.floats = std::move(values);
    return t;
  }
  if (IsFloat(to) != IsFloat(entry.dtype) || to == DType::kU4 || to == DType::kI8) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", entry.name, "\" is stored as ",
                                                   std::string(DTypeName(entry.dtype)),
                                                   " and cannot be read as ",
                                                   std::string(DTypeName(to))));
  }
  if (IsFloat(to)) {
    std::vector<float> values(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) values[i] = ReadFloat(entry, i);
    return HostTensor::FromFloats(to, entry.shape, std::move(values));
  }
  std::vector<int64_t> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    values[i] = ReadInt(entry, i);
    if (to == DType::kI32 && (values[i] < std::numeric_limits<int32_t>::min() ||
                              values[i] > std::numeric_limits<int32_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor \"", entry.name, "\" holds ", values[i], ", outside i32"));
    }
  }
  return HostTensor::FromInts(to, entry.shape, std::move(values));
}

absl::StatusOr<WeightMap> LoadWeights(const Module& module, const Checkpoint& checkpoint) {
  WeightMap weights;
  for (const WeightDecl& decl : module.weights) {
    const TensorEntry* entry = checkpoint.Find(decl.name);
    if (entry == nullptr && decl.name.rfind("model.", 0) == 0) {
      entry = checkpoint.Find(std::string_view(decl.name).substr(6));
    }
    if (entry == nullptr) {
      return absl::NotFoundError(absl::StrCat("the checkpoint has no tensor \"", decl.name,
                                              "\", which the ", module.name,
                                              " model needs (does config.json match the weights?)"));
    }
    std::vector<int64_t> expected;
    for (const Dim& d : decl.type.shape) expected.push_back(d.size);
    if (entry->shape != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor \"", decl.name, "\" has shape ", ShapeString(entry->shape), " but config.json implies ",
          ShapeString(expected), " (check vocab_size, hidden_size and head counts)"));
    }
    KILN_ASSIGN_OR_RETURN(weights[decl.name], HostTensorFromEntry(*entry, decl.type.dtype));
  }
  return weights;
}

}  // namespace kiln
