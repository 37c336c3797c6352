#include "base/byte_units.h"

#include <cstdio>

namespace kiln {

std::string HumanBytes(int64_t bytes) {
  char text[48];
  const double b = static_cast<double>(bytes);
  if (bytes < 0) {
    std::snprintf(text, sizeof(text), "-%s", HumanBytes(-bytes).c_str());
  } else if (bytes < (int64_t{1} << 10)) {
    std::snprintf(text, sizeof(text), "%lld B", static_cast<long long>(bytes));
  } else if (bytes < (int64_t{1} << 20)) {
    std::snprintf(text, sizeof(text), "%.1f KiB", b / (1 << 10));
  } else if (bytes < (int64_t{1} << 30)) {
    std::snprintf(text, sizeof(text), "%.1f MiB", b / (1 << 20));
  } else {
    std::snprintf(text, sizeof(text), "%.2f GiB", b / (int64_t{1} << 30));
  }
  return text;
}

}  // namespace kiln
