// Compiling generated CUDA C++ with NVRTC (no driver needed: NVRTC and
// ptxas run on any machine with the toolkit), the ptxas resource report of
// each kernel, and a cache of compiled kernels keyed by source hash.
#ifndef KILN_CODEGEN_NVRTC_COMPILE_H_
#define KILN_CODEGEN_NVRTC_COMPILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/compiled_kernel.h"
#include "codegen/gpu_target.h"

namespace kiln::codegen {

// The NVRTC options Kiln uses for `info` (cubin compile). --fmad=false keeps
// a*b+c uncontracted, which the host renderings and the CUDA emulator rely
// on (see render_cuda.cc).
std::vector<std::string> NvrtcOptions(const GpuTarget& info);

// "13.0": the linked NVRTC's version; part of the cache key.
std::string NvrtcVersion();

// Reads `kernel`'s entry from a ptxas -v log. An error when the log has no
// such entry or the entry lacks the register line.
absl::StatusOr<KernelReport> ParsePtxasLog(const std::string& log, const std::string& kernel);

// Compiles `source` (a complete translation unit defining extern "C"
// `kernel`) for `info`. With a non-empty `cache_dir` the result is looked
// up and stored there under SHA-256(source, options, NVRTC version), so an
// unchanged kernel is not recompiled. A source NVRTC rejects is an
// InternalError with the compiler's log (generated code must compile).
absl::StatusOr<CompiledKernel> CompileKernel(const std::string& source, const std::string& kernel,
                                             const GpuTarget& info, const std::string& cache_dir);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_NVRTC_COMPILE_H_
