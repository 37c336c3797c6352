#include "codegen/render_common.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kiln::codegen::render {
namespace {

// A literal body that C++ reads back exactly: the shortest round-trip digits,
// with ".0" added when they would read as an integer.
template <typename T>
std::string Literal(T v) {
  if (std::isnan(v)) return "(0.0/0.0)";
  if (std::isinf(v)) return v > 0 ? "(1.0/0.0)" : "(-1.0/0.0)";
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof(buf), v).ptr;
  std::string s(buf, end);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

std::string Index(const KernelDesc& desc, int buffer) {
  const KernelBuffer& b = desc.buffers[buffer];
  switch (b.indexing) {
    case Indexing::kRow:
      return absl::StrCat("r * ", desc.cols, "LL + i");
    case Indexing::kColumn:
      return "i";
    case Indexing::kGather:
      return absl::StrCat("g", buffer, " * ", desc.cols, "LL + i");
    case Indexing::kPerRow:
      return "r";
    case Indexing::kScalar:
      return "0";
  }
  return "0";
}

// Storage -> f32 and f32 -> storage conversions.
std::string Widen(DType d, const std::string& e) {
  if (d == DType::kF16) return absl::StrCat("kiln_h2f(", e, ")");
  if (d == DType::kBF16) return absl::StrCat("kiln_bf2f(", e, ")");
  return e;
}

std::string Narrow(DType d, const std::string& e) {
  if (d == DType::kF16) return absl::StrCat("kiln_f2h(", e, ")");
  if (d == DType::kBF16) return absl::StrCat("kiln_f2bf(", e, ")");
  return e;
}

std::string V(int id) { return absl::StrCat("v", id); }

}  // namespace

const char* ValueCType(ValueType t) {
  switch (t) {
    case ValueType::kF32:
      return "float";
    case ValueType::kF64:
      return "double";
    case ValueType::kI32:
      return "int";
  }
  return "float";
}

const char* StorageCType(DType d) {
  if (d == DType::kF16 || d == DType::kBF16) return "unsigned short";
  if (d == DType::kI32) return "int";
  return "float";
}

std::string F32Literal(float v) {
  std::string s = Literal(v);
  return s[0] == '(' ? absl::StrCat("(float)", s) : s + "f";
}

std::string F64Literal(double v) { return Literal(v); }

std::string Statement(const KernelDesc& desc, int id, const AccumulatorName& acc) {
  const Instr& in = desc.instrs[id];
  const std::string a = in.args.empty() ? "" : V(in.args[0]);
  const std::string b = in.args.size() < 2 ? "" : V(in.args[1]);
  std::string e;
  switch (in.op) {
    case Opcode::kLoad: {
      const KernelBuffer& buf = desc.buffers[in.buffer];
      e = Widen(buf.dtype, absl::StrCat("b", in.buffer, "[", Index(desc, in.buffer), "]"));
      if (buf.indexing == Indexing::kGather) e = absl::StrCat("(g", in.buffer, " < 0 ? 0.0f : ", e, ")");
      break;
    }
    case Opcode::kConst:
      e = in.type == ValueType::kF64 ? F64Literal(in.imm) : F32Literal(static_cast<float>(in.imm));
      break;
    case Opcode::kAdd:
      e = absl::StrCat(a, " + ", b);
      break;
    case Opcode::kSub:
      e = absl::StrCat(a, " - ", b);
      break;
    case Opcode::kMul:
      e = absl::StrCat(a, " * ", b);
      break;
    case Opcode::kDiv:
      e = absl::StrCat(a, " / ", b);
      break;
    case Opcode::kSqrt:
      e = absl::StrCat("kiln_sqrt(", a, ")");
      break;
    case Opcode::kToF64:
      e = absl::StrCat("(double)", a);
      break;
    case Opcode::kToF32:
      e = absl::StrCat("(float)", a);
      break;
    case Opcode::kRound:
      e = absl::StrCat(in.dtype == DType::kF16 ? "kiln_round_f16(" : "kiln_round_bf16(", a, ")");
      break;
    // The activations spelled as runtime/reference/ops_elementwise.cc
    // spells them, so both compilers evaluate the same operations in the
    // same order.
    case Opcode::kSilu:
      e = absl::StrCat(a, " / (1.0f + kiln_exp(-", a, "))");
      break;
    case Opcode::kGeluTanh:
      e = absl::StrCat("0.5f * ", a, " * (1.0f + kiln_tanh(0.7978845608028654f * (", a,
                       " + 0.044715f * ", a, " * ", a, " * ", a, ")))");
      break;
    case Opcode::kGeluErf:
      e = absl::StrCat("0.5f * ", a, " * (1.0f + kiln_erf(", a, " * 0.7071067811865476f))");
      break;
    case Opcode::kRelu:
      e = absl::StrCat(a, " > 0.0f ? ", a, " : 0.0f");
      break;
    case Opcode::kStore: {
      const KernelBuffer& buf = desc.buffers[in.buffer];
      return absl::StrCat("b", in.buffer, "[", Index(desc, in.buffer), "] = ", Narrow(buf.dtype, a),
                          ";");
    }
    case Opcode::kReduceSum:
      return absl::StrCat(acc(id, ""), " += ", a, ";");
    case Opcode::kReduceArgmax:
      return absl::StrCat("kiln_argmax_combine(", acc(id, "v"), ", ", acc(id, "i"), ", ", a,
                          ", i);");
  }
  return absl::StrCat("const ", ValueCType(in.type), " ", V(id), " = ", e, ";");
}

