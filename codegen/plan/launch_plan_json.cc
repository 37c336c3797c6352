// launch_plans.json's codec. Each struct's fields are listed once, in a
// function template run by a Writer (struct -> JSON) or by a Reader (JSON ->
// struct, checking each field's type, name and range), so the two
// directions cannot drift apart. The rules that relate fields to each other
// are checked afterwards, on the structs (launch_plan_json_steps.cc).
#include "codegen/plan/launch_plan_json.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

namespace attn = codegen::attention;
using Json = nlohmann::json;

constexpr char kFile[] = "launch_plans.json";
// Bumped when a field changes meaning; the reader takes this version only.
// Version 2 moved each row kernel's desc into the file's row_kernels table.
constexpr int64_t kFormatVersion = 2;
// The largest space: five 256-aligned spaces of this size still sum to less
// than INT64_MAX (arena_plan.h adds them up).
constexpr int64_t kMaxSpaceBytes = int64_t{1} << 56;
// The largest small configuration integer (threads, tiles, heads, ...): a
// product of two, which the executor forms in int, stays far from overflow.
constexpr int64_t kMaxConfig = 4096;

// ---------------------------------------------------------------------------
// Enum names, indexed by the enumerator's value (each list is complete and
// in declaration order; the round-trip test catches an enumerator appended
// without a name, which would be written as "?").

template <typename E>
struct EnumTable;
template <>
struct EnumTable<ArenaSpace> {
  static constexpr char kWhat[] = "arena space";
  static constexpr const char* kNames[] = {"weights", "caches", "inputs", "tables", "scratch"};
};
template <>
struct EnumTable<codegen::Indexing> {
  static constexpr char kWhat[] = "indexing";
  static constexpr const char* kNames[] = {"row", "column", "gather", "per_row", "scalar"};
};
template <>
struct EnumTable<codegen::ValueType> {
  static constexpr char kWhat[] = "value type";
  static constexpr const char* kNames[] = {"f32", "f64", "i32"};
};
template <>
struct EnumTable<codegen::Opcode> {
  static constexpr char kWhat[] = "opcode";
  static constexpr const char* kNames[] = {
      "load",     "const",  "add",    "sub",        "mul",          "div",
      "sqrt",     "to_f64", "to_f32", "round",      "silu",         "gelu_tanh",
      "gelu_erf", "relu",   "store",  "reduce_sum", "reduce_argmax"};
};
template <>
struct EnumTable<attn::KernelKind> {  // attn::KernelKindName's names
  static constexpr char kWhat[] = "attention kernel kind";
  static constexpr const char* kNames[] = {"prefill", "decode", "combine", "rope_kv_write"};
};
// Each table names every enumerator up to the last one declared today.
template <typename E>
constexpr bool NamesUpTo(E last) {
  return std::size(EnumTable<E>::kNames) == static_cast<size_t>(last) + 1;
}
static_assert(NamesUpTo(ArenaSpace::kScratch) && NamesUpTo(codegen::Indexing::kScalar) &&
              NamesUpTo(codegen::ValueType::kI32) && NamesUpTo(codegen::Opcode::kReduceArgmax) &&
              NamesUpTo(attn::KernelKind::kRopeKvWrite));

template <typename E>
std::string NameOf(E value) {
  const size_t i = static_cast<size_t>(value);
  return i < std::size(EnumTable<E>::kNames) ? EnumTable<E>::kNames[i] : "?";
}
std::string NameOf(DType dtype) { return std::string(DTypeName(dtype)); }

// ---------------------------------------------------------------------------
// Writer: fills one JSON object. Bounds are the Reader's business.

class Writer {
 public:
  static constexpr bool kReading = false;
  explicit Writer(Json& j) : j_(j) { j_ = Json::object(); }

