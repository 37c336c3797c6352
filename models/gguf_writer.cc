#include "models/gguf_writer.h"

#include <cstdint>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

constexpr uint32_t kVersion = 3;

// Little-endian append; GGUF files are little-endian and so are the hosts
// Kiln runs on (x86-64, aarch64).
template <typename T>
void Append(std::vector<uint8_t>& out, T value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

void AppendBytes(std::vector<uint8_t>& out, std::span<const uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}

void AppendString(std::vector<uint8_t>& out, std::string_view s) {
  Append<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// One value after its type tag, re-encoded from GgufValue's stored form.
void AppendValue(std::vector<uint8_t>& out, const GgufValue& value) {
  if (value.type == GgufValueType::kArray) {
    Append<uint32_t>(out, static_cast<uint32_t>(value.element_type));
    Append<uint64_t>(out, value.count);
  } else if (value.type == GgufValueType::kString) {
    Append<uint64_t>(out, value.bytes.size());
  }
  AppendBytes(out, value.bytes);
}

}  // namespace

absl::Status WriteGgufMetadata(const GgufFile& from,
                               const std::function<bool(std::string_view key)>& keep,
                               const std::string& path) {
  std::vector<uint8_t> body;
  uint64_t kept = 0;
  for (const auto& [key, value] : from.metadata()) {
    if (!keep(key)) continue;
    ++kept;
    AppendString(body, key);
    Append<uint32_t>(body, static_cast<uint32_t>(value.type));
    AppendValue(body, value);
  }
  std::vector<uint8_t> header = {'G', 'G', 'U', 'F'};
  Append<uint32_t>(header, kVersion);
  Append<uint64_t>(header, 0);  // tensors
  Append<uint64_t>(header, kept);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(body.data()), static_cast<std::streamsize>(body.size()));
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

}  // namespace kiln