std::string Accumulators(const KernelDesc& desc, int loop,
                         const std::function<std::string(const char*, std::string, const char*)>& decl) {
  std::string out;
  for (size_t id = 0; id < desc.instrs.size(); ++id) {
    const Instr& in = desc.instrs[id];
    if (in.loop != loop || in.after_loop) continue;
    if (in.op == Opcode::kReduceSum) {
      out += decl("double", absl::StrCat("a", id), "0.0");
    } else if (in.op == Opcode::kReduceArgmax) {
      // The identity of the argmax order: below every value, after every index.
      out += decl("float", absl::StrCat("a", id, "v"), "kiln_neg_inf()");
      out += decl("int", absl::StrCat("a", id, "i"), "0x7fffffff");
    }
  }
  return out;
}

std::string GatherPrologue(const KernelDesc& desc) {
  std::string out;
  for (size_t k = 0; k < desc.buffers.size(); ++k) {
    const KernelBuffer& b = desc.buffers[k];
    if (b.indexing != Indexing::kGather) continue;
    // Valid ids: id >= 0 and 0 <= id + offset < table_rows (the reference's
    // embedding bounds). A bad row reads zeros and raises the fault flag.
    absl::StrAppend(&out, "  const long long id", k, " = b", b.ids, "[r];\n", "  long long g", k,
                    " = id", k, " + (", b.index_offset, "LL);\n", "  if (id", k, " < 0 || g", k,
                    " < 0 || g", k, " >= ", b.table_rows, "LL) {\n", "    b", b.fault,
                    "[0] = 1;\n", "    g", k, " = -1;\n", "  }\n");
  }
  return out;
}

std::string IrComment(const KernelDesc& desc) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(desc.ir, '\n')) {
    if (line.empty()) continue;
    absl::StrAppend(&out, "// ", std::string(line), "\n");
  }
  return out;
}

std::string BufferParams(const KernelDesc& desc) {
  std::string out;
  for (size_t k = 0; k < desc.buffers.size(); ++k) {
    const KernelBuffer& b = desc.buffers[k];
    absl::StrAppend(&out, k ? ", " : "", b.output ? "" : "const ", StorageCType(b.dtype),
                    "* __restrict__ b", k, " /* ", b.name, " */");
  }
  return out;
}

}  // namespace kiln::codegen::render
