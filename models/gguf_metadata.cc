// GgufFile's typed metadata getters and lookups. Open() validated every
// value's encoding, so decoding here only checks types and ranges.
#include <limits>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "models/gguf.h"

namespace kiln {
namespace {

// "uint32", or "array of string" for an array.
std::string TypeString(const GgufValue& v) {
  if (v.type != GgufValueType::kArray) return std::string(GgufValueTypeName(v.type));
  return absl::StrCat("array of ", std::string(GgufValueTypeName(v.element_type)));
}

// An integer element of any width, widened: `is_negative` tells a negative
// signed value (held in `s`) from an unsigned one (held in `u`).
struct WideInt {
  bool is_negative = false;
  int64_t s = 0;
  uint64_t u = 0;
};

WideInt LoadInt(GgufValueType type, const uint8_t* p) {
  int64_t s = 0;
  switch (type) {
    case GgufValueType::kUint8:
      return {false, 0, p[0]};
    case GgufValueType::kUint16:
      return {false, 0, LoadLittleEndian<uint16_t>(p)};
    case GgufValueType::kUint32:
      return {false, 0, LoadLittleEndian<uint32_t>(p)};
    case GgufValueType::kUint64:
      return {false, 0, LoadLittleEndian<uint64_t>(p)};
    case GgufValueType::kInt8:
      s = static_cast<int8_t>(p[0]);
      break;
    case GgufValueType::kInt16:
      s = LoadLittleEndian<int16_t>(p);
      break;
    case GgufValueType::kInt32:
      s = LoadLittleEndian<int32_t>(p);
      break;
    default:  // kInt64; callers pass integer types only.
      s = LoadLittleEndian<int64_t>(p);
      break;
  }
  if (s < 0) return {true, s, 0};
  return {false, s, static_cast<uint64_t>(s)};
}

}  // namespace

std::string GgufQuote(std::string_view s) {
  constexpr size_t kMax = 200;
  const std::string_view shown = s.substr(0, kMax);
  return absl::StrCat("\"", absl::CHexEscape(absl::string_view(shown.data(), shown.size())),
                      s.size() > kMax ? "...\"" : "\"");
}

std::vector<int64_t> GgufTensor::RowMajorShape() const {
  return std::vector<int64_t>(ne.rbegin(), ne.rend());
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::Status GgufFile::WrongType(std::string_view key, const GgufValue& value,
                                 std::string_view expected) const {
  return absl::InvalidArgumentError(
      absl::StrCat(path_, ": metadata key ", GgufQuote(key), " (offset ", value.offset, ") is ",
                   TypeString(value), ", expected ", std::string(expected)));
}

absl::StatusOr<const GgufValue*> GgufFile::Lookup(std::string_view key,
                                                  std::string_view expected) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) {
    return absl::NotFoundError(absl::StrCat(path_, ": no metadata key ", GgufQuote(key),
                                            " (expected ", std::string(expected), ")"));
  }
  return v;
}

absl::StatusOr<std::string_view> GgufFile::GetString(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "string"));
  if (v->type != GgufValueType::kString) return WrongType(key, *v, "string");
  return std::string_view(reinterpret_cast<const char*>(v->bytes.data()), v->bytes.size());
}

absl::StatusOr<uint64_t> GgufFile::GetUint(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "an unsigned integer"));
  if (!GgufIsInteger(v->type)) return WrongType(key, *v, "an unsigned integer");
  const WideInt x = LoadInt(v->type, v->bytes.data());
  if (x.is_negative) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", GgufQuote(key), " is ",
                                                   x.s, ", expected a non-negative integer"));
  }
  return x.u;
}

absl::StatusOr<int64_t> GgufFile::GetInt(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "an integer"));
  if (!GgufIsInteger(v->type)) return WrongType(key, *v, "an integer");
  const WideInt x = LoadInt(v->type, v->bytes.data());
  if (x.is_negative) return x.s;
  if (x.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", GgufQuote(key), " is ",
                                                   x.u, ", which exceeds int64"));
  }
  return static_cast<int64_t>(x.u);
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "float32 or float64"));
  if (v->type == GgufValueType::kFloat32) return LoadLittleEndian<float>(v->bytes.data());
  if (v->type == GgufValueType::kFloat64) return LoadLittleEndian<double>(v->bytes.data());
  return WrongType(key, *v, "float32 or float64");
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "bool"));
  if (v->type != GgufValueType::kBool) return WrongType(key, *v, "bool");
  return v->bytes[0] != 0;
}

absl::StatusOr<uint64_t> GgufFile::GetArraySize(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "an array"));
  if (v->type != GgufValueType::kArray) return WrongType(key, *v, "an array");
  return v->count;
}

absl::StatusOr<std::vector<std::string_view>> GgufFile::GetStringArray(std::string_view key) const {
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, "array of string"));
  if (v->type != GgufValueType::kArray || v->element_type != GgufValueType::kString) {
    return WrongType(key, *v, "array of string");
  }
  std::vector<std::string_view> out;
  out.reserve(v->count);  // Open bounded count by the file size / 8.
  const uint8_t* p = v->bytes.data();
  for (uint64_t i = 0; i < v->count; ++i) {
    const uint64_t len = LoadLittleEndian<uint64_t>(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), len);
    p += 8 + len;
  }
  return out;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloatArray(std::string_view key) const {
  constexpr std::string_view kExpected = "array of float32 or float64";
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, kExpected));
  const bool is_f32 = v->element_type == GgufValueType::kFloat32;
  if (v->type != GgufValueType::kArray || (!is_f32 && v->element_type != GgufValueType::kFloat64)) {
    return WrongType(key, *v, kExpected);
  }
  std::vector<float> out;
  out.reserve(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    out.push_back(is_f32 ? LoadLittleEndian<float>(v->bytes.data() + 4 * i)
                         : static_cast<float>(LoadLittleEndian<double>(v->bytes.data() + 8 * i)));
  }
  return out;
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntArray(std::string_view key) const {
  constexpr std::string_view kExpected = "array of integers";
  KILN_ASSIGN_OR_RETURN(const GgufValue* v, Lookup(key, kExpected));
  if (v->type != GgufValueType::kArray || !GgufIsInteger(v->element_type)) {
    return WrongType(key, *v, kExpected);
  }
  const int size = GgufFixedSize(v->element_type);
  std::vector<int64_t> out;
  out.reserve(v->count);
  for (uint64_t i = 0; i < v->count; ++i) {
    const WideInt x = LoadInt(v->element_type, v->bytes.data() + size * i);
    if (!x.is_negative && x.u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": metadata key ", GgufQuote(key),
                                                     ": element ", i, " is ", x.u,
                                                     ", which exceeds int64"));
    }
    out.push_back(x.is_negative ? x.s : static_cast<int64_t>(x.u));
  }
  return out;
}

}  // namespace kiln
