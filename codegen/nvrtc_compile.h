// Compiling generated CUDA C++ with NVRTC (no driver needed: NVRTC and
// ptxas run on any machine with the toolkit), the ptxas resource report of
// each kernel, and a cache of compiled kernels keyed by source hash.
#ifndef KILN_CODEGEN_NVRTC_COMPILE_H_
#define KILN_CODEGEN_NVRTC_COMPILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/device_info.h"

namespace kiln::codegen {

// ptxas's resource usage for one kernel on one architecture (`-v`). CI
// fails on any spill: spills turn a memory-bound kernel's registers into
// local-memory traffic.
struct KernelReport {
  std::string kernel;
  std::string arch;  // "sm_90"
  int registers = 0;
  int64_t shared_bytes = 0;   // static shared memory (smem)
  int64_t stack_bytes = 0;    // stack frame
  int64_t spill_stores = 0;   // bytes
  int64_t spill_loads = 0;    // bytes

  bool spills() const { return spill_stores > 0 || spill_loads > 0; }
};

// A kernel compiled for one device: a cubin for its sm_XX, PTX for its
// compute_XX (JIT-compiled by newer drivers for later GPUs), the report.
struct CompiledKernel {
  std::string cubin;
  std::string ptx;
  KernelReport report;
  std::string log;         // ptxas's -v output for the cubin
  bool from_cache = false;
};

// The NVRTC options Kiln uses for `info` (cubin compile). --fmad=false keeps
// a*b+c uncontracted, which the host twin relies on (see render_cuda.cc).
std::vector<std::string> NvrtcOptions(const DeviceInfo& info);

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
                                             const DeviceInfo& info, const std::string& cache_dir);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_NVRTC_COMPILE_H_
