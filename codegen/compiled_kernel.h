// What compiling a kernel yields, as plain data: the cubin, the PTX and
// ptxas's report. Written by codegen/nvrtc_compile.h, carried in engines
// (codegen/plan/kernel_bundle.h) and read by the runtime, which never
// links NVRTC.
#ifndef KILN_CODEGEN_COMPILED_KERNEL_H_
#define KILN_CODEGEN_COMPILED_KERNEL_H_

#include <cstdint>
#include <string>

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

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_COMPILED_KERNEL_H_
