// Random inputs for a generated kernel's IR (KernelDesc::ir) and the
// storage format kernels read and write, shared by the host-rendering test
// and the GPU test of the generated kernels.
#ifndef KILN_TESTS_CODEGEN_KERNEL_INPUTS_H_
#define KILN_TESTS_CODEGEN_KERNEL_INPUTS_H_

#include <cstdint>
#include <random>
#include <vector>

#include "ir/module.h"
#include "base/host_tensor.h"

namespace kiln::codegen::testing {

// `shape` with its symbolic dims (the kernel's rows) bound to `rows`.
std::vector<int64_t> Bind(const Shape& shape, int64_t rows);

// Inputs for the kernel function `f` at `rows` rows: floats uniform in
// [-2, 2) (rounded to the dtype), ids in their embedding's valid range, with
// an out-of-range id in row 2 when `bad_id`; with `nans`, row 3 of a 2-d
// input holds two NaNs and row 4 is all -inf.
std::vector<HostTensor> RandomInputs(const Function& f, std::mt19937& rng, int64_t rows,
                                     bool bad_id, bool nans);

// A tensor's elements in the kernel's storage format (f32, f16/bf16 bits, i32).
std::vector<uint8_t> ToStorage(const HostTensor& t);
// Element `i` of storage of `dtype`, as a float.
float FromStorage(const std::vector<uint8_t>& bytes, DType dtype, size_t i);

}  // namespace kiln::codegen::testing

#endif  // KILN_TESTS_CODEGEN_KERNEL_INPUTS_H_