  template <typename T, typename... Bounds>
  void Integer(const char* key, const T& v, Bounds...) {
    j_[key] = v;
  }
  template <typename... Bounds>
  void Ints(const char* key, const std::vector<int>& v, Bounds...) {
    j_[key] = v;
  }
  void Bool(const char* key, bool v) { j_[key] = v; }
  void String(const char* key, const std::string& v) { j_[key] = v; }
  void Real(const char* key, double v) {
    if (std::isfinite(v)) {
      j_[key] = v;
    } else {
      j_[key] = std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    }
  }
  template <typename E>
  void Enum(const char* key, E v) {
    j_[key] = NameOf(v);
  }
  template <typename F>
  void Object(const char* key, F&& write) {
    Writer child(j_[key]);
    write(child);
  }
  template <typename T, typename F>
  void Objects(const char* key, const std::vector<T>& v, F&& write) {
    Json& array = j_[key] = Json::array();
    for (size_t i = 0; i < v.size(); ++i) {
      Json e;
      Writer child(e);
      write(child, v[i], i);
      array.push_back(std::move(e));
    }
  }
  template <typename Map, typename F>
  void Members(const char* key, const Map& map, F&& write) {
    Writer object(j_[key]);
    for (const auto& [name, value] : map) {
      Writer child(object.j_[name]);
      write(child, value);
    }
  }
  template <typename T, typename F>
  void Optional(const char* key, const std::optional<T>& v, F&& write) {
    if (v) {
      Object(key, [&](Writer& c) { write(c, *v); });
    } else {
      j_[key] = nullptr;
    }
  }

 private:
  Json& j_;
};

// ---------------------------------------------------------------------------
// Reader: walks one JSON object at a known path. The first problem anywhere
// is kept in a status the readers share and every read after it is a no-op,
// so the field lists stay straight-line code.

// A JSON value for a message: its type, and a number's value.
std::string Describe(const Json& v) {
  return v.is_number() ? absl::StrCat("number ", v.dump()) : std::string(v.type_name());
}

// Hostile names can be long; a message needs only their start.
std::string Clip(absl::string_view s) {
  return s.size() <= 80 ? std::string(s) : absl::StrCat(s.substr(0, 80), "...");
}

class Reader {
 public:
  static constexpr bool kReading = true;
  Reader(const Json& j, std::string path, absl::Status& error)
      : j_(j), path_(std::move(path)), error_(error) {
    if (!j_.is_object()) Fail(path_, absl::StrCat("expected an object, got ", Describe(j_)));
  }

  bool ok() const { return error_.ok(); }
  const std::string& path() const { return path_; }
  std::string PathOf(absl::string_view key) const {
    return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
  }
  bool Has(const char* key) const { return ok() && j_.contains(key); }
  void Fail(const std::string& path, absl::string_view what) {
    if (!error_.ok()) return;
    error_ = absl::DataLossError(path.empty() ? absl::StrCat(kFile, ": ", what)
                                              : absl::StrCat(kFile, ": ", path, ": ", what));
  }
  void FailAt(absl::string_view key, absl::string_view what) { Fail(PathOf(key), what); }

  // The member `key`, which must be present; null when absent or after an error.
  const Json* Member(const char* key) {
    if (!ok()) return nullptr;
    auto it = j_.find(key);
    if (it != j_.end()) return &*it;
    FailAt(key, "is missing");
    return nullptr;
  }

