// libFuzzer target: a kiln-serve request body, byte 0 choosing
// /v1/completions (even) or /v1/chat/completions (odd), through
// ParseOpenAIRequest and ToGenerationConfig. The harness is
// kiln::fuzz::FuzzServeRequest (tests/fuzz/harness.h); docs/FUZZING.md says
// how to run it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tests/fuzz/harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  kiln::fuzz::Report(kiln::fuzz::FuzzServeRequest(input));
  return 0;
}
