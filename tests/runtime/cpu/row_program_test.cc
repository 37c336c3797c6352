// RowProgram (runtime/cpu/row_program.h) against its contract's semantics
// spelled out one element at a time: every value a double, f32-typed
// results rounded to f32 after each operation, sums in double in column
// order. The program evaluates chunks of columns and holds float-only
// values as floats; neither may change a bit, so the comparison is exact.
// The kernels are the real row kernels of the fixture models' plans (norms,
// residual adds, SiLU/GELU/ReLU, embeddings, the LM head's argmax), in f32
// and bf16, on random rows.
#include "runtime/cpu/row_program.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/half.h"
#include "codegen/gpu_target.h"
#include "gtest/gtest.h"
#include "tests/runtime/cuda/plan_scenario.h"
#include "tests/support/test_seed.h"

namespace kiln::cpu {
namespace {

using codegen::Indexing;
using codegen::Instr;
using codegen::KernelBuffer;
using codegen::KernelDesc;
using codegen::Opcode;
using codegen::ValueType;

constexpr int64_t kRows = 5;

int64_t Elements(const KernelBuffer& b, int64_t cols) {
  switch (b.indexing) {
    case Indexing::kRow:
      return kRows * cols;
    case Indexing::kColumn:
      return cols;
    case Indexing::kGather:
      return b.table_rows * cols;
    case Indexing::kPerRow:
      return kRows;
    case Indexing::kScalar:
      return 1;
  }
  return 0;
}

double Read(const KernelBuffer& b, const std::vector<uint8_t>& bytes, int64_t i) {
  if (b.dtype == DType::kF16 || b.dtype == DType::kBF16) {
    uint16_t h;
    std::memcpy(&h, bytes.data() + 2 * i, 2);
    return b.dtype == DType::kF16 ? F16ToFloat(h) : BF16ToFloat(h);
  }
  if (b.dtype == DType::kI32) {
    int32_t v;
    std::memcpy(&v, bytes.data() + 4 * i, 4);
    return v;
  }
  float v;
  std::memcpy(&v, bytes.data() + 4 * i, 4);
  return v;
}

void Write(const KernelBuffer& b, std::vector<uint8_t>& bytes, int64_t i, double v) {
  if (b.dtype == DType::kF16 || b.dtype == DType::kBF16) {
    const uint16_t h = b.dtype == DType::kF16 ? FloatToF16(static_cast<float>(v))
                                              : FloatToBF16(static_cast<float>(v));
    std::memcpy(bytes.data() + 2 * i, &h, 2);
  } else if (b.dtype == DType::kI32) {
    const int32_t x = static_cast<int32_t>(v);
    std::memcpy(bytes.data() + 4 * i, &x, 4);
  } else {
    const float x = static_cast<float>(v);
    std::memcpy(bytes.data() + 4 * i, &x, 4);
  }
}

double F32(double v) { return static_cast<float>(v); }

// One row of `d` evaluated element by element, as row_program.h defines it.
void EvaluateRow(const KernelDesc& d, int64_t r, std::vector<std::vector<uint8_t>>& buffers) {
  const size_t n = d.instrs.size();
  std::vector<int64_t> gather(d.buffers.size(), -1);
  for (size_t k = 0; k < d.buffers.size(); ++k) {
    const KernelBuffer& b = d.buffers[k];
    if (b.indexing != Indexing::kGather) continue;
    const int64_t id = static_cast<int64_t>(Read(d.buffers[b.ids], buffers[b.ids], r));
    const int64_t g = id + b.index_offset;
    if (id < 0 || g < 0 || g >= b.table_rows) {
      Write(d.buffers[b.fault], buffers[b.fault], 0, 1);
    } else {
      gather[k] = g;
    }
  }
  // An instruction's value for the current column, or its per-row scalar
  // (after-loop values and reductions, which later instructions read).
  std::vector<double> v(n, 0.0), best(n, 0.0);
  auto eval = [&](size_t id, int64_t col) {
    const Instr& in = d.instrs[id];
    auto x = [&](int j) { return v[in.args[j]]; };
    const bool f32 = in.type == ValueType::kF32;
    double out = 0;
    switch (in.op) {
      case Opcode::kLoad: {
        const KernelBuffer& b = d.buffers[in.buffer];
        const std::vector<uint8_t>& bytes = buffers[in.buffer];
        switch (b.indexing) {
          case Indexing::kRow:
            out = Read(b, bytes, r * d.cols + col);
            break;
          case Indexing::kColumn:
            out = Read(b, bytes, col);
            break;
          case Indexing::kGather:
            out = gather[in.buffer] < 0 ? 0.0 : Read(b, bytes, gather[in.buffer] * d.cols + col);
            break;
          case Indexing::kPerRow:
            out = Read(b, bytes, r);
            break;
          case Indexing::kScalar:
            out = Read(b, bytes, 0);
            break;
        }
        break;
      }
      case Opcode::kConst:
        out = f32 ? F32(in.imm) : in.imm;
        break;
      case Opcode::kAdd:
        out = x(0) + x(1);
        break;
      case Opcode::kSub:
        out = x(0) - x(1);
        break;
      case Opcode::kMul:
        out = x(0) * x(1);
        break;
      case Opcode::kDiv:
        out = x(0) / x(1);
        break;
      case Opcode::kSqrt:
        out = std::sqrt(x(0));
        break;
      case Opcode::kToF64:
        out = x(0);
        break;
      case Opcode::kToF32:
        out = F32(x(0));
        break;
      case Opcode::kRound:
        out = RoundToDType(static_cast<float>(x(0)), in.dtype);
        break;
      case Opcode::kSilu: {
        const float a = static_cast<float>(x(0));
        out = a / (1.0f + std::exp(-a));
        break;
      }
      case Opcode::kGeluTanh: {
        const float a = static_cast<float>(x(0));
        out = 0.5f * a * (1.0f + std::tanh(0.7978845608028654f * (a + 0.044715f * a * a * a)));
        break;
      }
      case Opcode::kGeluErf: {
        const float a = static_cast<float>(x(0));
        out = 0.5f * a * (1.0f + std::erf(a * 0.7071067811865476f));
        break;
      }
      case Opcode::kRelu:
        out = x(0) > 0.0 ? x(0) : 0.0;
        break;
      case Opcode::kStore: {
        const KernelBuffer& b = d.buffers[in.buffer];
        const int64_t at = b.indexing == Indexing::kRow      ? r * d.cols + col
                           : b.indexing == Indexing::kPerRow ? r
                                                             : 0;
        Write(b, buffers[in.buffer], at, x(0));
        return;
      }
      case Opcode::kReduceSum:
        v[id] += x(0);
        return;
      case Opcode::kReduceArgmax: {
        const double o = x(0), oi = static_cast<double>(col);
        const bool vn = std::isnan(best[id]), on = std::isnan(o);
        if ((vn || on) ? (on && (!vn || oi < v[id]))
                       : (o > best[id] || (o == best[id] && oi < v[id]))) {
          best[id] = o;
          v[id] = oi;
        }
        return;
      }
    }
    const bool arithmetic = in.op == Opcode::kAdd || in.op == Opcode::kSub ||
                            in.op == Opcode::kMul || in.op == Opcode::kDiv ||
                            in.op == Opcode::kSqrt;
    v[id] = arithmetic && f32 ? F32(out) : out;
  };
  for (int loop = 0; loop < d.num_loops(); ++loop) {
    for (size_t id = 0; id < n; ++id) {
      const Instr& in = d.instrs[id];
      if (in.loop != loop || in.after_loop) continue;
      if (in.op == Opcode::kReduceSum) v[id] = 0;
      if (in.op == Opcode::kReduceArgmax) {
        best[id] = -std::numeric_limits<double>::infinity();
        v[id] = std::numeric_limits<int32_t>::max();
      }
    }
    for (int64_t col = 0; col < d.cols; ++col) {
      for (size_t id = 0; id < n; ++id) {
        if (d.instrs[id].loop == loop && !d.instrs[id].after_loop) eval(id, col);
      }
    }
    for (size_t id = 0; id < n; ++id) {
      if (d.instrs[id].loop == loop && d.instrs[id].after_loop) eval(id, 0);
    }
  }
}

// Random contents for each buffer: N(0, 1) floats in the buffer's dtype
// (a few large and tiny ones among them), ids in range but for row 1's.
std::vector<std::vector<uint8_t>> RandomBuffers(const KernelDesc& d, testing::Rng& rng) {
  std::vector<std::vector<uint8_t>> out;
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const KernelBuffer& b : d.buffers) {
    const int64_t n = Elements(b, d.cols);
    out.emplace_back(static_cast<size_t>(n * BlockBytes(b.dtype)), 0);
    for (int64_t i = 0; i < n; ++i) {  // outputs too: a kernel may read one
      double x = normal(rng);
      if (i % 97 == 5) x *= 1e4;
      if (i % 89 == 7) x *= 1e-6;
      Write(b, out.back(), i, x);
    }
  }
  for (const KernelBuffer& b : d.buffers) {
    if (b.indexing != Indexing::kGather) continue;
    // Row g of the table is read for id g - index_offset, which must be >= 0.
    const int64_t first = std::max<int64_t>(0, b.index_offset);
    std::uniform_int_distribution<int64_t> g(first, b.table_rows - 1);
    for (int64_t r = 0; r < kRows; ++r) {
      const bool bad = r == 1 || first >= b.table_rows;
      Write(d.buffers[b.ids], out[b.ids], r, bad ? -1 : g(rng) - b.index_offset);
    }
  }
  return out;
}

// The distinct row kernels of a fixture model's plans.
std::map<std::string, KernelDesc> RowKernels(const std::string& family, DType dtype) {
  std::map<std::string, KernelDesc> descs;
  absl::StatusOr<testing::CompiledPlanModel> model =
      testing::CompilePlanModel(family, dtype, codegen::A100Target());
  EXPECT_TRUE(model.ok()) << model.status();
  if (!model.ok()) return descs;
  for (const LaunchPlan& plan : model->plans) {
    for (const LaunchStep& step : plan.steps) {
      if (const auto* k = std::get_if<RowKernelStep>(&step.op))
        descs.emplace(k->desc.name, k->desc);
    }
  }
  return descs;
}

// Runs `d` on random buffers through RowProgram and through EvaluateRow;
// every buffer must come out the same, byte for byte.
void ExpectSameAsElementwise(const KernelDesc& d, testing::Rng& rng) {
  absl::StatusOr<RowProgram> program = RowProgram::Create(d);
  ASSERT_TRUE(program.ok()) << program.status();
  std::vector<std::vector<uint8_t>> want = RandomBuffers(d, rng);
  std::vector<std::vector<uint8_t>> got = want;
  for (int64_t r = 0; r < kRows; ++r) EvaluateRow(d, r, want);
  std::vector<void*> pointers;
  for (std::vector<uint8_t>& b : got) pointers.push_back(b.data());
  std::vector<double> scratch(static_cast<size_t>(program->ScratchBytes() / 8 + 1));
  program->Run(pointers.data(), 0, 2, scratch.data());  // two calls, as threads split rows
  program->Run(pointers.data(), 2, kRows, scratch.data());
  for (size_t k = 0; k < d.buffers.size(); ++k) {
    EXPECT_TRUE(want[k] == got[k]) << d.name << " (" << d.cols << " columns) buffer "
                                   << d.buffers[k].name << " differs; " << testing::SeedNote();
  }
}

struct Case {
  std::string family;
  DType dtype;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.family << " " << DTypeName(c.dtype); }

class RowProgramTest : public ::testing::TestWithParam<Case> {};

// Each real kernel at its own width and at one that spans several chunks
// and ends in a partial one (sums, argmax indices and offsets carried
// across chunks).
TEST_P(RowProgramTest, MatchesTheElementwiseSemanticsBitForBit) {
  const std::map<std::string, KernelDesc> descs = RowKernels(GetParam().family, GetParam().dtype);
  ASSERT_GT(descs.size(), 3u);
  testing::Rng rng = testing::TestRng();
  std::map<Opcode, int> ops;
  for (const auto& [name, d] : descs) {
    for (const Instr& in : d.instrs) ++ops[in.op];
    ExpectSameAsElementwise(d, rng);
    KernelDesc wide = d;
    wide.cols = 3 * RowProgram::kChunk + 17;
    ExpectSameAsElementwise(wide, rng);
  }
  EXPECT_GT(ops[Opcode::kReduceSum], 0);
  EXPECT_GT(ops[Opcode::kToF32], 0);
  EXPECT_GT(ops[Opcode::kStore], 0);
}

// What the models' kernels do not do but a desc may: f32 arithmetic on a
// double operand (held as doubles, rounded once), relu and a store of
// doubles, a double rounded to f16, a per-row store of a double, an output
// read before it is overwritten, and an argmax, over several chunks.
TEST(RowProgramMixedTest, FloatAndDoubleValuesMeetAsTheSemanticsSay) {
  KernelDesc d;
  d.name = "k_mixed";
  d.cols = 3 * RowProgram::kChunk + 17;
  d.threads = 128;
  auto buffer = [&](const char* name, DType dtype, bool output, Indexing indexing) {
    KernelBuffer b;
    b.name = name;
    b.dtype = dtype;
    b.output = output;
    b.indexing = indexing;
    d.buffers.push_back(b);
    return static_cast<int>(d.buffers.size()) - 1;
  };
  const int x = buffer("x", DType::kF32, false, Indexing::kRow);
  const int w = buffer("w", DType::kBF16, false, Indexing::kColumn);
  const int out = buffer("out", DType::kF32, true, Indexing::kRow);
  const int half = buffer("half", DType::kF16, true, Indexing::kRow);
  const int norm = buffer("norm", DType::kF32, true, Indexing::kPerRow);
  const int best = buffer("best", DType::kI32, true, Indexing::kPerRow);
  const int inout = buffer("inout", DType::kF32, true, Indexing::kRow);
  const int before = buffer("before", DType::kF32, true, Indexing::kRow);
  codegen::KernelBuilder k(d);
  const int xd = k.ToF64(k.Load(x));
  const int sum = k.ReduceSum(k.Binary(Opcode::kMul, xd, xd));
  k.SetPlace(0, /*after_loop=*/true);
  const int mean = k.Binary(Opcode::kDiv, sum, k.ConstF64(static_cast<double>(d.cols)));
  k.Store(norm, k.Unary(Opcode::kSqrt, mean));  // a double stored to f32
  k.SetPlace(1, /*after_loop=*/false);
  const int x1 = k.Load(x);
  const int scaled = k.Binary(Opcode::kMul, x1, mean);  // f32-typed, a double operand
  const int shifted = k.Binary(Opcode::kAdd, scaled, k.Load(w));
  const int kept = k.Unary(Opcode::kRelu, k.Binary(Opcode::kSub, k.ToF64(shifted), mean));
  k.Store(out, kept);                         // a double stored to f32
  k.Store(half, k.Round(kept, DType::kF16));  // a double rounded to f16
  // An output read, then overwritten, then its old value used.
  const int old = k.Load(inout);
  k.Store(inout, shifted);
  k.Store(before, k.Binary(Opcode::kAdd, old, x1));
  const int top = k.ReduceArgmax(k.Unary(Opcode::kGeluTanh, x1));
  k.SetPlace(1, /*after_loop=*/true);
  k.Store(best, top);
  ASSERT_TRUE(codegen::ValidateKernel(d).ok()) << codegen::ValidateKernel(d);
  testing::Rng rng = testing::TestRng();
  for (int i = 0; i < 4; ++i) ExpectSameAsElementwise(d, rng);
}

INSTANTIATE_TEST_SUITE_P(Models, RowProgramTest,
                         ::testing::Values(Case{"llama3", DType::kF32},
                                           Case{"llama3", DType::kBF16}, Case{"opt", DType::kF32},
                                           Case{"opt", DType::kBF16}, Case{"mistral", DType::kF32}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return absl::StrCat(info.param.family, "_",
                                               std::string(DTypeName(info.param.dtype)));
                         });

// The memory plan may give an output the bytes of an input whose last use
// in the graph came earlier: here B overwrites x between x's load and the
// load's last use, and F must still see the values x held.
TEST(RowProgramMixedTest, AStoreOverAnInputDoesNotChangeWhatItsLoadGave) {
  KernelDesc d;
  d.name = "k_aliased";
  d.cols = 3 * RowProgram::kChunk + 17;
  d.threads = 128;
  for (const char* name : {"x", "y", "b", "f"}) {
    KernelBuffer buffer;
    buffer.name = name;
    buffer.output = name[0] == 'b' || name[0] == 'f';
    d.buffers.push_back(buffer);
  }
  codegen::KernelBuilder k(d);
  const int x = k.Load(0);
  k.Store(2, k.Load(1));  // b = y, over x's bytes
  k.Store(3, k.Binary(Opcode::kAdd, x, x));
  ASSERT_TRUE(codegen::ValidateKernel(d).ok());
  absl::StatusOr<RowProgram> program = RowProgram::Create(d);
  ASSERT_TRUE(program.ok()) << program.status();
  testing::Rng rng = testing::TestRng();
  const std::vector<float> x0 = testing::NormalValues(rng, kRows * d.cols, 1.0, DType::kF32);
  std::vector<float> shared = x0;  // x and b
  const std::vector<float> y = testing::NormalValues(rng, kRows * d.cols, 1.0, DType::kF32);
  std::vector<float> f(x0.size());
  void* buffers[] = {shared.data(), const_cast<float*>(y.data()), shared.data(), f.data()};
  std::vector<double> scratch(static_cast<size_t>(program->ScratchBytes() / 8 + 1));
  program->Run(buffers, 0, kRows, scratch.data());
  for (size_t i = 0; i < x0.size(); ++i) {
    ASSERT_EQ(f[i], x0[i] + x0[i]) << "element " << i << "; " << testing::SeedNote();
    ASSERT_EQ(shared[i], y[i]) << "element " << i;
  }
}

}  // namespace
}  // namespace kiln::cpu
