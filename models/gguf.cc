// GgufFile: mapping and parsing. The typed getters are in gguf_metadata.cc.
#include "models/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"

namespace kiln {
namespace {

// The smallest encodings, which bound a declared count by the bytes left
// before anything is reserved (a file claiming 2^60 entries fails here, not
// in the allocator): a metadata entry is at least an empty key's length,
// a type tag and a 1-byte value; a tensor info at least an empty name's
// length, n_dims, the type and the offset.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;

std::string ShapeString(const std::vector<int64_t>& ne) {
  return absl::StrCat("[", absl::StrJoin(ne, ", "), "]");
}

}  // namespace

// Reads the file front to back with a bounds-checked cursor. Every read
// first checks that its bytes are there; every length or count is compared
// with the bytes left, by division, so no check can itself overflow.
class GgufParser {
 public:
  explicit GgufParser(GgufFile& file) : f_(file), base_(file.base_), size_(file.size_) {}

  absl::Status Parse() {
    uint64_t n_tensors = 0, n_kv = 0;
    KILN_RETURN_IF_ERROR(ParseHeader(n_tensors, n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) KILN_RETURN_IF_ERROR(ParseKv(i));
    KILN_RETURN_IF_ERROR(ResolveAlignment());
    f_.tensors_.reserve(n_tensors);  // Bounded by the file size in ParseHeader.
    for (uint64_t i = 0; i < n_tensors; ++i) KILN_RETURN_IF_ERROR(ParseTensorInfo(i));
    return PlaceTensors();
  }

 private:
  uint64_t Left() const { return size_ - pos_; }

  // "<path>: offset <at>: <context>: <message>".
  absl::Status Error(uint64_t at, std::string_view message) const {
    const std::string context = ctx_.empty() ? "" : absl::StrCat(ctx_, ": ");
    return absl::InvalidArgumentError(
        absl::StrCat(f_.path_, ": offset ", at, ": ", context, std::string(message)));
  }

  // Fails unless `n` more bytes are there; `what` names them for the error.
  absl::Status Need(uint64_t n, std::string_view what) const {
    if (n <= Left()) return absl::OkStatus();
    return Error(
        pos_, absl::StrCat("truncated: ", std::string(what), " needs ", n, " bytes but the file (",
                           size_, " bytes) has ", Left(), " left"));
  }

  absl::StatusOr<uint32_t> ReadU32(std::string_view what) {
    KILN_RETURN_IF_ERROR(Need(4, what));
    const uint32_t v = LoadLittleEndian<uint32_t>(base_ + pos_);
    pos_ += 4;
    return v;
  }

  absl::StatusOr<uint64_t> ReadU64(std::string_view what) {
    KILN_RETURN_IF_ERROR(Need(8, what));
    const uint64_t v = LoadLittleEndian<uint64_t>(base_ + pos_);
    pos_ += 8;
    return v;
  }

  // A u64 length then that many bytes (CVE-2024-23496: a length past the
  // end of the file must not be trusted).
  absl::StatusOr<std::string_view> ReadString(std::string_view what) {
    const uint64_t at = pos_;
    KILN_ASSIGN_OR_RETURN(const uint64_t len, ReadU64(absl::StrCat(std::string(what), " length")));
    if (len > Left()) {
      return Error(at, absl::StrCat(std::string(what), " length ", len, " exceeds the ", Left(),
                                    " bytes left in the file"));
    }
    const std::string_view s(reinterpret_cast<const char*>(base_ + pos_), len);
    pos_ += len;
    return s;
  }

  absl::Status ParseHeader(uint64_t& n_tensors, uint64_t& n_kv) {
    KILN_RETURN_IF_ERROR(Need(4, "the magic"));
    if (std::memcmp(base_, "GGUF", 4) != 0) {
      return Error(
          0, absl::StrCat("bad magic ",
                          GgufQuote(std::string_view(reinterpret_cast<const char*>(base_), 4)),
                          ": not a GGUF file (which starts with \"GGUF\")"));
    }
    pos_ = 4;
    KILN_ASSIGN_OR_RETURN(const uint32_t version, ReadU32("the version"));
    // A big-endian file (GGUF v3 allows them) stores the version byte-swapped:
    // 3 reads as 0x03000000 here, with the low half zero.
    if (version != 0 && (version & 0xFFFF) == 0) {
      return Error(4, absl::StrCat("big-endian GGUF file (version field 0x",
                                   absl::Hex(version, absl::kZeroPad8), " is version ",
                                   __builtin_bswap32(version),
                                   " byte-swapped); Kiln reads little-endian files only"));
    }
    if (version == 1) {
      return Error(4,
                   "GGUF version 1 is not supported (it used 32-bit lengths and counts); "
                   "re-convert the model with a current llama.cpp");
    }
    if (version != 2 && version != 3) {
      return Error(
          4, absl::StrCat("unsupported GGUF version ", version, " (Kiln reads versions 2 and 3)"));
    }
    f_.version_ = version;
    KILN_ASSIGN_OR_RETURN(n_tensors, ReadU64("the tensor count"));
    KILN_ASSIGN_OR_RETURN(n_kv, ReadU64("the metadata count"));
    const uint64_t left = Left();
    if (n_kv > left / kMinKvBytes) {
      return Error(
          16, absl::StrCat("metadata count ", n_kv, " cannot fit in the ", left,
                           " bytes after the header (an entry takes at least ", kMinKvBytes, ")"));
    }
    if (n_tensors > left / kMinTensorInfoBytes) {
      return Error(8, absl::StrCat("tensor count ", n_tensors, " cannot fit in the ", left,
                                   " bytes after the header (a tensor info takes at least ",
                                   kMinTensorInfoBytes, ")"));
    }
    // Both products are <= left now, so the sum cannot overflow.
    if (n_kv * kMinKvBytes + n_tensors * kMinTensorInfoBytes > left) {
      return Error(
          8, absl::StrCat(n_tensors, " tensor infos and ", n_kv,
                          " metadata entries cannot fit in the ", left, " bytes after the header"));
    }
    return absl::OkStatus();
  }

  absl::Status ParseKv(uint64_t index) {
    ctx_ = absl::StrCat("metadata entry ", index);
    const uint64_t key_at = pos_;
    KILN_ASSIGN_OR_RETURN(const std::string_view key, ReadString("key"));
    if (key.size() > GgufFile::kMaxKeyBytes) {
      return Error(key_at, absl::StrCat("key length ", key.size(), " exceeds GGUF's limit of ",
                                        GgufFile::kMaxKeyBytes, " bytes"));
    }
    ctx_ = absl::StrCat("metadata key ", GgufQuote(key));
    if (f_.metadata_.find(key) != f_.metadata_.end()) {
      return Error(key_at, "duplicate key (a key may appear only once)");
    }
    const uint64_t type_at = pos_;
    KILN_ASSIGN_OR_RETURN(const uint32_t type, ReadU32("the value type"));
    if (type >= kGgufValueTypeCount) {
      return Error(type_at, absl::StrCat("unknown metadata value type ", type));
    }
    KILN_ASSIGN_OR_RETURN(GgufValue value, ParseValue(static_cast<GgufValueType>(type)));
    f_.metadata_.emplace(std::string(key), value);
    return absl::OkStatus();
  }

  // Bools are one byte, 0 or 1; the spec calls anything else invalid.
  absl::Status CheckBools(uint64_t at, uint64_t count) const {
    for (uint64_t i = 0; i < count; ++i) {
      const uint8_t b = base_[at + i];
      if (b > 1) {
        return Error(at + i, absl::StrCat("bool value ", b, " is neither 0 nor 1",
                                          count > 1 ? absl::StrCat(" (element ", i, ")") : ""));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<GgufValue> ParseValue(GgufValueType type) {
    GgufValue v{type, type, 1, pos_, {}};
    if (type == GgufValueType::kString) {
      KILN_ASSIGN_OR_RETURN(const std::string_view s, ReadString("string value"));
      v.bytes = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size());
      return v;
    }
    if (type != GgufValueType::kArray) {
      const uint64_t n = GgufFixedSize(type);
      KILN_RETURN_IF_ERROR(
          Need(n, absl::StrCat("the ", std::string(GgufValueTypeName(type)), " value")));
      if (type == GgufValueType::kBool) KILN_RETURN_IF_ERROR(CheckBools(pos_, 1));
      v.bytes = std::span<const uint8_t>(base_ + pos_, n);
      pos_ += n;
      return v;
    }

    const uint64_t element_type_at = pos_;
    KILN_ASSIGN_OR_RETURN(const uint32_t element_type, ReadU32("the array element type"));
    if (element_type >= kGgufValueTypeCount) {
      return Error(element_type_at,
                   absl::StrCat("unknown metadata value type ", element_type, " in an array"));
    }
    if (element_type == static_cast<uint32_t>(GgufValueType::kArray)) {
      // ggml's own reader refuses them too, and no writer produces them;
      // refusing keeps every value one level deep (no recursion to bound).
      return Error(element_type_at, "nested arrays are not supported");
    }
    v.element_type = static_cast<GgufValueType>(element_type);
    const uint64_t count_at = pos_;
    KILN_ASSIGN_OR_RETURN(v.count, ReadU64("the array length"));
    v.offset = pos_;
    const uint64_t begin = pos_;
    const std::string_view element_name = GgufValueTypeName(v.element_type);
    if (v.element_type == GgufValueType::kString) {
      if (v.count > Left() / 8) {
        return Error(count_at, absl::StrCat("array length ", v.count, " exceeds the ", Left(),
                                            " bytes left in the file (a string takes at "
                                            "least 8)"));
      }
      for (uint64_t i = 0; i < v.count; ++i) {
        const uint64_t at = pos_;
        // Left() >= 8 for every element still to come, checked above.
        const uint64_t len = LoadLittleEndian<uint64_t>(base_ + pos_);
        pos_ += 8;
        if (len > Left()) {
          return Error(at, absl::StrCat("array element ", i, ": string length ", len,
                                        " exceeds the ", Left(), " bytes left in the file"));
        }
        pos_ += len;
        if (v.count - i - 1 > Left() / 8) {
          return Error(at,
                       absl::StrCat("array element ", i, ": the ", v.count - i - 1,
                                    " strings after it cannot fit in the ", Left(), " bytes left"));
        }
      }
    } else {
      const uint64_t size = GgufFixedSize(v.element_type);
      if (v.count > Left() / size) {
        return Error(
            count_at,
            absl::StrCat("array length ", v.count, " of ", std::string(element_name), " (", size,
                         " bytes each) exceeds the ", Left(), " bytes left in the file"));
      }
      if (v.element_type == GgufValueType::kBool) KILN_RETURN_IF_ERROR(CheckBools(pos_, v.count));
      pos_ += v.count * size;  // <= Left(), so no overflow.
    }
    v.bytes = std::span<const uint8_t>(base_ + begin, pos_ - begin);
    return v;
  }

  // general.alignment: GGUF's writers store it as uint32, and ggml's reader
  // requires that type; it must be a power of two for the padding rule.
  absl::Status ResolveAlignment() {
    ctx_ = absl::StrCat("metadata key \"", GgufFile::kAlignmentKey, "\"");
    const GgufValue* v = f_.Find(GgufFile::kAlignmentKey);
    if (v == nullptr) {
      f_.alignment_ = GgufFile::kDefaultAlignment;
    } else if (v->type != GgufValueType::kUint32) {
      return Error(v->offset,
                   absl::StrCat("alignment has type ", std::string(GgufValueTypeName(v->type)),
                                ", expected uint32"));
    } else {
      const uint32_t a = LoadLittleEndian<uint32_t>(v->bytes.data());
      if (a == 0 || (a & (a - 1)) != 0) {
        return Error(v->offset, absl::StrCat("alignment ", a, " is not a power of two"));
      }
      f_.alignment_ = a;
    }
    ctx_.clear();
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfo(uint64_t index) {
    ctx_ = absl::StrCat("tensor info ", index);
    const uint64_t name_at = pos_;
    KILN_ASSIGN_OR_RETURN(const std::string_view name, ReadString("tensor name"));
    ctx_ = absl::StrCat("tensor ", GgufQuote(name));
    if (auto it = f_.tensor_index_.find(name); it != f_.tensor_index_.end()) {
      return Error(name_at,
                   absl::StrCat("duplicate tensor name (tensor info ", it->second, " has it too)"));
    }
    GgufTensor t;
    t.name = std::string(name);

    const uint64_t dims_at = pos_;
    KILN_ASSIGN_OR_RETURN(const uint32_t n_dims, ReadU32("n_dims"));
    if (n_dims > GgufFile::kMaxDims) {
      return Error(dims_at, absl::StrCat("n_dims ", n_dims, " exceeds ggml's limit of ",
                                         GgufFile::kMaxDims));
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t at = pos_;
      KILN_ASSIGN_OR_RETURN(const uint64_t dim, ReadU64("a dimension"));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Error(at, absl::StrCat("ne[", d, "] = ", static_cast<int64_t>(dim), " is negative"));
      }
      t.ne.push_back(static_cast<int64_t>(dim));
    }

    const uint64_t type_at = pos_;
    KILN_ASSIGN_OR_RETURN(const uint32_t type, ReadU32("the ggml type"));
    if (const std::string problem = GgmlTypeProblem(type); !problem.empty()) {
      return Error(type_at, problem);
    }
    t.type = static_cast<GgmlType>(type);
    const GgmlTypeTraits traits = *GgmlTypeInfo(t.type);
    const std::string type_name(traits.name);

    const uint64_t offset_at = pos_;
    KILN_ASSIGN_OR_RETURN(t.offset, ReadU64("the data offset"));

    // Sizes (CVE-2025-53630: ne products and byte sizes that wrap around).
    int64_t n = 1;
    for (int64_t dim : t.ne) {
      if (__builtin_mul_overflow(n, dim, &n)) {
        return Error(dims_at, absl::StrCat("shape ", ShapeString(t.ne),
                                           ": the element count overflows int64"));
      }
    }
    t.n_elements = n;
    const int64_t inner = t.ne.empty() ? 1 : t.ne[0];
    if (inner % traits.block_size != 0) {
      return Error(dims_at, absl::StrCat("ne[0] = ", inner, " is not a multiple of the ", type_name,
                                         " block size ", traits.block_size));
    }
    int64_t n_bytes = 0;
    if (__builtin_mul_overflow(n / traits.block_size, traits.type_size, &n_bytes)) {
      return Error(dims_at, absl::StrCat("shape ", ShapeString(t.ne), " of ", type_name,
                                         ": the byte size overflows int64"));
    }
    t.n_bytes = static_cast<uint64_t>(n_bytes);
    if (t.offset % f_.alignment_ != 0) {
      return Error(offset_at, absl::StrCat("data offset ", t.offset,
                                           " is not a multiple of the alignment ", f_.alignment_));
    }
    f_.tensor_index_.emplace(t.name, f_.tensors_.size());
    f_.tensors_.push_back(std::move(t));
    info_offsets_.push_back(name_at);
    return absl::OkStatus();
  }

  // Finds the data section after the tensor infos and places each tensor
  // in it: in bounds (CVE-2026-33298: data past the end) and disjoint.
  absl::Status PlaceTensors() {
    ctx_.clear();
    // pos_ <= size_ < 2^63 and alignment <= 2^31: no overflow.
    const uint64_t a = f_.alignment_;
    const uint64_t data_start = (pos_ + a - 1) / a * a;
    if (data_start > size_) {
      // Without padding a file can still be valid if no tensor has bytes
      // (a vocabulary-only file); otherwise it was cut short.
      const bool has_bytes = std::any_of(f_.tensors_.begin(), f_.tensors_.end(),
                                         [](const GgufTensor& t) { return t.n_bytes > 0; });
      if (has_bytes) {
        return Error(pos_, absl::StrCat("truncated: the data section would start at offset ",
                                        data_start, " (alignment ", a,
                                        "), past the end of the file (", size_, " bytes)"));
      }
      f_.data_offset_ = size_;
    } else {
      f_.data_offset_ = data_start;
    }
    const uint64_t data_size = size_ - f_.data_offset_;
    for (size_t i = 0; i < f_.tensors_.size(); ++i) {
      GgufTensor& t = f_.tensors_[i];
      ctx_ = absl::StrCat("tensor ", GgufQuote(t.name));
      if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
        return Error(info_offsets_[i],
                     absl::StrCat("data (", t.n_bytes, " bytes at data offset ", t.offset,
                                  ") runs past the end of the file: the data section has ",
                                  data_size, " bytes, from file offset ", f_.data_offset_));
      }
      t.data = std::span<const uint8_t>(base_ + f_.data_offset_ + t.offset, t.n_bytes);
    }
    ctx_.clear();

    // Overlaps: sorted by start, each non-empty tensor must begin at or after
    // the furthest end so far. Empty tensors own no bytes and may sit anywhere.
    std::vector<size_t> order(f_.tensors_.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](size_t x, size_t y) { return f_.tensors_[x].offset < f_.tensors_[y].offset; });
    const GgufTensor* furthest = nullptr;
    for (size_t i : order) {
      const GgufTensor& t = f_.tensors_[i];
      if (t.n_bytes == 0) continue;
      if (furthest != nullptr && t.offset < furthest->offset + furthest->n_bytes) {
        return Error(info_offsets_[i],
                     absl::StrCat("tensor ", GgufQuote(t.name), " data [", t.offset, ", ",
                                  t.offset + t.n_bytes, ") overlaps tensor ",
                                  GgufQuote(furthest->name), " data [", furthest->offset, ", ",
                                  furthest->offset + furthest->n_bytes, ")"));
      }
      if (furthest == nullptr || t.offset + t.n_bytes > furthest->offset + furthest->n_bytes) {
        furthest = &t;
      }
    }
    return absl::OkStatus();
  }

  GgufFile& f_;
  const uint8_t* base_;
  const uint64_t size_;
  uint64_t pos_ = 0;
  std::string ctx_;                     // What is being read; prefixes errors.
  std::vector<uint64_t> info_offsets_;  // File offset of each tensor info.
};

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  KILN_RETURN_IF_ERROR(file->Map());
  KILN_RETURN_IF_ERROR(GgufParser(*file).Parse());
  return file;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::OpenBytes(std::span<const uint8_t> bytes,
                                                              const std::string& name) {
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = name;
  file->base_ = bytes.empty() ? nullptr : bytes.data();
  file->size_ = bytes.size();
  KILN_RETURN_IF_ERROR(GgufParser(*file).Parse());
  return file;
}

GgufFile::~GgufFile() = default;

absl::Status GgufFile::Map() {
  KILN_ASSIGN_OR_RETURN(mapping_, MappedFile::Open(path_, "GGUF file"));
  // An empty file maps nothing: base_ stays nullptr and the parser reports it.
  base_ = mapping_.bytes().data();
  size_ = mapping_.bytes().size();
  return absl::OkStatus();
}

}  // namespace kiln
