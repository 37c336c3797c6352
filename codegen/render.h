// Renderings of a kernel description (codegen/kernel_desc.h): CUDA C++ for
// NVRTC and host C++ (the tests' host rendering). Both emit the same statements in the
// same order from one shared statement renderer (render_common.h); they
// differ only in how the per-row loops and the block reductions are
// written, and the host mirrors the CUDA reduction tree exactly.
#ifndef KILN_CODEGEN_RENDER_H_
#define KILN_CODEGEN_RENDER_H_

#include <string>

#include "absl/status/statusor.h"
#include "codegen/kernel_desc.h"

namespace kiln::codegen {

// The helpers every CUDA kernel uses (f16/bf16 conversions by PTX cvt,
// warp-shuffle block reductions, the math wrappers). Needs no header: NVRTC
// provides everything it uses. Requires sm_80 or later (cvt.rn.bf16.f32).
std::string CudaPrelude();

// The `extern "C" __global__` kernel, preceded by its IR as a comment. A
// complete NVRTC translation unit is CudaPrelude() + RenderCuda(desc).
// Launch: grid = rows, block = desc.threads, no dynamic shared memory;
// parameters are the buffers in order, then `long long rows`.
absl::StatusOr<std::string> RenderCuda(const KernelDesc& desc);

// A host function `void <name>(void* const* buffers, long long rows)` with
// the kernel's semantics, for a translation unit that includes
// codegen/host_runtime.h and opens namespace kiln::codegen::host.
absl::StatusOr<std::string> RenderHost(const KernelDesc& desc);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_RENDER_H_
