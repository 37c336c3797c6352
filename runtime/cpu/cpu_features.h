// Which SIMD kernels this CPU can run, found once from CPUID.
#ifndef KILN_RUNTIME_CPU_CPU_FEATURES_H_
#define KILN_RUNTIME_CPU_CPU_FEATURES_H_

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace kiln::cpu {

// Kernel families, each a superset of the one before:
//   kScalar: portable C++ (the kernels' spec);
//   kAvx2:   AVX2 + FMA + F16C;
//   kAvx512: kAvx2 plus AVX-512 F, BW, VL and VNNI (the kernels use VNNI on
//            256-bit registers through AVX-512 VL).
enum class SimdLevel : uint8_t { kScalar, kAvx2, kAvx512 };

// The best level the CPU and the OS support: CPUID feature bits plus XGETBV
// (the OS must save the YMM, and for kAvx512 the opmask and ZMM, state).
// Computed once and cached.
SimdLevel DetectSimdLevel();

std::string_view SimdLevelName(SimdLevel level);  // "scalar", "avx2", "avx512"

// "scalar" | "avx2" | "avx512" -> the level; anything else InvalidArgument.
absl::StatusOr<SimdLevel> ParseSimdLevel(std::string_view name);

// The level kernels should use: DetectSimdLevel(), lowered to
// $KILN_CPU_SIMD when that names a lower level (never raised above what the
// CPU has). An unparsable $KILN_CPU_SIMD is ignored here; callers that start
// an engine check it first with SimdLevelFromEnv so a typo is an error.
SimdLevel ChooseSimdLevel();

// What ChooseSimdLevel picks (the detected level when $KILN_CPU_SIMD is
// unset or empty), or InvalidArgument when $KILN_CPU_SIMD does not parse.
absl::StatusOr<SimdLevel> SimdLevelFromEnv();

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_CPU_FEATURES_H_
