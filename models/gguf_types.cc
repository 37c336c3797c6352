#include "models/gguf_types.h"

#include <array>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

// QK_K: the super-block of the k-quants, i-quants and ternary types.
constexpr int64_t kQK = 256;

// Block layouts, from the ggml block structs (sizes are the sums of their
// fields: Q4_K = f16 d + f16 dmin + 12 bytes of 6-bit scales + 128 bytes of
// nibbles = 144). Q8_1 and Q8_K are ggml's activation formats and do not
// normally appear in files; Q8_1 is the current two-f16 form (36 bytes).
constexpr GgmlTypeTraits kGgmlTypes[] = {
    {GgmlType::kF32, "F32", 1, 4, false},
    {GgmlType::kF16, "F16", 1, 2, false},
    {GgmlType::kBF16, "BF16", 1, 2, false},
    {GgmlType::kF64, "F64", 1, 8, false},
    {GgmlType::kI8, "I8", 1, 1, false},
    {GgmlType::kI16, "I16", 1, 2, false},
    {GgmlType::kI32, "I32", 1, 4, false},
    {GgmlType::kI64, "I64", 1, 8, false},
    {GgmlType::kQ4_0, "Q4_0", 32, 2 + 16, true},
    {GgmlType::kQ4_1, "Q4_1", 32, 2 + 2 + 16, true},
    {GgmlType::kQ5_0, "Q5_0", 32, 2 + 4 + 16, true},
    {GgmlType::kQ5_1, "Q5_1", 32, 2 + 2 + 4 + 16, true},
    {GgmlType::kQ8_0, "Q8_0", 32, 2 + 32, true},
    {GgmlType::kQ8_1, "Q8_1", 32, 2 + 2 + 32, true},
    {GgmlType::kQ2_K, "Q2_K", kQK, 2 + 2 + kQK / 16 + kQK / 4, true},
    {GgmlType::kQ3_K, "Q3_K", kQK, 2 + kQK / 4 + kQK / 8 + 12, true},
    {GgmlType::kQ4_K, "Q4_K", kQK, 2 + 2 + 12 + kQK / 2, true},
    {GgmlType::kQ5_K, "Q5_K", kQK, 2 + 2 + 12 + kQK / 2 + kQK / 8, true},
    {GgmlType::kQ6_K, "Q6_K", kQK, 2 + kQK / 2 + kQK / 4 + kQK / 16, true},
    {GgmlType::kQ8_K, "Q8_K", kQK, 4 + kQK + 2 * (kQK / 16), true},
    {GgmlType::kIQ2_XXS, "IQ2_XXS", kQK, 2 + kQK / 4, true},
    {GgmlType::kIQ2_XS, "IQ2_XS", kQK, 2 + kQK / 4 + kQK / 32, true},
    {GgmlType::kIQ3_XXS, "IQ3_XXS", kQK, 2 + kQK / 4 + kQK / 8, true},
    {GgmlType::kIQ1_S, "IQ1_S", kQK, 2 + kQK / 8 + kQK / 16, true},
    {GgmlType::kIQ4_NL, "IQ4_NL", 32, 2 + 16, true},
    {GgmlType::kIQ3_S, "IQ3_S", kQK, 2 + kQK / 4 + kQK / 8 + kQK / 32 + 4, true},
    {GgmlType::kIQ2_S, "IQ2_S", kQK, 2 + kQK / 4 + kQK / 16, true},
    {GgmlType::kIQ4_XS, "IQ4_XS", kQK, 2 + 2 + kQK / 2 + kQK / 64, true},
    {GgmlType::kIQ1_M, "IQ1_M", kQK, kQK / 8 + kQK / 16 + kQK / 32, true},
    {GgmlType::kTQ1_0, "TQ1_0", kQK, 2 + 4 * 13, true},
    {GgmlType::kTQ2_0, "TQ2_0", kQK, 2 + kQK / 4, true},
    // One e8m0 scale byte + 16 bytes of e2m1 pairs.
    {GgmlType::kMXFP4, "MXFP4", 32, 1 + 16, true},
    // Four e4m3 sub-block scales + 32 bytes of e2m1 pairs.
    {GgmlType::kNVFP4, "NVFP4", 64, 4 + 32, true},
};

// Numbers ggml once used for types it has since removed; a file holding
// one was written by an old or experimental converter.
struct RemovedType {
  uint32_t value;
  const char* name;
};
constexpr RemovedType kRemovedTypes[] = {
    {4, "Q4_2"},      {5, "Q4_3"},        {31, "Q4_0_4_4"},   {32, "Q4_0_4_8"},
    {33, "Q4_0_8_8"}, {36, "IQ4_NL_4_4"}, {37, "IQ4_NL_4_8"}, {38, "IQ4_NL_8_8"},
};

constexpr std::array<std::string_view, kGgufValueTypeCount> kValueTypeNames = {
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",   "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64",
};

}  // namespace

std::optional<GgmlTypeTraits> GgmlTypeInfo(GgmlType type) {
  for (const GgmlTypeTraits& t : kGgmlTypes) {
    if (t.type == type) return t;
  }
  return std::nullopt;
}

std::string_view GgmlTypeName(GgmlType type) {
  const std::optional<GgmlTypeTraits> info = GgmlTypeInfo(type);
  return info ? info->name : std::string_view("unknown");
}

std::string GgmlTypeProblem(uint32_t value) {
  if (GgmlTypeInfo(static_cast<GgmlType>(value))) return "";
  for (const RemovedType& r : kRemovedTypes) {
    if (r.value == value) {
      return absl::StrCat("ggml type ", value, " (", r.name,
                          ") has been removed from ggml; re-convert the model");
    }
  }
  return absl::StrCat("unknown ggml type ", value);
}

std::string_view GgufValueTypeName(GgufValueType type) {
  const uint32_t v = static_cast<uint32_t>(type);
  return v < kGgufValueTypeCount ? kValueTypeNames[v] : std::string_view("unknown");
}

int GgufFixedSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool GgufIsInteger(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

}  // namespace kiln
