// libFuzzer target: a CUDA engine's kernel.gemm_algos.json, through
// ParseGemmChoices. The harness is kiln::fuzz::FuzzGemmChoices
// (tests/fuzz/harness.h); docs/FUZZING.md says how to run it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::Report(kiln::fuzz::FuzzGemmChoices(input));
  return 0;
}
