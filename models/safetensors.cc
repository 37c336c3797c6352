#include "models/safetensors.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

using Json = nlohmann::json;

// Tensor names come from the file; keep hostile megabyte-long names from
// flooding error messages.
std::string Quote(const std::string& s) {
  constexpr size_t kMax = 200;
  if (s.size() <= kMax) return absl::StrCat("\"", s, "\"");
  size_t cut = kMax;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;  // Whole chars.
  return absl::StrCat("\"", s.substr(0, cut), "...\"");
}

// Index of the first byte that is not part of well-formed UTF-8 (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF), or npos.
size_t FindInvalidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // Lead byte -> sequence length and the allowed range of the second byte,
    // which is where overlongs, surrogates and > U+10FFFF are excluded.
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return i;
    }
    if (i + len > n) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

// Thrown from the parse callback to stop nlohmann's parser at once (the
// callback cannot otherwise abort); caught in ParseStrictJson.
struct StrictJsonViolation {
  std::string message;
};

// A JSON integer in [0, max], or nullopt for anything else (negative,
// fractional, 1e3, strings, ...). nlohmann stores non-negative literals as
// unsigned and negative ones (and "-0") as signed.
std::optional<uint64_t> NonNegativeInt(const Json& v, uint64_t max) {
  if (v.is_number_unsigned()) {
    const uint64_t x = v.get<uint64_t>();
    if (x <= max) return x;
    return std::nullopt;
  }
  if (v.is_number_integer() && v.get<int64_t>() == 0) return 0;
  return std::nullopt;
}

struct DTypeSpelling {
  const char* name;
  DType dtype;
  int64_t item_size;
};

// The safetensors dtypes Kiln loads, and those the format defines that it
// does not: the latter get "unsupported", so a user learns the file is fine
// but needs converting, while garbage gets "unknown".
//
// The block types (Q8_0 ... Q6_K, base/dtype.h) are Kiln's extension for
// engines' quantized weights: GGUF's block bytes, rows of whole blocks, so
// `item_size` is a block's bytes and the last dimension counts elements.
constexpr DTypeSpelling kSupportedDTypes[] = {
    {"F32", DType::kF32, 4},    {"F16", DType::kF16, 2},    {"BF16", DType::kBF16, 2},
    {"I64", DType::kI64, 8},    {"I32", DType::kI32, 4},    {"I8", DType::kI8, 1},
    {"Q8_0", DType::kQ8_0, 34}, {"Q4_0", DType::kQ4_0, 18}, {"Q4_1", DType::kQ4_1, 20},
    {"Q4_K", DType::kQ4_K, 144}, {"Q5_K", DType::kQ5_K, 176}, {"Q6_K", DType::kQ6_K, 210},
};
constexpr const char* kUnsupportedDTypes[] = {
    "F64",     "U64",     "U32",     "U16",     "I16",     "U8", "BOOL",
    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64",
};

}  // namespace

const char* SafetensorsDTypeName(DType dtype) {
  for (const DTypeSpelling& d : kSupportedDTypes) {
    if (d.dtype == dtype) return d.name;
  }
  return nullptr;
}

