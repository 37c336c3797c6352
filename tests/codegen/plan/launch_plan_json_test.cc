// launch_plans.json (codegen/plan/launch_plan_json.h): the plans of the plan
// test models (tests/fixtures/plan_models, compiled into a batch-2 and a
// batch-1 prefill and decode bucket each) survive the file exactly, and
// malformed files fail as DataLoss errors naming the field, never a crash.
#include "codegen/plan/launch_plan_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;
using Json = nlohmann::json;

// Every field of two layouts and plan lists, collecting the paths that differ.
class Differ {
 public:
  std::vector<std::string> diffs;

  template <typename T>
  void Eq(const std::string& at, const T& a, const T& b) {
    if (!(a == b)) diffs.push_back(at);
  }
  // Bit for bit, except that any NaN equals any NaN (the file keeps no payload).
  void Real(const std::string& at, double a, double b) {
    const bool same =
        (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
    if (!same) diffs.push_back(at);
  }
  void Buffer(const std::string& at, const DeviceBuffer& a, const DeviceBuffer& b) {
    Eq(at + ".space", a.space, b.space);
    Eq(at + ".offset", a.offset, b.offset);
    Eq(at + ".bytes", a.bytes, b.bytes);
    Eq(at + ".dtype", a.dtype, b.dtype);
    Eq(at + ".value", a.value, b.value);
  }
  void Variant(const std::string& at, const attn::KernelVariant& a, const attn::KernelVariant& b) {
    Eq(at + ".kind", a.kind, b.kind);
    Eq(at + ".shape.head_dim", a.shape.head_dim, b.shape.head_dim);
    Eq(at + ".shape.heads", a.shape.heads, b.shape.heads);
    Eq(at + ".shape.kv_heads", a.shape.kv_heads, b.shape.kv_heads);
    Eq(at + ".shape.dtype", a.shape.dtype, b.shape.dtype);
    Eq(at + ".tiles.warps", a.tiles.warps, b.tiles.warps);
    Eq(at + ".tiles.rows_per_warp", a.tiles.rows_per_warp, b.tiles.rows_per_warp);
    Eq(at + ".tiles.block_n", a.tiles.block_n, b.tiles.block_n);
    Eq(at + ".tiles.min_blocks", a.tiles.min_blocks, b.tiles.min_blocks);
  }
  void Desc(const std::string& at, const codegen::KernelDesc& a, const codegen::KernelDesc& b) {
    Eq(at + ".name", a.name, b.name);
    Eq(at + ".cols", a.cols, b.cols);
    Eq(at + ".threads", a.threads, b.threads);
    Eq(at + ".ir", a.ir, b.ir);
    Eq(at + ".buffers.size", a.buffers.size(), b.buffers.size());
    for (size_t i = 0; i < std::min(a.buffers.size(), b.buffers.size()); ++i) {
      const std::string here = absl::StrCat(at, ".buffers[", i, "]");
      const codegen::KernelBuffer &x = a.buffers[i], &y = b.buffers[i];
      Eq(here + ".name", x.name, y.name);
      Eq(here + ".dtype", x.dtype, y.dtype);
      Eq(here + ".output", x.output, y.output);
      Eq(here + ".indexing", x.indexing, y.indexing);
      Eq(here + ".ids", x.ids, y.ids);
      Eq(here + ".table_rows", x.table_rows, y.table_rows);
      Eq(here + ".index_offset", x.index_offset, y.index_offset);
      Eq(here + ".fault", x.fault, y.fault);
    }
    Eq(at + ".instrs.size", a.instrs.size(), b.instrs.size());
    for (size_t i = 0; i < std::min(a.instrs.size(), b.instrs.size()); ++i) {
      const std::string here = absl::StrCat(at, ".instrs[", i, "]");
      const codegen::Instr &x = a.instrs[i], &y = b.instrs[i];
      Eq(here + ".op", x.op, y.op);
      Eq(here + ".type", x.type, y.type);
      Eq(here + ".loop", x.loop, y.loop);
      Eq(here + ".after_loop", x.after_loop, y.after_loop);
      Eq(here + ".args", x.args, y.args);
      Eq(here + ".buffer", x.buffer, y.buffer);
      Real(here + ".imm", x.imm, y.imm);
      Eq(here + ".dtype", x.dtype, y.dtype);
    }
  }
  void Step(const std::string& at, const LaunchStep& a, const LaunchStep& b) {
    Eq(at + ".label", a.label, b.label);
    Eq(at + ".kind", a.op.index(), b.op.index());
    if (const auto* x = std::get_if<RowKernelStep>(&a.op)) {
      const auto* y = std::get_if<RowKernelStep>(&b.op);
      if (y == nullptr) return;
      Desc(at + ".desc", x->desc, y->desc);
      Eq(at + ".rows", x->rows, y->rows);
      Eq(at + ".buffers.size", x->buffers.size(), y->buffers.size());
      for (size_t i = 0; i < std::min(x->buffers.size(), y->buffers.size()); ++i) {
        Buffer(absl::StrCat(at, ".buffers[", i, "]"), x->buffers[i], y->buffers[i]);
      }
    } else if (const auto* x = std::get_if<GemmStep>(&a.op)) {
      const auto* y = std::get_if<GemmStep>(&b.op);
      if (y == nullptr) return;
      Eq(at + ".m", x->m, y->m);
      Eq(at + ".n", x->n, y->n);
      Eq(at + ".k", x->k, y->k);
      Eq(at + ".dtype", x->dtype, y->dtype);
      Buffer(at + ".x", x->x, y->x);
      Buffer(at + ".w", x->w, y->w);
      Buffer(at + ".out", x->out, y->out);
      Buffer(at + ".bias", x->bias, y->bias);
      Eq(at + ".gemv.has", x->gemv.has_value(), y->gemv.has_value());
      if (x->gemv && y->gemv) {
        const codegen::gemv::GemvVariant &v = *x->gemv, &w = *y->gemv;
        Eq(at + ".gemv.shape.k", v.shape.k, w.shape.k);
        Eq(at + ".gemv.shape.dtype", v.shape.dtype, w.shape.dtype);
        Eq(at + ".gemv.shape.max_rows", v.shape.max_rows, w.shape.max_rows);
        Eq(at + ".gemv.tiles.vec", v.tiles.vec, w.tiles.vec);
        Eq(at + ".gemv.tiles.warps", v.tiles.warps, w.tiles.warps);
        Eq(at + ".gemv.tiles.cols_per_warp", v.tiles.cols_per_warp, w.tiles.cols_per_warp);
        Eq(at + ".gemv.tiles.x_in_shared", v.tiles.x_in_shared, w.tiles.x_in_shared);
        Eq(at + ".gemv.tiles.min_blocks", v.tiles.min_blocks, w.tiles.min_blocks);
      }
    } else if (const auto* x = std::get_if<RopeKvWriteStep>(&a.op)) {
      const auto* y = std::get_if<RopeKvWriteStep>(&b.op);
      if (y == nullptr) return;
      Variant(at + ".variant", x->variant, y->variant);
      Eq(at + ".batch", x->batch, y->batch);
      Eq(at + ".seq", x->seq, y->seq);
      Eq(at + ".capacity", x->capacity, y->capacity);
      Buffer(at + ".q", x->q, y->q);
      Buffer(at + ".k", x->k, y->k);
      Buffer(at + ".v", x->v, y->v);
      Buffer(at + ".pos", x->pos, y->pos);
      Buffer(at + ".cos_sin", x->cos_sin, y->cos_sin);
      Buffer(at + ".q_out", x->q_out, y->q_out);
      Buffer(at + ".k_cache", x->k_cache, y->k_cache);
      Buffer(at + ".v_cache", x->v_cache, y->v_cache);
    } else if (const auto* x = std::get_if<AttentionStep>(&a.op)) {
      const auto* y = std::get_if<AttentionStep>(&b.op);
      if (y == nullptr) return;
      Variant(at + ".variant", x->variant, y->variant);
      Variant(at + ".combine", x->combine, y->combine);
      Eq(at + ".batch", x->batch, y->batch);
      Eq(at + ".seq", x->seq, y->seq);
      Eq(at + ".capacity", x->capacity, y->capacity);
      Real(at + ".scale", x->scale, y->scale);
      Eq(at + ".window", x->window, y->window);
      Eq(at + ".splits", x->splits, y->splits);
      Buffer(at + ".q", x->q, y->q);
      Buffer(at + ".k_cache", x->k_cache, y->k_cache);
      Buffer(at + ".v_cache", x->v_cache, y->v_cache);
      Buffer(at + ".pos", x->pos, y->pos);
      Buffer(at + ".out", x->out, y->out);
      Buffer(at + ".acc", x->acc, y->acc);
      Buffer(at + ".ml", x->ml, y->ml);
    }
  }
  void Plan(const std::string& at, const LaunchPlan& a, const LaunchPlan& b) {
    Eq(at + ".function", a.function, b.function);
    Eq(at + ".batch", a.batch, b.batch);
    Eq(at + ".seq", a.seq, b.seq);
    Eq(at + ".scratch_bytes", a.scratch_bytes, b.scratch_bytes);
    Eq(at + ".vocab", a.vocab, b.vocab);
    Buffer(at + ".input_ids", a.input_ids, b.input_ids);
    Buffer(at + ".positions", a.positions, b.positions);
    Buffer(at + ".logits", a.logits, b.logits);
    Buffer(at + ".next_tokens", a.next_tokens, b.next_tokens);
    Buffer(at + ".fault", a.fault, b.fault);
    Eq(at + ".sampler.dtype", a.sampler.dtype, b.sampler.dtype);
    Eq(at + ".sampler.threads", a.sampler.threads, b.sampler.threads);
    Eq(at + ".steps.size", a.steps.size(), b.steps.size());
    for (size_t i = 0; i < std::min(a.steps.size(), b.steps.size()); ++i) {
      Step(absl::StrCat(at, ".steps[", i, "]"), a.steps[i], b.steps[i]);
    }
  }
  void Map(const std::string& at, const std::map<std::string, DeviceBuffer, std::less<>>& a,
           const std::map<std::string, DeviceBuffer, std::less<>>& b) {
    Eq(at + ".size", a.size(), b.size());
    for (const auto& [name, buffer] : a) {
      auto it = b.find(name);
      if (it == b.end()) {
        diffs.push_back(at + "[" + name + "] (missing)");
      } else {
        Buffer(at + "[" + name + "]", buffer, it->second);
      }
    }
  }
  void Layout(const StaticLayout& a, const StaticLayout& b) {
    Map("layout.weights", a.weights, b.weights);
    Map("layout.caches", a.caches, b.caches);
    Map("layout.inputs", a.inputs, b.inputs);
    Eq("layout.weights_bytes", a.weights_bytes, b.weights_bytes);
    Eq("layout.caches_bytes", a.caches_bytes, b.caches_bytes);
    Eq("layout.inputs_bytes", a.inputs_bytes, b.inputs_bytes);
    Eq("layout.tables_bytes", a.tables_bytes, b.tables_bytes);
    Eq("layout.tables.size", a.tables.size(), b.tables.size());
    for (size_t i = 0; i < std::min(a.tables.size(), b.tables.size()); ++i) {
      const std::string at = absl::StrCat("layout.tables[", i, "]");
      const RopeTable &x = a.tables[i], &y = b.tables[i];
      Eq(at + ".identity", x.identity, y.identity);
      Real(at + ".params.theta", x.params.theta, y.params.theta);
      Eq(at + ".params.scaling", x.params.scaling, y.params.scaling);
      Real(at + ".params.factor", x.params.factor, y.params.factor);
      Real(at + ".params.low_freq_factor", x.params.low_freq_factor, y.params.low_freq_factor);
      Real(at + ".params.high_freq_factor", x.params.high_freq_factor, y.params.high_freq_factor);
      Eq(at + ".params.original_max_position", x.params.original_max_position,
         y.params.original_max_position);
      Eq(at + ".head_dim", x.head_dim, y.head_dim);
      Eq(at + ".capacity", x.capacity, y.capacity);
      Eq(at + ".dtype", x.dtype, y.dtype);
      Buffer(at + ".buffer", x.buffer, y.buffer);
    }
  }
};

// Writes, reads back and writes again: the structs match field for field
// and the two texts byte for byte.
void ExpectRoundTrip(const StaticLayout& layout, const std::vector<LaunchPlan>& plans) {
  const std::string text = LaunchPlansToJson(layout, plans);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  absl::StatusOr<PlannedEngine> read = LaunchPlansFromJson(text);
  ASSERT_TRUE(read.ok()) << read.status();
  Differ differ;
  differ.Layout(layout, read->layout);
  differ.Eq("plans.size", plans.size(), read->plans.size());
  for (size_t i = 0; i < std::min(plans.size(), read->plans.size()); ++i) {
    differ.Plan(absl::StrCat("plans[", i, "]"), plans[i], read->plans[i]);
  }
  for (const std::string& d : differ.diffs) ADD_FAILURE() << "differs after the round trip: " << d;
  EXPECT_EQ(LaunchPlansToJson(read->layout, read->plans), text);
}

struct Case {
  std::string family;
  DType dtype;
  std::string device;  // "a100" or "h100"
};

class LaunchPlanJsonTest : public ::testing::TestWithParam<Case> {};

TEST_P(LaunchPlanJsonTest, RealPlansRoundTripExactly) {
  const Case& c = GetParam();
  absl::StatusOr<codegen::GpuTarget> info = codegen::GpuTargetByName(c.device);
  ASSERT_TRUE(info.ok()) << info.status();
  absl::StatusOr<testing::CompiledPlanModel> model =
      testing::CompilePlanModel(c.family, c.dtype, *info);
  ASSERT_TRUE(model.ok()) << model.status();
  ExpectRoundTrip(model->layout, model->plans);

  // The plans hold what the file must carry: every step kind, GEMMs with and
  // without a GEMV variant, prefill and decode attention.
  int kinds[4] = {0, 0, 0, 0}, gemv = 0, prefill = 0, decode = 0;
  for (const LaunchPlan& plan : model->plans) {
    for (const LaunchStep& step : plan.steps) {
      ++kinds[step.op.index()];
      if (const auto* g = std::get_if<GemmStep>(&step.op)) gemv += g->gemv.has_value();
      if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
        ++(a->variant.kind == attn::KernelKind::kDecode ? decode : prefill);
      }
    }
  }
  for (int k : kinds) EXPECT_GT(k, 0);
  EXPECT_GT(gemv, 0);
  EXPECT_LT(gemv, kinds[1]);
  EXPECT_GT(prefill, 0);
  EXPECT_GT(decode, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, LaunchPlanJsonTest,
    ::testing::Values(Case{"llama3", DType::kF32, "a100"}, Case{"llama3", DType::kBF16, "h100"},
                      Case{"mistral", DType::kF32, "a100"}, Case{"opt", DType::kF32, "a100"},
                      Case{"opt", DType::kBF16, "h100"}),
    [](const ::testing::TestParamInfo<Case>& info) {
      return absl::StrCat(info.param.family, "_", std::string(DTypeName(info.param.dtype)), "_",
                          info.param.device);
    });

TEST(LaunchPlanJson, EmptyEngineRoundTrips) { ExpectRoundTrip(StaticLayout{}, {}); }

// The llama3 f32 model's plans, compiled once for the tests below (null,
// with a test failure, when it does not compile).
const testing::CompiledPlanModel* Llama() {
  static const testing::CompiledPlanModel* model = [] {
    absl::StatusOr<testing::CompiledPlanModel> m =
        testing::CompilePlanModel("llama3", DType::kF32, codegen::A100Target());
    EXPECT_TRUE(m.ok()) << m.status();
    return m.ok() ? new testing::CompiledPlanModel(*std::move(m)) : nullptr;
  }();
  return model;
}

TEST(LaunchPlanJson, NonFiniteAndSignedZeroRealsRoundTrip) {
  ASSERT_NE(Llama(), nullptr);
  std::vector<LaunchPlan> plans = Llama()->plans;
  int attention = 0, kernels = 0;
  for (LaunchStep& step : plans[0].steps) {
    if (auto* a = std::get_if<AttentionStep>(&step.op)) {
      a->scale = attention++ % 2 == 0 ? std::numeric_limits<float>::infinity() : -0.0f;
    }
    if (auto* r = std::get_if<RowKernelStep>(&step.op); r && !r->desc.instrs.empty()) {
      const double values[] = {std::numeric_limits<double>::quiet_NaN(),
                               -std::numeric_limits<double>::infinity(), -0.0, 1e-310, 0.1 + 0.2};
      r->desc.instrs[0].imm = values[kernels++ % 5];
    }
  }
  ASSERT_GT(attention, 1);
  ASSERT_GT(kernels, 4);
  ExpectRoundTrip(Llama()->layout, plans);
}

// The row kernel descs each step names by index from the file's table.
std::vector<std::string> NamedDescs(const Json& file) {
  std::vector<std::string> names;
  for (const Json& plan : file["plans"]) {
    for (const Json& step : plan["steps"]) {
      if (!step.contains("row_kernel")) continue;
      names.push_back(file["row_kernels"][step["row_kernel"]["kernel"].get<size_t>()]["name"]);
    }
  }
  return names;
}

// Every bucket runs the same row kernels: each desc is written once and
// each step names its own; a desc that differs is written apart, however
// it is named.
TEST(LaunchPlanJson, EachDistinctRowKernelDescIsWrittenOnce) {
  ASSERT_NE(Llama(), nullptr);
  std::vector<LaunchPlan> plans = Llama()->plans;
  ASSERT_GT(plans.size(), 1u);
  std::vector<std::string> names;
  for (const LaunchPlan& plan : plans) {
    for (const LaunchStep& step : plan.steps) {
      if (const auto* r = std::get_if<RowKernelStep>(&step.op)) names.push_back(r->desc.name);
    }
  }
  const absl::flat_hash_set<std::string> distinct(names.begin(), names.end());
  ASSERT_LT(distinct.size(), names.size());
  Json file = Json::parse(LaunchPlansToJson(Llama()->layout, plans));
  EXPECT_EQ(file["row_kernels"].size(), distinct.size());
  EXPECT_EQ(NamedDescs(file), names);

  for (LaunchStep& step : plans.back().steps) {
    if (auto* r = std::get_if<RowKernelStep>(&step.op)) {
      r->desc.threads += 32;  // same name, another desc
      break;
    }
  }
  file = Json::parse(LaunchPlansToJson(Llama()->layout, plans));
  EXPECT_EQ(file["row_kernels"].size(), distinct.size() + 1);
  EXPECT_EQ(NamedDescs(file), names);
  ExpectRoundTrip(Llama()->layout, plans);
}

// ---------------------------------------------------------------------------
// Malformed files.

// The index of plan 0's first step of `kind`.
size_t FirstStep(const Json& file, const char* kind) {
  const Json& steps = file["plans"][0]["steps"];
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].contains(kind)) return i;
  }
  ADD_FAILURE() << "plan 0 has no " << kind << " step";
  return 0;
}

class MalformedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(Llama(), nullptr);
    text_ = LaunchPlansToJson(Llama()->layout, Llama()->plans);
    file_ = Json::parse(text_);
    gemm_ = FirstStep(file_, "gemm");
    row_ = FirstStep(file_, "row_kernel");
    attention_ = FirstStep(file_, "attention");
    const std::string plan = "plans[0].steps[";
    gemm_at_ = absl::StrCat(plan, gemm_, "].gemm");
    row_at_ = absl::StrCat(plan, row_, "].row_kernel");
    attention_at_ = absl::StrCat(plan, attention_, "].attention");
    desc_at_ = absl::StrCat("row_kernels[", Row()["kernel"].get<size_t>(), "]");
  }

  Json& Step(size_t i, const char* kind) { return file_["plans"][0]["steps"][i][kind]; }
  Json& Gemm() { return Step(gemm_, "gemm"); }
  Json& Row() { return Step(row_, "row_kernel"); }
  // The row_kernels entry Row() names.
  Json& RowDesc() { return file_["row_kernels"][Row()["kernel"].get<size_t>()]; }
  Json& Attention() { return Step(attention_, "attention"); }

  // `file_` (as edited) must fail as DataLoss whose message holds `want`.
  void ExpectDataLoss(const std::string& want) { ExpectDataLossFor(file_.dump(), want); }
  static void ExpectDataLossFor(const std::string& text, const std::string& want) {
    absl::StatusOr<PlannedEngine> read = LaunchPlansFromJson(text);
    ASSERT_FALSE(read.ok()) << "accepted; wanted an error with: " << want;
    EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
    EXPECT_NE(read.status().message().find(want), std::string::npos)
        << read.status() << "\nwanted: " << want;
  }

  std::string text_;
  Json file_;
  size_t gemm_ = 0, row_ = 0, attention_ = 0;
  std::string gemm_at_, row_at_, attention_at_, desc_at_;
};

