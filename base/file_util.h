// Reading small files whole, with a size cap and errno-based messages.
#ifndef KILN_BASE_FILE_UTIL_H_
#define KILN_BASE_FILE_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace kiln {

// The contents of `path`; fails (naming the path) when it cannot be read or
// is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, size_t max_bytes);

}  // namespace kiln

#endif  // KILN_BASE_FILE_UTIL_H_