namespace {

// A JSON value as text for an error message, cut short: a hostile header
// may hold a shape with millions of entries.
std::string Brief(const Json& v) {
  std::string text = v.dump();
  if (text.size() > 100) text = text.substr(0, 100) + "...";
  return text;
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// A tensor entry parsed from the header, before the cross-tensor checks.
struct ParsedEntry {
  TensorEntry entry;
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Checks one header entry on its own: its keys, dtype, shape, offsets, and
// that the byte length matches the shape and lies inside the data region.
absl::StatusOr<ParsedEntry> ParseEntry(const std::string& where, const std::string& name,
                                       const Json& value, uint64_t data_size) {
  const std::string at = absl::StrCat(where, ": tensor ", Quote(name), ": ");
  if (!value.is_object()) return absl::InvalidArgumentError(at + "entry is not a JSON object");
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets") {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "unexpected key ", Quote(key),
                       " (entries have exactly dtype, shape and data_offsets)"));
    }
  }
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!value.contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(at, "missing \"", key, "\""));
    }
  }

  ParsedEntry out;
  out.entry.name = name;

  // dtype.
  const Json& dtype = value["dtype"];
  if (!dtype.is_string()) return absl::InvalidArgumentError(at + "dtype is not a string");
  const std::string& dtype_name = dtype.get_ref<const std::string&>();
  const DTypeSpelling* spelling = nullptr;
  for (const DTypeSpelling& s : kSupportedDTypes) {
    if (dtype_name == s.name) spelling = &s;
  }
  if (spelling == nullptr) {
    for (const char* s : kUnsupportedDTypes) {
      if (dtype_name == s) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, "unsupported dtype ", dtype_name,
                         " (Kiln loads F32, F16, BF16, I64, I32, I8; convert the checkpoint)"));
      }
    }
    return absl::InvalidArgumentError(absl::StrCat(at, "unknown dtype ", Quote(dtype_name)));
  }
  out.entry.dtype = spelling->dtype;

  // shape: the product of the non-zero dims times the item size must fit in
  // int64, so no consumer's stride or byte arithmetic can overflow, even for
  // a zero-sized tensor.
  const Json& shape = value["shape"];
  if (!shape.is_array()) return absl::InvalidArgumentError(at + "shape is not an array");
  int64_t nonzero_bytes = spelling->item_size;
  bool has_zero_dim = false;
  const int64_t block = BlockSize(spelling->dtype) > 2 ? BlockSize(spelling->dtype) : 1;
  if (block > 1 && shape.is_array() && shape.empty()) {
    return absl::InvalidArgumentError(at + dtype_name + " needs a shape whose rows are blocks");
  }
  for (size_t i = 0; shape.is_array() && i < shape.size(); ++i) {
    const Json& dim = shape[i];
    const std::optional<uint64_t> d = NonNegativeInt(dim, std::numeric_limits<int64_t>::max());
    if (!d) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, "shape ", Brief(shape), " has a dimension that is not a non-negative integer"));
    }
    out.entry.shape.push_back(static_cast<int64_t>(*d));
    int64_t factor = static_cast<int64_t>(*d);
    if (block > 1 && i + 1 == shape.size()) {  // the row: whole blocks
      if (factor % block != 0) {
        return absl::InvalidArgumentError(absl::StrCat(at, "rows of ", factor, " elements are not ",
                                                       "whole ", dtype_name, " blocks of ", block));
      }
      factor /= block;
    }
    if (*d == 0) {
      has_zero_dim = true;
    } else if (__builtin_mul_overflow(nonzero_bytes, factor, &nonzero_bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, "shape ", Brief(shape), " x ", dtype_name, " size overflows int64"));
    }
  }
  const uint64_t expected_bytes = has_zero_dim ? 0 : static_cast<uint64_t>(nonzero_bytes);

  // data_offsets.
  const Json& offsets = value["data_offsets"];
  std::optional<uint64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = NonNegativeInt(offsets[0], std::numeric_limits<uint64_t>::max());
    end = NonNegativeInt(offsets[1], std::numeric_limits<uint64_t>::max());
  }
  if (!begin || !end) {
    return absl::InvalidArgumentError(absl::StrCat(
        at, "data_offsets ", Brief(offsets), " is not [begin, end] with non-negative integers"));
  }
  if (*begin > *end) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, "data_offsets [", *begin, ", ", *end, "] has begin > end"));
  }
  if (*end - *begin != expected_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, "byte length ", *end - *begin, " (data_offsets [", *begin, ", ", *end,
                     "]) does not match shape ", ShapeString(out.entry.shape), " x ", dtype_name,
                     " = ", expected_bytes, " bytes"));
  }
  if (*end > data_size) {
    return absl::InvalidArgumentError(absl::StrCat(at, "data_offsets [", *begin, ", ", *end,
                                                   "] out of bounds: the data region is ",
                                                   data_size, " bytes"));
  }
  out.begin = *begin;
  out.end = *end;
  return out;
}

