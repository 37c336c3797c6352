#include "models/safetensors_writer.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "models/safetensors.h"
#include "nlohmann/json.hpp"

namespace kiln {

absl::Status WriteSafetensors(const std::string& path, std::vector<TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::sort(tensors.begin(), tensors.end(),
            [](const TensorToWrite& a, const TensorToWrite& b) { return a.name < b.name; });
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const char* dtype = SafetensorsDTypeName(t.dtype);
    int64_t count = 1;
    bool overflow = false;
    for (int64_t d : t.shape) overflow |= d < 0 || __builtin_mul_overflow(count, d, &count);
    std::optional<int64_t> bytes = StorageBytes(t.dtype, count);
    if (dtype == nullptr || overflow || !bytes || static_cast<uint64_t>(*bytes) != t.bytes.size()) {
      return absl::InvalidArgumentError(absl::StrCat("cannot write tensor \"", t.name, "\" to ",
                                                     path, ": dtype or byte count is wrong"));
    }
    header[t.name] = {{"dtype", dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const TensorToWrite& t : tensors) {
    out.write(reinterpret_cast<const char*>(t.bytes.data()),
              static_cast<std::streamsize>(t.bytes.size()));
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("failed writing ", path));
  return absl::OkStatus();
}

}  // namespace kiln
