// The statement renderer shared by render_cuda.cc and render_host.cc: every
// instruction of a kernel description as one C++ statement, written with
// helper names (kiln_exp, kiln_bf2f, ...) that the CUDA prelude and
// codegen/host_runtime.h both define, so the two renderings of a body are
// the same text.
#ifndef KILN_CODEGEN_RENDER_COMMON_H_
#define KILN_CODEGEN_RENDER_COMMON_H_

#include <functional>
#include <string>

#include "codegen/kernel_desc.h"

namespace kiln::codegen::render {

// "float", "double", "int" for a value; "float", "unsigned short", "int" for
// a buffer's elements.
const char* ValueCType(ValueType t);
const char* StorageCType(DType d);

// A float literal that reads back as exactly `v` ("8.0f", "1e-06f").
std::string F32Literal(float v);
std::string F64Literal(double v);

// The name of a reduction's accumulator(s) for instruction `id`: "a5" (CUDA)
// or "a5[t]" (host); argmax appends "v"/"i" before any subscript.
using AccumulatorName = std::function<std::string(int id, const char* suffix)>;

// The statement for instruction `id` (a declaration `const T vN = ...;`, a
// store, or an accumulation). Per-row stores are written without a guard;
// the caller adds one where needed.
std::string Statement(const KernelDesc& desc, int id, const AccumulatorName& acc);

// Declarations and initialisers of loop `loop`'s accumulators, one line
// each, given how to declare one: decl(type, name, init).
std::string Accumulators(const KernelDesc& desc, int loop,
                         const std::function<std::string(const char*, std::string, const char*)>& decl);

// The gather prologue of a row: for each kGather buffer k, `long long gK`
// is the table row, or -1 (with the fault flag set) for an id out of range.
std::string GatherPrologue(const KernelDesc& desc);

// The IR of the kernel as `// ` comment lines.
std::string IrComment(const KernelDesc& desc);

// The buffer parameters, "const float* __restrict__ b0, ...".
std::string BufferParams(const KernelDesc& desc);

}  // namespace kiln::codegen::render

#endif  // KILN_CODEGEN_RENDER_COMMON_H_