  template <typename T>
  void Integer(const char* key, T& out, int64_t min = 0,
               int64_t max = std::numeric_limits<T>::max()) {
    if (const Json* v = Member(key)) {
      if (std::optional<int64_t> n = IntegerIn(*v, PathOf(key), min, max)) out = static_cast<T>(*n);
    }
  }
  void Ints(const char* key, std::vector<int>& out, int64_t min, int64_t max) {
    const Json* v = Member(key);
    if (v == nullptr || !Is(*v, v->is_array(), key, "an array")) return;
    out.clear();
    for (const Json& e : *v) {
      std::optional<int64_t> n =
          IntegerIn(e, absl::StrCat(PathOf(key), "[", out.size(), "]"), min, max);
      if (!n) return;
      out.push_back(static_cast<int>(*n));
    }
  }
  void Bool(const char* key, bool& out) {
    const Json* v = Member(key);
    if (v != nullptr && Is(*v, v->is_boolean(), key, "a boolean")) out = v->get<bool>();
  }
  void String(const char* key, std::string& out) {
    const Json* v = Member(key);
    if (v != nullptr && Is(*v, v->is_string(), key, "a string")) {
      out = v->get_ref<const std::string&>();
    }
  }
  // A number, or "nan" / "inf" / "-inf"; a float field must be in f32 range.
  template <typename T>
  void Real(const char* key, T& out) {
    const Json* v = Member(key);
    if (v == nullptr) return;
    double d = 0;
    if (v->is_number()) {
      d = v->get<double>();
    } else if (*v == "nan") {
      d = std::numeric_limits<double>::quiet_NaN();
    } else if (*v == "inf" || *v == "-inf") {
      d = (*v == "inf" ? 1 : -1) * std::numeric_limits<double>::infinity();
    } else {
      return FailAt(key, absl::StrCat("expected a number, got ", Describe(*v)));
    }
    if (std::is_same_v<T, float> && std::isfinite(d) && std::fabs(d) > FLT_MAX) {
      return FailAt(key, absl::StrCat(v->dump(), " is out of f32 range"));
    }
    out = static_cast<T>(d);
  }
  template <typename E>
  void Enum(const char* key, E& out) {
    std::string name;
    String(key, name);
    if (!ok()) return;
    for (size_t i = 0; i < std::size(EnumTable<E>::kNames); ++i) {
      if (name == EnumTable<E>::kNames[i]) {
        out = static_cast<E>(i);
        return;
      }
    }
    FailAt(key, absl::StrCat("unknown ", EnumTable<E>::kWhat, " \"", Clip(name), "\""));
  }
  void Enum(const char* key, DType& out) {
    std::string name;
    String(key, name);
    if (!ok()) return;
    std::optional<DType> dtype = DTypeFromName(name);
    if (!dtype) return FailAt(key, absl::StrCat("unknown dtype \"", Clip(name), "\""));
    out = *dtype;
  }

  // read(Reader&) on the object member `key`.
  template <typename F>
  void Object(const char* key, F&& read) {
    if (const Json* v = Member(key)) {
      Reader child(*v, PathOf(key), error_);
      if (child.ok()) read(child);
    }
  }
  // read(Reader&, T&, index) on each object of the array member `key`.
  template <typename T, typename F>
  void Objects(const char* key, std::vector<T>& out, F&& read) {
    const Json* v = Member(key);
    if (v == nullptr || !Is(*v, v->is_array(), key, "an array")) return;
    out.clear();
    for (const Json& e : *v) {
      const size_t index = out.size();
      Reader child(e, absl::StrCat(PathOf(key), "[", index, "]"), error_);
      if (!child.ok()) return;
      read(child, out.emplace_back(), index);
      if (!ok()) return;
    }
  }
  // read(Reader&, value&) on each member of the object member `key`.
  template <typename Map, typename F>
  void Members(const char* key, Map& out, F&& read) {
    const Json* v = Member(key);
    if (v == nullptr || !Is(*v, v->is_object(), key, "an object")) return;
    for (auto it = v->begin(); it != v->end() && ok(); ++it) {
      Reader child(it.value(), absl::StrCat(PathOf(key), "[\"", Clip(it.key()), "\"]"), error_);
      if (child.ok()) read(child, out[it.key()]);
    }
  }
  // Null, or an object read by read(Reader&, T&).
  template <typename T, typename F>
  void Optional(const char* key, std::optional<T>& out, F&& read) {
    const Json* v = Member(key);
    out.reset();
    if (v != nullptr && !v->is_null()) Object(key, [&](Reader& c) { read(c, out.emplace()); });
  }

 private:
  bool Is(const Json& v, bool is, const char* key, const char* expected) {
    if (!is) FailAt(key, absl::StrCat("expected ", expected, ", got ", Describe(v)));
    return is;
  }
  std::optional<int64_t> IntegerIn(const Json& v, const std::string& path, int64_t min,
                                   int64_t max) {
    std::optional<int64_t> n;
    if (v.is_number_unsigned()) {  // beyond INT64_MAX when it does not fit int64
      if (v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        n = static_cast<int64_t>(v.get<uint64_t>());
      }
    } else if (v.is_number_integer()) {
      n = v.get<int64_t>();
    }
    if (!n) {
      Fail(path, absl::StrCat("expected an integer in [", min, ", ", max, "], got ", Describe(v)));
    } else if (*n < min || *n > max) {
      Fail(path, absl::StrCat(*n, " is outside [", min, ", ", max, "]"));
      n.reset();
    }
    return n;
  }