TEST_F(MalformedTest, TheUneditedFileReads) { ASSERT_TRUE(LaunchPlansFromJson(file_.dump()).ok()); }

TEST_F(MalformedTest, NotJson) {
  for (const char* text : {"", "{", "{\"format_version\": 1,", "nul", "{} {}", "\xff"}) {
    ExpectDataLossFor(text, "launch_plans.json: not valid JSON");
  }
  ExpectDataLossFor("[]", "launch_plans.json: expected an object, got array");
  ExpectDataLossFor("{}", "launch_plans.json: format_version: is missing");
  // Deep nesting: nlohmann's parser and destructor are not recursive.
  ExpectDataLossFor(std::string(100000, '[') + std::string(100000, ']'),
                    "launch_plans.json: expected an object, got array");
}

TEST_F(MalformedTest, WrongFormatVersion) {
  file_["format_version"] = 1;  // descs inline in each step, before the row_kernels table
  absl::StatusOr<PlannedEngine> read = LaunchPlansFromJson(file_.dump());
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition) << read.status();
  EXPECT_NE(read.status().message().find("launch_plans.json: format_version 1, but this Kiln "
                                         "reads version 2: recompile with compile-model"),
            std::string::npos)
      << read.status();
}

TEST_F(MalformedTest, MissingField) {
  Gemm().erase("k");
  ExpectDataLoss("launch_plans.json: " + gemm_at_ + ".k: is missing");
}

