// launch_plans.json: an engine's CUDA launch plans (codegen/plan/launch_plan.h)
// as compile-model writes them and the loader reads them back. The engine is
// the contract: the loader replays these plans and does not plan again.
//
// Contract:
//   - LaunchPlansToJson writes every field of the StaticLayout and of each
//     LaunchPlan, including each row kernel's whole codegen::KernelDesc (its
//     buffers, instructions and IR text), so LaunchPlansFromJson gives back
//     the same structs field for field, and writing those again gives the
//     same bytes (for a file LaunchPlansToJson wrote: another may hold
//     row_kernels entries no step names, or equal ones twice, which the
//     writer does not repeat).
//   - Each distinct KernelDesc is written once, in the top-level array
//     "row_kernels" (in order of first use); a row kernel step names its
//     desc by index ("kernel": 3). The buckets' plans run the same row
//     kernels, so inline descs would repeat them in every plan.
//   - Enums are written by name ("scratch", "bf16", "reduce_sum", "decode");
//     an unknown name is an error, never a default.
//   - Floating-point fields are JSON numbers, printed as the shortest text
//     that reads back to the same double (so f32 fields round-trip too);
//     non-finite values, which JSON numbers cannot hold, are the strings
//     "nan", "inf" and "-inf" (a NaN reads back as a positive quiet NaN).
//   - Strings (names, labels, kernel IR) are written as they are: they come
//     from the IR and the checkpoint, which are UTF-8. A byte sequence that
//     is not UTF-8 would be written as U+FFFD rather than throw.
//   - Every field is required; an absent optional (GemmStep::gemv) is null.
//     Members the reader does not know are ignored.
//   - A step is {"label": ..., K: {...}} with exactly one K of "row_kernel",
//     "gemm", "rope_kv_write" and "attention".
//
// The reader trusts nothing. The manifest's SHA-256 covers the file, but a
// bad file must still fail cleanly rather than let the executor write
// outside its arena, so LaunchPlansFromJson never throws or aborts and
// reports any problem as a DataLossError
//   "launch_plans.json: plans[3].steps[12].gemm.m: expected an integer, got string"
// naming the field (a file of another format_version, written by another
// Kiln, is FailedPrecondition: "recompile with compile-model"). Beyond JSON
// types, names and integer ranges it checks:
//   - sizes: every space's byte total in [0, 2^56] (so the arena's sum of the
//     five aligned totals cannot overflow int64); every offset and byte count
//     non-negative; small configuration integers (threads, tiles, heads,
//     head_dim, ...) in [1, 4096] (so products like warps * rows_per_warp
//     fit an int and nothing divides by zero);
//   - placement: every DeviceBuffer 256-aligned and inside its space
//     (weights, caches, inputs and tables within the layout's totals, scratch
//     within its plan's scratch_bytes), without overflowing int64; the
//     layout's maps and tables hold buffers of their own space;
//   - extents: every buffer a launch touches holds what the launch reads or
//     writes given the step's sizes (a row kernel's buffers by their
//     indexing at `rows` x desc.cols; GEMM x, w, out and bias; the attention
//     operands and decode partials; the step inputs, logits, next tokens and
//     fault flag at batch x seq; each RoPE table at capacity x head_dim);
//   - consistency the kernels rely on: a row kernel's "kernel" indexes
//     row_kernels (and the steps' copies of their descs stay within 16
//     times the file's size), the step has one buffer per desc.buffers
//     entry, and the desc's buffer indices and instruction operands are in
//     range (an operand names an earlier instruction); a GEMV variant
//     matches its GEMM's k, dtype and row count; attention variants have
//     the kind of their step, and a decode step's combine kernel has its
//     shape; splits are 1..64; RoPE scaling is "none", "linear" or "llama3".
// Not checked (the loader's or the kernel bundle's job): that the kernels
// the plans name exist in the bundle and were compiled for these descs and
// variants, the steps' order and scratch lifetimes (launch_plan.h's
// contract), and full codegen::ValidateKernel-style semantics of a desc.
#ifndef KILN_CODEGEN_PLAN_LAUNCH_PLAN_JSON_H_
#define KILN_CODEGEN_PLAN_LAUNCH_PLAN_JSON_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "codegen/plan/launch_plan.h"

namespace kiln {

// What launch_plans.json holds: the engine-wide layout and every bucket's plan.
struct PlannedEngine {
  StaticLayout layout;
  std::vector<LaunchPlan> plans;
};

// The file's text (compact JSON, ending in "\n").
std::string LaunchPlansToJson(const StaticLayout& layout, const std::vector<LaunchPlan>& plans);

// Parses and checks the file's text; DataLossError naming the field on any
// problem, FailedPrecondition for another format_version (see above).
absl::StatusOr<PlannedEngine> LaunchPlansFromJson(std::string_view text);

namespace launch_plan_json_internal {

// LaunchPlansFromJson's second pass (launch_plan_json_steps.cc): the
// placement, extent and consistency rules above, on structs whose fields
// each passed the first pass's type and range checks (which these rely on:
// non-negative sizes, space totals up to 2^56, configuration integers in
// [1, 4096]). DataLossError naming the field, as for the file.
absl::Status CheckPlannedEngine(const PlannedEngine& engine);

}  // namespace launch_plan_json_internal

}  // namespace kiln

#endif  // KILN_CODEGEN_PLAN_LAUNCH_PLAN_JSON_H_