  const Json& j_;
  std::string path_;
  absl::Status& error_;
};

// ---------------------------------------------------------------------------
// The field lists, run on the struct (Writer) or the non-const struct
// (Reader). Only structural rules live here (types, names, each integer's
// range); rules relating fields to each other are launch_plan_json_steps.cc's.

template <typename IO, typename B>
void BufferFields(IO& io, B& b) {
  io.Enum("space", b.space);
  io.Integer("offset", b.offset);
  io.Integer("bytes", b.bytes);
  io.Enum("dtype", b.dtype);
  io.String("value", b.value);
}

// Every buffer of `list` ({key, buffer*}) as a member.
template <typename IO, typename B>
void Buffers(IO& io, std::initializer_list<std::pair<const char*, B*>> list) {
  for (const auto& [key, b] : list) {
    io.Object(key, [&, b = b](auto& c) { BufferFields(c, *b); });
  }
}

template <typename IO, typename V>
void VariantFields(IO& io, V& v) {
  io.Enum("kind", v.kind);
  io.Object("shape", [&](auto& s) {
    s.Integer("head_dim", v.shape.head_dim, 1, kMaxConfig);
    s.Integer("heads", v.shape.heads, 1, kMaxConfig);
    s.Integer("kv_heads", v.shape.kv_heads, 1, kMaxConfig);
    s.Enum("dtype", v.shape.dtype);
  });
  io.Object("tiles", [&](auto& t) {
    t.Integer("warps", v.tiles.warps, 1, kMaxConfig);
    t.Integer("rows_per_warp", v.tiles.rows_per_warp, 1, kMaxConfig);
    t.Integer("block_n", v.tiles.block_n, 1, kMaxConfig);
    t.Integer("min_blocks", v.tiles.min_blocks, 1, kMaxConfig);
  });
}

template <typename IO, typename D>
void KernelDescFields(IO& io, D& d) {
  io.String("name", d.name);
  io.Integer("cols", d.cols, 1);
  io.Integer("threads", d.threads, 1, kMaxConfig);
  io.String("ir", d.ir);
  io.Objects("buffers", d.buffers, [](auto& c, auto& b, size_t) {
    c.String("name", b.name);
    c.Enum("dtype", b.dtype);
    c.Bool("output", b.output);
    c.Enum("indexing", b.indexing);
    c.Integer("ids", b.ids, -1);
    c.Integer("table_rows", b.table_rows);
    c.Integer("index_offset", b.index_offset, std::numeric_limits<int64_t>::min());
    c.Integer("fault", b.fault, -1);
  });
  io.Objects("instrs", d.instrs, [](auto& c, auto& in, size_t index) {
    c.Enum("op", in.op);
    c.Enum("type", in.type);
    c.Integer("loop", in.loop);
    c.Bool("after_loop", in.after_loop);
    c.Ints("args", in.args, 0, static_cast<int64_t>(index) - 1);  // SSA: earlier values
    c.Integer("buffer", in.buffer, -1);
    c.Real("imm", in.imm);
    c.Enum("dtype", in.dtype);
  });
}

// The file's row_kernels: each distinct KernelDesc once. Every bucket's
// plan runs the same row kernels at other row counts, and a desc (its
// instructions and IR text) is most of a step's bytes, so steps name theirs
// by index: 14 plans' descs inline were 3.9 MB of a 6.2 MB file.
//
// Writing (RowKernelTable), a desc's index is that of the first desc equal
// to it as JSON, so equal descs share an entry wherever they occur; reading
// (RowKernelCopies), the index is checked against the table and the step
// gets its own copy.
class RowKernelTable {
 public:
  int64_t IndexOf(const codegen::KernelDesc& desc) {
    Json j;
    Writer w(j);
    KernelDescFields(w, desc);
    std::string key = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    auto [it, added] = index_.try_emplace(std::move(key), static_cast<int64_t>(descs_.size()));
    if (added) descs_.push_back(std::move(j));
    return it->second;
  }
  Json TakeJson() { return Json(std::move(descs_)); }

