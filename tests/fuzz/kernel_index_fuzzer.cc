// libFuzzer target: a CUDA engine's kernels.json, through ReadKernelBundle
// on a fixed set of kernel files. The harness is kiln::fuzz::FuzzKernelIndex
// (tests/fuzz/harness.h); docs/FUZZING.md says how to run it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::Report(kiln::fuzz::FuzzKernelIndex(input));
  return 0;
}
