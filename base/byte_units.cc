#include "base/byte_units.h"

#include <cstdio>

namespace kiln {

std::string HumanBytes(int64_t bytes) {
  // The magnitude as unsigned: -INT64_MIN does not fit an int64_t.
  const uint64_t n =
      bytes < 0 ? uint64_t{0} - static_cast<uint64_t>(bytes) : static_cast<uint64_t>(bytes);
  const char* sign = bytes < 0 ? "-" : "";
  const double b = static_cast<double>(n);
  char text[48];
  if (n < (uint64_t{1} << 10)) {
    std::snprintf(text, sizeof(text), "%s%llu B", sign, static_cast<unsigned long long>(n));
  } else if (n < (uint64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%s%.1f KiB", sign, b / (1 << 10));
  } else if (n < (uint64_t{1} << 30)) {
    std::snprintf(text, sizeof(text), "%s%.1f MiB", sign, b / (1 << 20));
  } else {
    std::snprintf(text, sizeof(text), "%s%.2f GiB", sign, b / (uint64_t{1} << 30));
  }
  return text;
}

}  // namespace kiln
