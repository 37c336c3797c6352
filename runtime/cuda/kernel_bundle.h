// The compiled CUDA kernels of an engine: every kernel its launch plans
// name, compiled by NVRTC for the target (a cubin for sm_XX and PTX for
// compute_XX, which newer drivers JIT for later GPUs), with ptxas's report.
// compile-model writes a bundle into the engine (kernels.json and
// kernel.<name>.cubin/.ptx); the CUDA executor loads it.
//
// Row kernels that differ only in the IR names they were lowered from (the
// same RMSNorm in every layer) are compiled once: the plan's kernel names map
// to one compiled function through `row_functions`.
#ifndef KILN_RUNTIME_CUDA_KERNEL_BUNDLE_H_
#define KILN_RUNTIME_CUDA_KERNEL_BUNDLE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/device_info.h"
#include "codegen/nvrtc_compile.h"
#include "runtime/cuda/launch_plan.h"

namespace kiln {

// One compiled kernel.
struct BundledKernel {
  std::string function;  // its extern "C" name
  std::string kind;      // "row", "gemv", "rope_kv_write", "prefill", "decode", "combine"
  std::string source_sha256;
  codegen::CompiledKernel compiled;
};

struct KernelBundle {
  std::string arch;  // "sm_90"
  std::vector<BundledKernel> kernels;
  // A plan's row kernel name -> the function that computes it.
  std::map<std::string, std::string> row_functions;

  const BundledKernel* Find(const std::string& function) const;
  // Total spill bytes (stores + loads) over every kernel: 0 or a bug.
  int64_t spill_bytes() const;
};

// Compiles every kernel `plans` use for `info`, on every core, through the
// NVRTC cache in `cache_dir` when non-empty. `progress`, when set, is called
// after each compile with (done, total), one call at a time.
absl::StatusOr<KernelBundle> CompileKernelBundle(
    const std::vector<LaunchPlan>& plans, const codegen::DeviceInfo& info,
    const std::string& cache_dir, const std::function<void(int, int)>& progress = nullptr);

// The bundle as engine files: kernels.json (arch, each kernel's files,
// registers, shared memory, spills and source digest, and row_functions)
// and kernel.<function>.cubin / .ptx.
std::map<std::string, std::string> KernelBundleFiles(const KernelBundle& bundle);

// Reads a bundle back from an engine's kernel files. DataLoss naming the
// file when the index is malformed or names a file that is absent.
absl::StatusOr<KernelBundle> ReadKernelBundle(const std::map<std::string, std::string>& files);

// The structural identity of a row kernel: its CUDA source with the kernel
// and value names blanked, so two layers' identical kernels share one key.
absl::StatusOr<std::string> RowKernelKey(const codegen::KernelDesc& desc);

}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_KERNEL_BUNDLE_H_