TEST_F(MalformedTest, MissingPlanBuffer) {
  file_["plans"][0].erase("fault");
  ExpectDataLoss("launch_plans.json: plans[0].fault: is missing");
}

TEST_F(MalformedTest, WrongTypes) {
  Gemm()["m"] = "16";
  ExpectDataLoss("launch_plans.json: " + gemm_at_ + ".m: expected an integer");
  SetUp();
  Gemm()["m"] = 16.5;
  ExpectDataLoss(gemm_at_ + ".m: expected an integer in [1, 9223372036854775807], got number 16.5");
  SetUp();
  file_["plans"][0]["steps"][row_]["label"] = 3;
  ExpectDataLoss(absl::StrCat("plans[0].steps[", row_, "].label: expected a string, got number 3"));
  SetUp();
  file_["layout"] = Json::array();
  ExpectDataLoss("launch_plans.json: layout: expected an object, got array");
  SetUp();
  file_["plans"][0]["steps"] = Json::object();
  ExpectDataLoss("plans[0].steps: expected an array, got object");
  SetUp();
  Gemm()["gemv"] = 7;
  ExpectDataLoss(gemm_at_ + ".gemv: expected an object, got number");
  SetUp();
  RowDesc()["instrs"][0]["after_loop"] = 0;
  ExpectDataLoss(desc_at_ + ".instrs[0].after_loop: expected a boolean, got number");
  SetUp();
  Attention()["scale"] = "half";
  ExpectDataLoss(attention_at_ + ".scale: expected a number, got string");
}

