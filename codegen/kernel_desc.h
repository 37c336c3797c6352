// Kernel descriptions: the one form every generated kernel takes before it
// is rendered to CUDA C++ (render_cuda.cc) and to host C++ (render_host.cc).
//
// A kernel is a per-row program. Row r of `rows` (a launch argument, so one
// kernel serves every (batch, length) bucket) has `cols` elements (static).
// On CUDA one block of `threads` threads runs one row; thread t visits the
// columns t, t + threads, t + 2*threads, ... in every loop. On the host a
// plain loop visits the same columns in the same order for each t, and the
// per-thread partial sums are combined in the same tree the warp shuffles
// use, so both renderings compute the same values bit for bit (up to the
// last-ulp differences of CUDA's expf/tanhf/erff against glibc's).
//
// The program is a list of instructions in SSA form. Each sits in a loop
// (`loop` = k) either inside it (per element: loads, f32/f64 arithmetic,
// stores, reduction accumulators) or after it (per row: the reduced scalar
// and the scalar maths on it, stores of per-row results). A value may be
// used by any later instruction that can see it: a loop body sees its own
// earlier values and every after-loop value of an earlier loop.
#ifndef KILN_CODEGEN_KERNEL_DESC_H_
#define KILN_CODEGEN_KERNEL_DESC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/dtype.h"

namespace kiln::codegen {

// How a buffer is addressed for element (row r, column i).
enum class Indexing : uint8_t {
  kRow,     // [rows, cols]: r * cols + i
  kColumn,  // [cols], shared by every row (a norm weight, a broadcast bias)
  kGather,  // [table_rows, cols]: row ids[r] + index_offset (embedding)
  kPerRow,  // [rows]: r (token ids, argmax results)
  kScalar,  // one element (the fault flag)
};

// A pointer parameter of the kernel, in signature order.
struct KernelBuffer {
  std::string name;  // the IR value it holds (a comment in the source)
  DType dtype = DType::kF32;  // f32, f16, bf16 or i32
  bool output = false;
  Indexing indexing = Indexing::kRow;
  // kGather only: the kPerRow i32 buffer of ids, the table's row count and
  // the offset added to each id. A row whose id is out of range
  // ([max(0, -offset), table_rows - offset)) reads zeros and sets `fault`.
  int ids = -1;
  int64_t table_rows = 0;
  int64_t index_offset = 0;
  int fault = -1;  // kScalar i32 output set to 1 on a bad id
};

// The C type of a value.
enum class ValueType : uint8_t { kF32, kF64, kI32 };

enum class Opcode : uint8_t {
  kLoad,       // buffer element -> f32 (exact: f16/bf16 widen)
  kConst,      // `imm` as f32 or f64
  kAdd,        // a + b
  kSub,        // a - b
  kMul,        // a * b
  kDiv,        // a / b (IEEE, both renderings)
  kSqrt,       // sqrt(a), f64 (correctly rounded on both)
  kToF64,      // (double)a, exact
  kToF32,      // (float)a, round to nearest even
  kRound,      // a rounded to `dtype` (f16/bf16) and back to f32
  kSilu,       // a / (1 + exp(-a))
  kGeluTanh,   // 0.5 a (1 + tanh(sqrt(2/pi) (a + 0.044715 a^3)))
  kGeluErf,    // 0.5 a (1 + erf(a / sqrt(2)))
  kRelu,       // a > 0 ? a : 0 (NaN -> 0, as the reference)
  kStore,      // buffer element = a (rounded to the buffer's dtype)
  kReduceSum,  // in a loop: f64 sum of a over the row; the value is the sum
  kReduceArgmax,  // in a loop: first index of the max of a (first NaN wins)
};

struct Instr {
  Opcode op = Opcode::kConst;
  ValueType type = ValueType::kF32;  // of the result (stores: of the operand)
  int loop = 0;
  bool after_loop = false;  // per-row scalar code after loop `loop`
  std::vector<int> args;    // value ids (indices into KernelDesc::instrs)
  int buffer = -1;          // kLoad, kStore
  double imm = 0.0;         // kConst
  DType dtype = DType::kF32;  // kRound
};

// A generated kernel. `ir` is the IR it implements, as a self-contained
// module whose @kernel function takes the kernel's inputs and returns its
// outputs (leading dims flattened to the symbol `rows`): tests run it on the
// reference executor, and the snapshot shows it above the source.
struct KernelDesc {
  std::string name;  // C identifier, unique within a model
  int64_t cols = 0;
  int threads = 0;   // per row (a multiple of the warp size)
  std::vector<KernelBuffer> buffers;
  std::vector<Instr> instrs;
  std::string ir;

  int num_loops() const;
  // Bytes of static shared memory the CUDA rendering uses (reduction scratch).
  int64_t shared_bytes() const;
};

// Appends instructions, returning each one's value id.
class KernelBuilder {
 public:
  explicit KernelBuilder(KernelDesc& desc) : desc_(desc) {}

  // Subsequent instructions go into loop `loop`'s body, or after it.
  void SetPlace(int loop, bool after_loop);

  int Load(int buffer);
  int ConstF32(float v);
  int ConstF64(double v);
  int Binary(Opcode op, int a, int b);  // type of `a`
  int Unary(Opcode op, int a);          // kSqrt, kSilu, kGeluTanh, kGeluErf, kRelu
  int ToF64(int a);
  int ToF32(int a);
  int Round(int a, DType dtype);        // returns `a` itself for f32
  void Store(int buffer, int a);
  int ReduceSum(int a);                 // a: f64
  int ReduceArgmax(int a);              // a: f32; result i32

 private:
  int Add(Opcode op, ValueType type, std::vector<int> args, int buffer = -1, double imm = 0.0,
          DType dtype = DType::kF32);
  ValueType TypeOf(int a) const;
  KernelDesc& desc_;
  int loop_ = 0;
  bool after_loop_ = false;
};

// Checks the structural invariants renderers rely on (value ids defined
// before use and visible where used, operand types, buffer roles, threads a
// positive multiple of 32). A failure is an internal error of the lowering.
absl::Status ValidateKernel(const KernelDesc& desc);

// "l0.mlp_norm" -> "k_l0_mlp_norm": a C identifier for an IR name.
std::string KernelNameFor(const std::string& ir_name);

}  // namespace kiln::codegen

#endif  // KILN_CODEGEN_KERNEL_DESC_H_
