#include "runtime/cpu/cpu_features.h"

#include <cpuid.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace kiln::cpu {
namespace {

// XCR0: which register states the OS saves on a context switch.
uint64_t ReadXcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}

SimdLevel Detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return SimdLevel::kScalar;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12),
             f16c = c & (1u << 29);
  if (!osxsave || !avx || !fma || !f16c) return SimdLevel::kScalar;
  const uint64_t xcr0 = ReadXcr0();
  if ((xcr0 & 0x6) != 0x6) return SimdLevel::kScalar;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return SimdLevel::kScalar;
  if (!(b & (1u << 5))) return SimdLevel::kScalar;  // AVX2
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31)) &&  // F BW VL
                      (c & (1u << 11)) &&                                           // VNNI
                      (xcr0 & 0xE6) == 0xE6;  // opmask, ZMM0-15 high halves, ZMM16-31
  return avx512 ? SimdLevel::kAvx512 : SimdLevel::kAvx2;
}

}  // namespace

SimdLevel DetectSimdLevel() {
  static const SimdLevel level = Detect();
  return level;
}

std::string_view SimdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::kScalar: return "scalar";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kAvx512: return "avx512";
  }
  return "?";
}

absl::StatusOr<SimdLevel> ParseSimdLevel(std::string_view name) {
  for (SimdLevel l : {SimdLevel::kScalar, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == SimdLevelName(l)) return l;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown SIMD level '", std::string(name), "' (expected scalar, avx2 or avx512)"));
}

absl::StatusOr<SimdLevel> SimdLevelFromEnv() {
  const SimdLevel detected = DetectSimdLevel();
  const char* env = std::getenv("KILN_CPU_SIMD");
  if (env == nullptr || *env == '\0') return detected;
  absl::StatusOr<SimdLevel> asked = ParseSimdLevel(env);
  if (!asked.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("KILN_CPU_SIMD: ", asked.status().message()));
  }
  return std::min(*asked, detected);
}

SimdLevel ChooseSimdLevel() {
  absl::StatusOr<SimdLevel> level = SimdLevelFromEnv();
  return level.ok() ? *level : DetectSimdLevel();
}

}  // namespace kiln::cpu
