#include "third_party/references/reference_files.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kiln {
namespace {

std::string GroupDir(std::string_view group) {
  return absl::StrCat("third_party/references/", std::string(group));
}

}  // namespace

absl::StatusOr<std::string> ReferenceFile(std::string_view group, std::string_view name) {
  const std::string path = absl::StrCat(GroupDir(group), "/", std::string(name));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("missing reference file ", path, ": ", kFetchReferencesHint, ", and list //",
                     "third_party/references:", std::string(group), " in the test's data"));
  }
  return path;
}

absl::StatusOr<std::vector<std::string>> ReferenceFiles(std::string_view group,
                                                        std::string_view suffix) {
  const std::string dir = GroupDir(group);
  std::vector<std::string> paths;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() >= suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      paths.push_back(it->path().string());
    }
  }
  if (paths.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "no reference files *", std::string(suffix), " in ", dir, ": ", kFetchReferencesHint,
        ", and list //", "third_party/references:", std::string(group), " in the test's data"));
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace kiln