TEST_F(MalformedTest, UnknownEnumNames) {
  RowDesc()["instrs"][0]["op"] = "fma";
  ExpectDataLoss(desc_at_ + ".instrs[0].op: unknown opcode \"fma\"");
  SetUp();
  Gemm()["x"]["space"] = "registers";
  ExpectDataLoss(gemm_at_ + ".x.space: unknown arena space \"registers\"");
  SetUp();
  Gemm()["dtype"] = "f8";
  ExpectDataLoss(gemm_at_ + ".dtype: unknown dtype \"f8\"");
  SetUp();
  Attention()["variant"]["kind"] = "Prefill";
  ExpectDataLoss(attention_at_ + ".variant.kind: unknown attention kernel kind \"Prefill\"");
  SetUp();
  RowDesc()["buffers"][0]["indexing"] = 1;  // an enum's integer value is not its name
  ExpectDataLoss(desc_at_ + ".buffers[0].indexing: expected a string, got number");
}

TEST_F(MalformedTest, NegativeSizes) {
  file_["plans"][0]["input_ids"]["offset"] = -256;
  ExpectDataLoss("launch_plans.json: plans[0].input_ids.offset: -256 is outside [0, ");
  SetUp();
  Gemm()["w"]["bytes"] = -1;
  ExpectDataLoss(gemm_at_ + ".w.bytes: -1 is outside");
  SetUp();
  file_["layout"]["caches_bytes"] = -4096;
  ExpectDataLoss("layout.caches_bytes: -4096 is outside [0, 72057594037927936]");
  SetUp();
  file_["plans"][0]["scratch_bytes"] = -256;
  ExpectDataLoss("plans[0].scratch_bytes: -256 is outside");
}

