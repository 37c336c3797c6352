// The counter-based uniform draw every sampler uses (the CPU sampler, and
// the GPU sampling kernel, which computes it the same way): stateless, so a
// request replays the same tokens on any backend and a kernel needs no RNG
// state.
#ifndef KILN_BASE_COUNTER_RNG_H_
#define KILN_BASE_COUNTER_RNG_H_

#include <cstdint>

namespace kiln {

// SplitMix64's output function (Steele, Lea, Flood 2014): a bijective mix
// of 64 bits.
inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A uniform draw in [0, 1) from (seed, counter): 53 random bits times
// 2^-53, exact in double.
inline double CounterUniformDraw(uint64_t seed, uint64_t counter) {
  const uint64_t bits = SplitMix64(SplitMix64(seed) ^ counter);
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace kiln

#endif  // KILN_BASE_COUNTER_RNG_H_