 private:
  absl::flat_hash_map<std::string, int64_t> index_;
  std::vector<Json> descs_;
};

// The file's row_kernels as read, copied into the steps that name them. A
// hostile file could name one huge desc from many steps, so the copies are
// bounded: at most kCopyFactor times the file's bytes (an engine's plans
// copy about 1.3 times theirs), beyond which the file is refused.
struct RowKernelCopies {
  static constexpr int64_t kCopyFactor = 16;
  static constexpr int64_t kMinBudget = int64_t{16} << 20;

  // A desc's bytes in memory, about.
  static int64_t Footprint(const codegen::KernelDesc& d) {
    int64_t bytes = static_cast<int64_t>(sizeof(d) + d.name.size() + d.ir.size());
    for (const codegen::KernelBuffer& b : d.buffers) bytes += sizeof(b) + b.name.size();
    for (const codegen::Instr& in : d.instrs) bytes += sizeof(in) + in.args.size() * sizeof(int);
    return bytes;
  }

  std::vector<codegen::KernelDesc> descs;
  int64_t budget = 0;  // bytes the steps may still copy
};

template <typename IO, typename S, typename Table>
void RowKernelFields(IO& io, S& s, Table& table) {
  if constexpr (IO::kReading) {
    int64_t index = 0;
    io.Integer("kernel", index, 0, static_cast<int64_t>(table.descs.size()) - 1);
    if (!io.ok()) return;
    const codegen::KernelDesc& desc = table.descs[static_cast<size_t>(index)];
    const int64_t bytes = RowKernelCopies::Footprint(desc);
    if (bytes > table.budget) {
      return io.FailAt("kernel",
                       absl::StrCat("the steps' copies of their row kernels would take "
                                    "more than ",
                                    RowKernelCopies::kCopyFactor, " times the file's size"));
    }
    table.budget -= bytes;
    s.desc = desc;
  } else {
    io.Integer("kernel", table.IndexOf(s.desc));
  }
  io.Integer("rows", s.rows, 1);
  io.Objects("buffers", s.buffers, [](auto& c, auto& b, size_t) { BufferFields(c, b); });
}

template <typename IO, typename G>
void GemmFields(IO& io, G& g) {
  io.Integer("m", g.m, 1);
  io.Integer("n", g.n, 1);
  io.Integer("k", g.k, 1);
  io.Enum("dtype", g.dtype);
  Buffers(io, {std::pair{"x", &g.x}, {"w", &g.w}, {"out", &g.out}, {"bias", &g.bias}});
  io.Optional("gemv", g.gemv, [](auto& c, auto& v) {
    c.Object("shape", [&](auto& s) {
      s.Integer("k", v.shape.k, 1);
      s.Enum("dtype", v.shape.dtype);
      s.Integer("max_rows", v.shape.max_rows, 1, kMaxConfig);
    });
    c.Object("tiles", [&](auto& t) {
      t.Integer("vec", v.tiles.vec, 1, kMaxConfig);
      t.Integer("warps", v.tiles.warps, 1, kMaxConfig);
      t.Integer("cols_per_warp", v.tiles.cols_per_warp, 1, kMaxConfig);
      t.Bool("x_in_shared", v.tiles.x_in_shared);
      t.Integer("min_blocks", v.tiles.min_blocks, 1, kMaxConfig);
    });
  });
}

template <typename IO, typename S>
void RopeKvWriteFields(IO& io, S& s) {
  io.Object("variant", [&](auto& c) { VariantFields(c, s.variant); });
  io.Integer("batch", s.batch, 1);
  io.Integer("seq", s.seq, 1);
  io.Integer("capacity", s.capacity, 1);
  Buffers(io, {std::pair{"q", &s.q},
               {"k", &s.k},
               {"v", &s.v},
               {"pos", &s.pos},
               {"cos_sin", &s.cos_sin},
               {"q_out", &s.q_out},
               {"k_cache", &s.k_cache},
               {"v_cache", &s.v_cache}});
}