TEST_F(MalformedTest, BufferPastItsSpace) {
  const int64_t scratch = file_["plans"][0]["scratch_bytes"].get<int64_t>();
  ASSERT_EQ(Gemm()["out"]["space"], "scratch");
  Gemm()["out"]["offset"] = scratch;
  ExpectDataLoss(gemm_at_ + ".out: offset " + std::to_string(scratch) + " + bytes ");
  ExpectDataLoss("lies past the end of its space (" + std::to_string(scratch) + " bytes)");
  SetUp();
  const int64_t weights = file_["layout"]["weights_bytes"].get<int64_t>();
  Json& first = file_["layout"]["weights"].begin().value();
  const std::string name = file_["layout"]["weights"].begin().key();
  first["offset"] = weights;
  ExpectDataLoss("launch_plans.json: layout.weights[\"" + name + "\"]: offset ");
  SetUp();
  // A scratch_bytes too small for the plan's own buffers.
  file_["plans"][0]["scratch_bytes"] = 256;
  ExpectDataLoss("lies past the end of its space (256 bytes)");
  SetUp();
  Gemm()["out"]["offset"] = 128;
  ExpectDataLoss(gemm_at_ + ".out.offset: 128 is not 256-aligned");
}

TEST_F(MalformedTest, HugeOffsetsAndSizes) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  Gemm()["x"]["offset"] = kMax;
  ExpectDataLoss(gemm_at_ + ".x: offset 9223372036854775807 + bytes ");
  SetUp();
  Gemm()["x"]["offset"] = kMax - 255;  // aligned: offset + bytes overflows int64
  ExpectDataLoss(gemm_at_ + ".x: offset 9223372036854775552 + bytes ");
  SetUp();
  Gemm()["x"]["bytes"] = kMax;
  ExpectDataLoss(gemm_at_ + ".x: offset ");
  SetUp();
  Gemm()["x"]["offset"] = std::numeric_limits<uint64_t>::max();
  ExpectDataLoss(gemm_at_ +
                 ".x.offset: expected an integer in [0, 9223372036854775807], got "
                 "number 18446744073709551615");
  SetUp();
  Gemm()["x"]["offset"] = 1e300;
  ExpectDataLoss(gemm_at_ + ".x.offset: expected an integer");
  SetUp();
  file_["layout"]["weights_bytes"] = kMax;
  ExpectDataLoss("layout.weights_bytes: 9223372036854775807 is outside [0, 72057594037927936]");
  SetUp();
  Row()["rows"] = kMax;  // rows x cols overflows
  ExpectDataLoss(row_at_ + ".buffers[");
  SetUp();
  Attention()["scale"] = 1e300;
  ExpectDataLoss(attention_at_ + ".scale: 1e+300 is out of f32 range");
}

