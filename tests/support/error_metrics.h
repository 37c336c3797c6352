// Error measures the kernel and executor tests share.
#ifndef KILN_TESTS_SUPPORT_ERROR_METRICS_H_
#define KILN_TESTS_SUPPORT_ERROR_METRICS_H_

#include <cstdint>
#include <vector>

namespace kiln::testing {

// Normalised mean squared error sum (got - want)^2 / sum want^2 (the plain
// sum of squares when `want` is all zeros), in float64.
double Nmse(const std::vector<float>& got, const std::vector<float>& want);

// The larger of `worst` and `d`, keeping a NaN: std::max(worst, NaN) is
// `worst`, so a running max of differences built with it would let NaN
// outputs pass any bound.
inline double MaxKeepingNan(double worst, double d) { return d <= worst ? worst : d; }

// How a kernel's output compares with the reference's: equal bits (NaN ==
// NaN, -0 != +0, as a GPU's bytes compare) and the largest |got - want|,
// NaN-keeping (NaN when the sizes differ).
struct Agreement {
  int64_t compared = 0;
  int64_t bit_identical = 0;
  double max_abs = 0;
};
Agreement CompareBits(const std::vector<float>& got, const std::vector<float>& want);

}  // namespace kiln::testing

#endif  // KILN_TESTS_SUPPORT_ERROR_METRICS_H_