template <typename IO, typename A>
void AttentionFields(IO& io, A& a) {
  io.Object("variant", [&](auto& c) { VariantFields(c, a.variant); });
  io.Object("combine", [&](auto& c) { VariantFields(c, a.combine); });
  io.Integer("batch", a.batch, 1);
  io.Integer("seq", a.seq, 1);
  io.Integer("capacity", a.capacity, 1);
  io.Real("scale", a.scale);
  io.Integer("window", a.window);
  io.Integer("splits", a.splits, 1, attn::kMaxDecodeSplits);
  Buffers(io, {std::pair{"q", &a.q},
               {"k_cache", &a.k_cache},
               {"v_cache", &a.v_cache},
               {"pos", &a.pos},
               {"out", &a.out},
               {"acc", &a.acc},
               {"ml", &a.ml}});
}

// The member `key` of a step holding a T: written when the step holds one,
// read (into a new T) when the member is present.
template <typename T, typename IO, typename S, typename F>
void StepKind(IO& io, S& step, const char* key, F&& fields) {
  if constexpr (IO::kReading) {
    if (io.Has(key)) io.Object(key, [&](auto& c) { fields(c, step.op.template emplace<T>()); });
  } else if (const T* op = std::get_if<T>(&step.op)) {
    io.Object(key, [&](auto& c) { fields(c, *op); });
  }
}

// A step is its label and one member named by its kind.
template <typename IO, typename G>
void GatherRowsFields(IO& io, G& g) {
  io.Integer("rows", g.rows, 1);
  io.Integer("cols", g.cols, 1);
  io.Integer("table_rows", g.table_rows, 1);
  io.Integer("index_offset", g.index_offset);
  Buffers(io, {std::pair{"table", &g.table}, {"ids", &g.ids}, {"out", &g.out},
               {"fault", &g.fault}});
}

template <typename IO, typename S, typename Table>
void StepFields(IO& io, S& step, Table& row_kernels) {
  io.String("label", step.label);
  if constexpr (IO::kReading) {
    int kinds = 0;
    for (const char* kind : {"row_kernel", "gemm", "rope_kv_write", "attention", "gather_rows"}) {
      kinds += io.Has(kind) ? 1 : 0;
    }
    if (io.ok() && kinds != 1) {
      return io.Fail(io.path(), absl::StrCat("has ", kinds, " of row_kernel, gemm, ",
                                             "rope_kv_write, attention and gather_rows, not one"));
    }
  }
  StepKind<RowKernelStep>(io, step, "row_kernel",
                          [&](auto& c, auto& s) { RowKernelFields(c, s, row_kernels); });
  StepKind<GemmStep>(io, step, "gemm", [](auto& c, auto& s) { GemmFields(c, s); });
  StepKind<RopeKvWriteStep>(io, step, "rope_kv_write",
                            [](auto& c, auto& s) { RopeKvWriteFields(c, s); });
  StepKind<AttentionStep>(io, step, "attention", [](auto& c, auto& s) { AttentionFields(c, s); });
  StepKind<GatherRowsStep>(io, step, "gather_rows",
                           [](auto& c, auto& s) { GatherRowsFields(c, s); });
}

template <typename IO, typename P, typename Table>
void PlanFields(IO& io, P& p, Table& row_kernels) {
  io.String("function", p.function);
  io.Integer("batch", p.batch, 1);
  io.Integer("seq", p.seq, 1);
  io.Integer("vocab", p.vocab, 1);
  io.Integer("scratch_bytes", p.scratch_bytes, 0, kMaxSpaceBytes);
  Buffers(io, {std::pair{"input_ids", &p.input_ids},
               {"positions", &p.positions},
               {"logits", &p.logits},
               {"next_tokens", &p.next_tokens},
               {"fault", &p.fault}});
  io.Object("sampler", [&](auto& c) {
    c.Enum("dtype", p.sampler.dtype);
    c.Integer("threads", p.sampler.threads, 1, kMaxConfig);
  });
  io.Objects("steps", p.steps,
             [&](auto& c, auto& step, size_t) { StepFields(c, step, row_kernels); });
}

