// The compiled CUDA kernels of an engine: every kernel its launch plans
// name, compiled by NVRTC for the target (a cubin for sm_XX and PTX for
// compute_XX, which newer drivers JIT for later GPUs), with ptxas's report.
// compile-model writes a bundle into the engine (kernels.json and
// kernel.<name>.cubin/.ptx); the CUDA executor loads it.
//
// Row kernels that differ only in the IR names they were lowered from (the
// same RMSNorm in every layer) are compiled once: the plan's kernel names map
// to one compiled function through `row_functions`.
#ifndef KILN_CODEGEN_PLAN_KERNEL_BUNDLE_H_
#define KILN_CODEGEN_PLAN_KERNEL_BUNDLE_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/compiled_kernel.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

// The contract between the kernels codegen emits and the executor that
// launches them: each kernel's parameters (order, meaning, dtypes), its
// grid and block conventions, and the fields of the engine's launch plans.
// Bumped whenever codegen changes any of them. kernels.json records it and
// the loader accepts exactly this version, so cubins from another Kiln are
// never launched with arguments they were not compiled for.
inline constexpr int kKernelAbiVersion = 1;

// One compiled kernel.
struct BundledKernel {
  std::string function;  // its extern "C" name
  std::string
      kind;  // "row", "gemv", "rope_kv_write", "prefill", "decode", "combine", "sample", "loop"
  std::string source_sha256;  // of the CUDA source NVRTC compiled
  // That source (kernel.<function>.cu): what the CUDA emulator runs. Empty
  // in bundles written before engines carried it.
  std::string source;
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

// The bundle as engine files: kernels.json (arch, kernel ABI version, each
// kernel's files with their SHA-256, registers, shared memory, spills and
// source digest, and row_functions) and kernel.<function>.cubin / .ptx /
// .cu (the source, when the bundle has it).
std::map<std::string, std::string> KernelBundleFiles(const KernelBundle& bundle);

// Reads a bundle back from an engine's kernel files. FailedPrecondition
// naming both versions when kernels.json records another kernel ABI
// version ("recompile with compile-model"); DataLoss naming the file when
// the index is malformed, names a file that is absent, or a cubin, PTX or source
// differs from the digest kernels.json records for it.
absl::StatusOr<KernelBundle> ReadKernelBundle(const std::map<std::string, std::string>& files);

// Checks that `bundle` holds every kernel `plans` launch: each row kernel
// (through row_functions), each attention, GEMV and sampling kernel.
// DataLoss naming the first missing one: an engine whose plans and kernels
// do not belong together is refused at load, before anything is launched.
absl::Status CheckBundleCoversPlans(const KernelBundle& bundle,
                                    const std::vector<LaunchPlan>& plans);

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_KERNEL_BUNDLE_H_
