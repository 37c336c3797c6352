// Compiling CUDA C++ to cubins with NVRTC, and what ptxas says about them.
//
// NVRTC needs no GPU and no driver, so everything here runs in CPU-only CI:
// the probe compiles its kernel for sm_80 and sm_90 on every machine, and
// for the device's own architecture when there is one.
#ifndef KILN_TOOLS_GPU_NVRTC_COMPILE_H_
#define KILN_TOOLS_GPU_NVRTC_COMPILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::gpu {

// The NVRTC -arch value whose cubin runs natively on a device of compute
// capability major.minor: "sm_90" for 9.0 (H100, H200), "sm_80" for 8.0
// (A100), "sm_120" for 12.0. Plain sm_XY, never the arch-specific sm_90a:
// the probe's kernels use no wgmma/TMA features that would need it.
std::string ArchForComputeCapability(int major, int minor);

// ptxas's resource report for the one kernel in a program, read from the
// NVRTC log of a compile with -Xptxas=-v. A field is -1 when the log did not
// carry it (NVRTC builds that drop ptxas's info lines).
struct PtxasReport {
  int registers = -1;
  int stack_frame_bytes = -1;
  int spill_store_bytes = -1;
  int spill_load_bytes = -1;
};
PtxasReport ParsePtxasReport(const std::string& log);

// One NVRTC compile: the cubin, the full log and what ptxas reported.
struct CompiledCubin {
  std::string arch;
  std::vector<char> cubin;
  std::string log;
  PtxasReport ptxas;
  double compile_ms = 0;
};

// Compiles `source` (named `name` in diagnostics) to a cubin for `arch`
// ("sm_90"), adding -Xptxas=-v and `extra_options`. A compile error returns
// InvalidArgument carrying NVRTC's log.
absl::StatusOr<CompiledCubin> CompileToCubin(const std::string& source, const std::string& name,
                                             const std::string& arch,
                                             const std::vector<std::string>& extra_options);

// NVRTC's version ("13.0") and the -arch values it can produce cubins for.
std::string NvrtcVersion();
std::vector<std::string> NvrtcSupportedArchs();

// The directory of the CUDA headers (the one holding cuda_bf16.h) for
// kernels that include them, in this order:
//   1. $KILN_CUDA_PATH/include when `cuda_path_env` (the variable's value,
//      the project's one toolkit override) is set; no fallback, so a wrong
//      override is an error rather than silently ignored;
//   2. `default_cuda_path`/include (/usr/local/cuda on both machines);
//   3. `exe_dir`/cuda_include, for a bundle that carries its own headers.
// NotFound lists every directory tried.
absl::StatusOr<std::string> ResolveCudaIncludeDir(const char* cuda_path_env,
                                                  const std::string& default_cuda_path,
                                                  const std::string& exe_dir);

// The directory holding the running binary (from /proc/self/exe); "." when
// it cannot be read.
std::string ExecutableDir();

}  // namespace kiln::gpu

#endif  // KILN_TOOLS_GPU_NVRTC_COMPILE_H_