TEST_F(MalformedTest, LaunchesBeyondTheirBuffers) {
  Gemm()["m"] = Gemm()["m"].get<int64_t>() + 1;
  ExpectDataLoss(gemm_at_ + ".x: holds ");
  SetUp();
  Row()["rows"] = Row()["rows"].get<int64_t>() * 2;
  ExpectDataLoss(row_at_ + ".buffers[");
  SetUp();
  Attention()["capacity"] = Attention()["capacity"].get<int64_t>() + 1;
  ExpectDataLoss(attention_at_ + ".k_cache: holds ");
  SetUp();
  file_["plans"][0]["batch"] = file_["plans"][0]["batch"].get<int64_t>() + 1;
  ExpectDataLoss("plans[0].input_ids: holds ");
  SetUp();
  file_["layout"]["tables"][0]["capacity"] = 1 << 20;
  ExpectDataLoss("layout.tables[0].buffer: holds ");
}

TEST_F(MalformedTest, InconsistentSteps) {
  file_["plans"][0]["steps"][gemm_]["row_kernel"] = Row();
  ExpectDataLoss(absl::StrCat("plans[0].steps[", gemm_, "]: has 2 of row_kernel, gemm"));
  SetUp();
  file_["plans"][0]["steps"][gemm_].erase("gemm");
  ExpectDataLoss(absl::StrCat("plans[0].steps[", gemm_, "]: has 0 of row_kernel, gemm"));
  SetUp();
  Row()["buffers"].erase(0);
  ExpectDataLoss(row_at_ + ".buffers: ");
  SetUp();
  RowDesc()["instrs"][0]["args"] = Json::array({0});  // an operand must come earlier
  ExpectDataLoss(desc_at_ + ".instrs[0].args[0]: 0 is outside [0, -1]");
  SetUp();
  RowDesc()["instrs"][0]["buffer"] = 99;
  ExpectDataLoss(row_at_ + ".kernel's instrs[0].buffer: names no buffer");
  SetUp();
  Row()["kernel"] = file_["row_kernels"].size();
  ExpectDataLoss(absl::StrCat(row_at_, ".kernel: ", file_["row_kernels"].size(), " is outside [0, ",
                              file_["row_kernels"].size() - 1, "]"));
  SetUp();
  file_.erase("row_kernels");
  ExpectDataLoss("launch_plans.json: row_kernels: is missing");
  SetUp();
  Attention()["variant"]["kind"] = "combine";
  ExpectDataLoss(attention_at_ + ".variant.kind: must be prefill or decode");
  SetUp();
  Attention()["splits"] = 65;
  ExpectDataLoss(attention_at_ + ".splits: 65 is outside [1, 64]");
  SetUp();
  Attention()["variant"]["tiles"]["warps"] = 0;  // the executor divides by block_m()
  ExpectDataLoss(attention_at_ + ".variant.tiles.warps: 0 is outside [1, 4096]");
  SetUp();
  file_["layout"]["tables"][0]["params"]["scaling"] = "yarn";
  ExpectDataLoss("layout.tables[0].params.scaling: must be none, linear or llama3");
  SetUp();
  file_["layout"]["inputs"]["input_ids"]["space"] = "weights";
  ExpectDataLoss("layout.inputs[\"input_ids\"].space: is not the space of its map");
}

