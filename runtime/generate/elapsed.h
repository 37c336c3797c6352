// Wall time for the generate loops' timings (prefill, decode, draft steps).
#ifndef KILN_RUNTIME_GENERATE_ELAPSED_H_
#define KILN_RUNTIME_GENERATE_ELAPSED_H_

#include <chrono>

namespace kiln {

using Clock = std::chrono::steady_clock;

// Seconds from `start` to now.
inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace kiln

#endif  // KILN_RUNTIME_GENERATE_ELAPSED_H_
