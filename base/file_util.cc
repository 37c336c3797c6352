#include "base/file_util.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace kiln {

absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (f == nullptr) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot open ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::UnavailableError(msg);
  }
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const size_t n = std::fread(buffer, 1, sizeof(buffer), f.get());
    if (n > 0) {
      if (data.size() + n > max_bytes) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, " is larger than ", max_bytes, " bytes, the limit for this kind of file"));
      }
      data.append(buffer, n);
    }
    if (n < sizeof(buffer)) {
      if (std::ferror(f.get())) return absl::UnavailableError(absl::StrCat("cannot read ", path));
      break;
    }
  }
  return data;
}

}  // namespace kiln
