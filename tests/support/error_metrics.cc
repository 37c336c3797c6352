#include "tests/support/error_metrics.h"

#include <cmath>
#include <cstddef>
#include <cstring>

namespace kiln::testing {

double Nmse(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    err += d * d;
    ref += static_cast<double>(want[i]) * want[i];
  }
  return ref > 0 ? err / ref : err;
}

Agreement CompareBits(const std::vector<float>& got, const std::vector<float>& want) {
  Agreement a;
  a.compared = static_cast<int64_t>(want.size());
  for (std::size_t i = 0; i < want.size() && i < got.size(); ++i) {
    uint32_t x, y;
    std::memcpy(&x, &got[i], 4);
    std::memcpy(&y, &want[i], 4);
    a.bit_identical += x == y;
    a.max_abs = MaxKeepingNan(a.max_abs, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  if (got.size() != want.size()) a.max_abs = NAN;
  return a;
}

}  // namespace kiln::testing
