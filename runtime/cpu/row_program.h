// The CPU executor's runner of generated row kernels (codegen/kernel_desc.h):
// the kernel description itself, evaluated a chunk of columns at a time.
//
// A row kernel is a small SSA program per row with loops over the columns.
// The CUDA rendering gives each column to a thread; here each instruction of
// a loop body runs over kChunk columns at once (a tight loop the compiler
// vectorises), so interpreting costs one dispatch per instruction per chunk,
// not per element. The semantics are those of doubles: f32-typed results
// are rounded to f32 after every operation, which for + - * / and sqrt gives
// exactly the f32 result (a double has more than 2 x 24 + 2 significand
// bits, so the double rounding is innocuous); the activations (SiLU, GELU)
// are evaluated in f32 as the renderings spell them. Reductions sum in
// double in column order (the CUDA kernel sums in its shuffle tree: the two
// differ in the last bits of a double, far below f32's precision). By the
// same argument, an instruction whose values are all floats is held and
// computed as floats (GivesFloats), with the same bits and half the bytes.
#ifndef KILN_RUNTIME_CPU_ROW_PROGRAM_H_
#define KILN_RUNTIME_CPU_ROW_PROGRAM_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/kernel_desc.h"

namespace kiln::cpu {

// Immutable after Create; Run is const and may be called by several threads
// at once on disjoint rows, each with its own scratch.
class RowProgram {
 public:
  static constexpr int kChunk = 256;

  // Fails (Internal) when `desc` does not pass codegen::ValidateKernel.
  static absl::StatusOr<RowProgram> Create(codegen::KernelDesc desc);

  // Bytes of scratch one thread needs for Run.
  int64_t ScratchBytes() const { return ScratchBytesFor(desc_); }
  // The same for `desc` without building the program (it depends on the
  // instruction and buffer counts alone).
  static int64_t ScratchBytesFor(const codegen::KernelDesc& desc);

  // Runs rows [row_begin, row_end). buffers[i] is desc.buffers[i]'s base
  // address (its bytes hold the rows the indexing reads or writes).
  void Run(void* const* buffers, int64_t row_begin, int64_t row_end, void* scratch) const;

  const codegen::KernelDesc& desc() const { return desc_; }

 private:
  struct Loop {
    std::vector<int> body;   // in-loop instructions, in order
    std::vector<int> after;  // after-loop instructions, in order
  };

  // One row's state: instruction id's chunk of values is at values + id *
  // kChunk (kChunk doubles, or kChunk floats when floats_[id]); its per-row
  // scalar, if any, in scalars[id].
  struct Row {
    void* const* buffers;
    int64_t r;
    double* values;
    double* scalars;
    const int64_t* gather_rows;
  };
  template <typename T>
  static T* Slot(double* values, int id) {
    return reinterpret_cast<T*>(values + static_cast<int64_t>(id) * kChunk);
  }

  explicit RowProgram(codegen::KernelDesc desc);
  // Whether instruction `id` produces only floats (given floats_ of the
  // earlier ones), so it is held as floats.
  bool GivesFloats(int id) const;
  // Whether instruction `id` is a load whose users can read its buffer in
  // place (direct_).
  bool ReadsInPlace(int id) const;
  void RunRow(void* const* buffers, int64_t r, double* values, double* scalars,
              int64_t* gather_rows) const;
  // Evaluates instruction `id` for columns [i0, i0 + n) into its slot.
  void Eval(int id, const Row& row, int64_t i0, int n) const;
  template <typename T>
  void EvalAs(int id, const Row& row, int64_t i0, int n) const;
  // Instruction a's n values from column i0 as T: its slot when held as T
  // (or, for a direct load, the buffer itself), else converted (or its
  // scalar broadcast) into tmp.
  template <typename T>
  const T* Operand(int a, const Row& row, int64_t i0, int n, T* tmp) const;

  codegen::KernelDesc desc_;
  std::vector<Loop> loops_;
  std::vector<bool> scalar_;  // instruction ids whose value is per row
  std::vector<bool> floats_;  // instruction ids held as floats
  std::vector<bool> direct_;  // loads of f32 rows or columns, read in place
};

}  // namespace kiln::cpu

#endif  // KILN_RUNTIME_CPU_ROW_PROGRAM_H_