template <typename IO, typename T>
void TableFields(IO& io, T& t) {
  io.Bool("identity", t.identity);
  io.Object("params", [&](auto& c) {
    c.Real("theta", t.params.theta);
    c.String("scaling", t.params.scaling);
    c.Real("factor", t.params.factor);
    c.Real("low_freq_factor", t.params.low_freq_factor);
    c.Real("high_freq_factor", t.params.high_freq_factor);
    c.Integer("original_max_position", t.params.original_max_position);
  });
  io.Integer("head_dim", t.head_dim, 1, kMaxConfig);
  io.Integer("capacity", t.capacity, 1);
  io.Enum("dtype", t.dtype);
  io.Object("buffer", [&](auto& c) { BufferFields(c, t.buffer); });
}

template <typename IO, typename L>
void LayoutFields(IO& io, L& l) {
  io.Integer("weights_bytes", l.weights_bytes, 0, kMaxSpaceBytes);
  io.Integer("caches_bytes", l.caches_bytes, 0, kMaxSpaceBytes);
  io.Integer("inputs_bytes", l.inputs_bytes, 0, kMaxSpaceBytes);
  io.Integer("tables_bytes", l.tables_bytes, 0, kMaxSpaceBytes);
  for (const auto& [key, map] : {std::pair{"weights", &l.weights}, std::pair{"caches", &l.caches},
                                 std::pair{"inputs", &l.inputs}}) {
    io.Members(key, *map, [](auto& c, auto& b) { BufferFields(c, b); });
  }
  io.Objects("tables", l.tables, [](auto& c, auto& t, size_t) { TableFields(c, t); });
}

}  // namespace

std::string LaunchPlansToJson(const StaticLayout& layout, const std::vector<LaunchPlan>& plans) {
  Json j;
  Writer root(j);
  root.Integer("format_version", kFormatVersion);
  root.Object("layout", [&](Writer& c) { LayoutFields(c, layout); });
  RowKernelTable row_kernels;
  root.Objects("plans", plans,
               [&](Writer& c, const LaunchPlan& p, size_t) { PlanFields(c, p, row_kernels); });
  j["row_kernels"] = row_kernels.TakeJson();
  // Compact (kernel.launch_plans.txt is the listing people read): an
  // engine's plans are megabytes indented, a visible share of a small
  // quantized model's engine. `replace`: a name that is not valid UTF-8
  // gets U+FFFD instead of an exception.
  return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

absl::StatusOr<PlannedEngine> LaunchPlansFromJson(std::string_view text) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::DataLossError(absl::StrCat(kFile, ": not valid JSON"));
  absl::Status error;
  Reader root(j, "", error);
  int64_t version = 0;
  root.Integer("format_version", version, std::numeric_limits<int64_t>::min());
  if (root.ok() && version != kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(kFile, ": format_version ", version, ", but this Kiln reads version ",
                     kFormatVersion, ": recompile with compile-model"));
  }
  PlannedEngine out;
  root.Object("layout", [&](Reader& c) { LayoutFields(c, out.layout); });
  RowKernelCopies row_kernels;
  row_kernels.budget = std::max(RowKernelCopies::kMinBudget,
                                RowKernelCopies::kCopyFactor * static_cast<int64_t>(text.size()));
  root.Objects("row_kernels", row_kernels.descs,
               [](Reader& c, codegen::KernelDesc& d, size_t) { KernelDescFields(c, d); });
  root.Objects("plans", out.plans,
               [&](Reader& c, LaunchPlan& p, size_t) { PlanFields(c, p, row_kernels); });
  KILN_RETURN_IF_ERROR(error);
  KILN_RETURN_IF_ERROR(launch_plan_json_internal::CheckPlannedEngine(out));
  return out;
}

}  // namespace kiln