// The reference implementation's layout rule: sorted by offset, the tensors
// cover the data region exactly, back to back. Bytes no tensor owns could
// hide anything; overlapping tensors alias. Zero-sized tensors may sit at
// any boundary, including several at one offset.
absl::Status CheckTiling(const std::string& where, std::vector<ParsedEntry>& parsed,
                         uint64_t data_size) {
  std::sort(parsed.begin(), parsed.end(), [](const ParsedEntry& a, const ParsedEntry& b) {
    return std::tie(a.begin, a.end, a.entry.name) < std::tie(b.begin, b.end, b.entry.name);
  });
  uint64_t covered = 0;  // Bytes [0, covered) are owned by earlier tensors.
  const ParsedEntry* prev = nullptr;
  for (const ParsedEntry& p : parsed) {
    const std::string range = absl::StrCat("[", p.begin, ", ", p.end, ")");
    if (p.begin > covered) {
      if (prev == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": gap: the first tensor ",
                                                       Quote(p.entry.name), " begins at data byte ",
                                                       p.begin, ", not 0"));
      }
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": gap of ", p.begin - covered, " bytes between tensor ",
                       Quote(prev->entry.name), " (ends at ", covered, ") and tensor ",
                       Quote(p.entry.name), " (begins at ", p.begin, ")"));
    }
    if (p.begin < covered) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": tensor ", Quote(p.entry.name), " ", range, " overlaps tensor ",
                       Quote(prev->entry.name), " [", prev->begin, ", ", prev->end, ")"));
    }
    covered = p.end;
    prev = &p;
  }
  if (covered != data_size) {
    // ParseEntry bounded every end by data_size, so covered < data_size.
    const std::string last =
        prev ? absl::StrCat(" (the last tensor is ", Quote(prev->entry.name), ")") : "";
    return absl::InvalidArgumentError(absl::StrCat(where, ": trailing bytes: the tensors cover ",
                                                   covered, " of the ", data_size, " data bytes",
                                                   last));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t TensorEntry::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<Json> ParseStrictJson(std::string_view text, const std::string& what,
                                     int max_depth) {
  if (const size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid UTF-8 at byte ", bad));
  }
  // nlohmann's lexer takes a NUL byte for the end of input and would ignore
  // whatever follows it; JSON allows no raw NUL anywhere, so refuse it here.
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not valid JSON: NUL byte at byte ", nul));
  }
  // One key set per open object, innermost last.
  std::vector<std::set<std::string>> open_objects;
  auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) -> bool {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        // `depth` counts the containers enclosing this one.
        if (depth + 1 > max_depth) {
          throw StrictJsonViolation{absl::StrCat("nesting deeper than ", max_depth, " levels")};
        }
        if (event == Json::parse_event_t::object_start) open_objects.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.back().insert(parsed.get<std::string>()).second) {
          throw StrictJsonViolation{
              absl::StrCat("duplicate key ", Quote(parsed.get<std::string>()))};
        }
        break;
      default:
        break;
    }
    return true;  // Keep everything; rejection is by throwing.
  };
  try {
    return Json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const StrictJsonViolation& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", e.message));
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  KILN_RETURN_IF_ERROR(file->Map());
  KILN_RETURN_IF_ERROR(file->ParseHeader());
  return file;
}

SafetensorsFile::~SafetensorsFile() = default;

absl::Status SafetensorsFile::Map() {
  KILN_ASSIGN_OR_RETURN(mapping_, MappedFile::Open(path_, "safetensors file"));
  const uint64_t size = mapping_.bytes().size();
  if (size < 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        path_, ": file is ", size,
        " bytes, shorter than the 8-byte header length field; not a safetensors file"));
  }
  return absl::OkStatus();
}

absl::Status SafetensorsFile::ParseHeader() {
  const uint8_t* const map = mapping_.bytes().data();
  const uint64_t map_size = mapping_.bytes().size();
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | map[i];  // Little-endian.
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": header length ", header_len, " exceeds the limit of ",
                     kMaxHeaderBytes, " bytes; the file is corrupt or not safetensors"));
  }
  if (header_len > map_size - 8) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": header length ", header_len, " exceeds the file (", map_size,
                     " bytes in all); the file is truncated or corrupt"));
  }
  const std::string_view text(reinterpret_cast<const char*>(map + 8), header_len);
  // Depth 3 suffices (header object > entry > shape); a little slack lets
  // malformed metadata get its own clearer error below.
  KILN_ASSIGN_OR_RETURN(Json header, ParseStrictJson(text, path_ + ": header", 8));
  if (!header.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ": header is not a JSON object but a ", header.type_name()));
  }

  const uint8_t* data = map + 8 + header_len;
  const uint64_t data_size = map_size - 8 - header_len;
  std::vector<ParsedEntry> parsed;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (!value.is_object()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path_, ": __metadata__ is not a JSON object"));
      }
      for (const auto& [key, text_value] : value.items()) {
        if (!text_value.is_string()) {
          return absl::InvalidArgumentError(
              absl::StrCat(path_, ": __metadata__ value for ", Quote(key), " is not a string"));
        }
        metadata_[key] = text_value.get<std::string>();
      }
      continue;
    }
    KILN_ASSIGN_OR_RETURN(ParsedEntry entry, ParseEntry(path_, name, value, data_size));
    parsed.push_back(std::move(entry));
  }
  KILN_RETURN_IF_ERROR(CheckTiling(path_, parsed, data_size));

  tensors_.reserve(parsed.size());
  for (ParsedEntry& p : parsed) {
    p.entry.bytes = std::span<const uint8_t>(data + p.begin, p.end - p.begin);
    tensors_.push_back(std::move(p.entry));
  }
  std::sort(tensors_.begin(), tensors_.end(),
            [](const TensorEntry& a, const TensorEntry& b) { return a.name < b.name; });
  return absl::OkStatus();
}

const TensorEntry* SafetensorsFile::Find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorEntry& t, std::string_view n) { return t.name < n; });
  if (it == tensors_.end() || it->name != name) return nullptr;
  return &*it;
}

}  // namespace kiln
