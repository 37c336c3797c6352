#include "models/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

using Json = nlohmann::json;

// An index is a few hundred bytes per tensor; anything near this is not one.
constexpr uintmax_t kMaxIndexBytes = 100'000'000;

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// `status` with `context` put in front of its message, same code.
absl::Status WithContext(const absl::Status& status, const std::string& context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", std::string(status.message())));
}

// A shard must name a file directly inside the checkpoint directory. A '/'
// would reach other directories (absolute paths and "a/../.." alike), and
// "." / ".." are directories themselves.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uintmax_t max_bytes) {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", ec.message()));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", size, " bytes, more than the ",
                                                   max_bytes, "-byte limit for an index"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::UnavailableError(absl::StrCat("error reading ", path));
  return text;
}

// Tensor names per shard file, from the index's weight_map, shards sorted.
using ShardPlan = std::map<std::string, std::vector<std::string>>;

absl::StatusOr<ShardPlan> ReadIndex(const std::string& index_path) {
  KILN_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path, kMaxIndexBytes));
  // Nesting: top object > weight_map / metadata > values; slack for metadata.
  KILN_ASSIGN_OR_RETURN(Json index, ParseStrictJson(text, index_path, 8));
  if (!index.is_object()) return absl::InvalidArgumentError(index_path + ": not a JSON object");
  if (index.contains("metadata") && !index["metadata"].is_object()) {
    return absl::InvalidArgumentError(index_path + ": \"metadata\" is not a JSON object");
  }
  if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
    return absl::InvalidArgumentError(
        index_path + ": no \"weight_map\" object mapping tensor names to shard files");
  }
  const Json& weight_map = index["weight_map"];
  if (weight_map.empty()) {
    return absl::InvalidArgumentError(index_path + ": \"weight_map\" lists no tensors");
  }

  ShardPlan plan;
  for (const auto& [tensor, shard] : weight_map.items()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": weight_map entry for tensor ",
                                                     Quote(tensor), " is not a file name string"));
    }
    const std::string& file = shard.get_ref<const std::string&>();
    if (!IsPlainFileName(file)) {
      return absl::InvalidArgumentError(absl::StrCat(
          index_path, ": tensor ", Quote(tensor), " is assigned to shard ", Quote(file),
          ", which is not a plain file name in the checkpoint directory (no '/', '.' or '..')"));
    }
    plan[file].push_back(tensor);
  }
  return plan;
}

}  // namespace

absl::StatusOr<Checkpoint> Checkpoint::OpenFile(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::Open(path));
  Checkpoint checkpoint;
  KILN_RETURN_IF_ERROR(checkpoint.AddFile(std::move(file)));
  return checkpoint;
}

absl::StatusOr<Checkpoint> Checkpoint::Open(const std::string& dir) {
  const std::filesystem::path root(dir);
  const std::string index_path = (root / kIndexFileName).string();
  const std::string single_path = (root / kSingleFileName).string();
  std::error_code ec;
  if (!std::filesystem::exists(index_path, ec)) {
    if (std::filesystem::exists(single_path, ec)) return OpenFile(single_path);
    const bool is_dir = std::filesystem::is_directory(root, ec);
    return absl::NotFoundError(absl::StrCat(dir, is_dir ? "" : " (no such directory)",
                                            ": no checkpoint found; expected ", kIndexFileName,
                                            " (sharded) or ", kSingleFileName, " (single file)"));
  }

  KILN_ASSIGN_OR_RETURN(ShardPlan plan, ReadIndex(index_path));
  Checkpoint checkpoint;
  for (const auto& [shard, tensors] : plan) {
    const std::string shard_path = (root / shard).string();
    absl::StatusOr<std::unique_ptr<SafetensorsFile>> file = SafetensorsFile::Open(shard_path);
    if (!file.ok()) {
      return WithContext(file.status(),
                         absl::StrCat(index_path, " names shard ", Quote(shard), " for tensor ",
                                      Quote(tensors.front()), ", which cannot be loaded"));
    }
    for (const std::string& tensor : tensors) {
      if ((*file)->Find(tensor) == nullptr) {
        return absl::NotFoundError(absl::StrCat(index_path, " assigns tensor ", Quote(tensor),
                                                " to shard ", Quote(shard), ", but ", shard_path,
                                                " has no such tensor"));
      }
    }
    KILN_RETURN_IF_ERROR(checkpoint.AddFile(std::move(file).value()));
  }
  return checkpoint;
}

absl::Status Checkpoint::AddFile(std::unique_ptr<SafetensorsFile> file) {
  // Check every name before inserting any, so a failure leaves no pointers
  // into `file`, which is destroyed on return.
  for (const TensorEntry& entry : file->tensors()) {
    if (by_name_.find(entry.name) == by_name_.end()) continue;
    std::string other = "another shard";
    for (const auto& f : files_) {
      if (f->Find(entry.name) != nullptr) other = f->path();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor ", Quote(entry.name), " is stored in two shards: ", other, " and ", file->path()));
  }
  for (const TensorEntry& entry : file->tensors()) by_name_.emplace(entry.name, &entry);
  files_.push_back(std::move(file));
  return absl::OkStatus();
}

const TensorEntry* Checkpoint::Find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(by_name_.size());
  for (const auto& [name, unused] : by_name_) names.push_back(name);
  return names;  // Sorted: by_name_ is an ordered map.
}

}  // namespace kiln