// One huge desc named by many steps: the copies would be far larger than
// the file, and the reader refuses them rather than allocate.
TEST_F(MalformedTest, RowKernelCopiesAreBoundedByTheFileSize) {
  RowDesc()["ir"] = std::string(size_t{1} << 20, 'x');
  Json& steps = file_["plans"][0]["steps"];
  const Json row = steps[row_];
  for (int i = 0; i < 200; ++i) steps.push_back(row);
  ExpectDataLoss(
      ".row_kernel.kernel: the steps' copies of their row kernels would take more "
      "than 16 times the file's size");
}

TEST_F(MalformedTest, GemvMustFitItsGemm) {
  // The decode plans' GEMMs have GEMV variants (m <= 8).
  for (size_t p = 0; p < file_["plans"].size(); ++p) {
    Json& steps = file_["plans"][p]["steps"];
    for (size_t i = 0; i < steps.size(); ++i) {
      if (!steps[i].contains("gemm") || steps[i]["gemm"]["gemv"].is_null()) continue;
      steps[i]["gemm"]["gemv"]["shape"]["k"] = steps[i]["gemm"]["k"].get<int64_t>() * 2;
      ExpectDataLoss(absl::StrCat("plans[", p, "].steps[", i, "].gemm.gemv: its k, dtype"));
      return;
    }
  }
  ADD_FAILURE() << "no plan has a GEMV";
}

TEST_F(MalformedTest, DamagedTextNeverCrashes) {
  // Truncations and byte changes: each read either succeeds (a harmless
  // change, such as a digit of a name) or fails as DataLoss.
  std::mt19937 rng(7);
  int failed = 0;
  for (int i = 0; i < 300; ++i) {
    std::string text = text_;
    if (i % 2 == 0) {
      text.resize(text.size() * i / 300);
    } else {
      for (int n = 0; n < 1 + i % 4; ++n) {
        text[rng() % text.size()] = "0123456789-\"{}[],:aez \xff"[rng() % 23];
      }
    }
    absl::StatusOr<PlannedEngine> read = LaunchPlansFromJson(text);
    if (!read.ok()) {
      ++failed;
      EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss) << read.status();
      EXPECT_EQ(read.status().message().rfind("launch_plans.json: ", 0), 0) << read.status();
    }
  }
  EXPECT_GT(failed, 150);
}

}  // namespace
}  // namespace kiln
