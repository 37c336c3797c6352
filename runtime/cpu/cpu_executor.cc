#include "runtime/cpu/cpu_executor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/byte_units.h"
#include "base/half.h"
#include "base/quant_blocks.h"
#include "base/status_macros.h"
#include "base/zeroed_pages.h"
#include "runtime/cpu/attention_cpu.h"
#include "runtime/cpu/cpu_steps.h"
#include "runtime/cpu/plan_checks.h"
#include "runtime/cpu/quant_gemm.h"
#include "runtime/cpu/row_program.h"
#include "runtime/cpu/thread_pool.h"
#include "runtime/session/host_loop.h"

namespace kiln::cpu {
namespace {

using steps::AttentionRun;
using steps::Context;
using steps::GatherRun;
using steps::GemmRun;
using steps::RopeRun;
using steps::RowRun;
using steps::StepRun;


struct PreparedPlan {
  const LaunchPlan* plan = nullptr;
  std::vector<StepRun> steps;
  std::vector<bool> barrier_after;  // false between GEMMs sharing activations
  int64_t capacity = 0;  // the caches' positions (0: no attention)
  // The plan's own buffers (plan_checks.h CheckPlanIo placed them).
  int32_t *input_ids = nullptr, *positions = nullptr, *fault = nullptr, *next_tokens = nullptr;
  const void* logits = nullptr;
};

}  // namespace

struct CpuExecutor::State {
  WeightStore store;                                  // the engine's mapped weights, or
  std::map<std::string, std::vector<uint8_t>> owned;  // weights encoded from floats
  std::map<std::string, WeightView, std::less<>> weights;
  StaticLayout layout;
  std::vector<LaunchPlan> plans;
  std::map<std::string, PreparedPlan, std::less<>> prepared;
  std::vector<std::unique_ptr<RowProgram>> programs;
  std::map<std::string, std::vector<float>> tables;  // by table buffer value
  std::unique_ptr<ThreadPool> pool;
  // Zero until touched: a request faults in only the pages it uses.
  ZeroedPages caches, inputs, scratch, thread_scratch, shared;
  Context context;
  std::set<std::string> weight_dtypes;
  CpuMemory memory;  // what Start allocated

  // Whether some plan multiplies f32 weights by at least kOnednnMinRows rows.
  bool HasLibrarySizedF32Gemm() const {
    for (const auto& [function, plan] : prepared) {
      for (const StepRun& step : plan.steps) {
        const auto* g = std::get_if<GemmRun>(&step);
        if (g != nullptr && g->w_dtype == DType::kF32 && g->m >= steps::kOnednnMinRows) return true;
      }
    }
    return false;
  }

  // The weight dtypes of the products that run through f32 panels
  // (GemmRun::Panel), as "q6_k/q8_0"; empty when none do.
  std::string PanelDtypes() const {
    std::set<std::string> names;
    for (const auto& [function, plan] : prepared) {
      Context c = context;
      c.seq = plan.plan->seq;
      for (const StepRun& step : plan.steps) {
        const auto* g = std::get_if<GemmRun>(&step);
        if (g != nullptr && g->Panel(c, g->ColumnRows())) {
          names.insert(std::string(DTypeName(g->w_dtype)));
        }
      }
    }
    return absl::StrJoin(names, "/");
  }

  absl::StatusOr<void*> Address(const DeviceBuffer& b);
  absl::StatusOr<StepRun> Prepare(const LaunchPlan& plan, const LaunchStep& step,
                                  int64_t& capacity);
};

absl::StatusOr<void*> CpuExecutor::State::Address(const DeviceBuffer& b) {
  auto in_space = [&](const ZeroedPages& space) -> absl::StatusOr<void*> {
    if (b.offset < 0 || b.bytes < 0 || b.offset + b.bytes > space.bytes()) {
      return absl::DataLossError(absl::StrCat("buffer ", b.value, " lies outside its arena space"));
    }
    return space.data() + b.offset;
  };
  switch (b.space) {
    case ArenaSpace::kWeights: {
      auto found = weights.find(b.value);
      const WeightView* view = found == weights.end() ? nullptr : &found->second;
      if (view == nullptr || static_cast<int64_t>(view->bytes.size()) < b.bytes ||
          view->dtype != b.dtype) {
        return absl::DataLossError(absl::StrCat("the plans read weight ", b.value, " as ",
                                                std::string(DTypeName(b.dtype)),
                                                ", which the weights file does not hold"));
      }
      return const_cast<uint8_t*>(view->bytes.data());
    }
    case ArenaSpace::kCaches:
      return in_space(caches);
    case ArenaSpace::kInputs:
      return in_space(inputs);
    case ArenaSpace::kScratch:
      return in_space(scratch);
    case ArenaSpace::kTables: {
      auto it = tables.find(b.value);
      if (it == tables.end()) return absl::DataLossError("no RoPE table " + b.value);
      if (b.bytes < 0 || b.bytes > static_cast<int64_t>(it->second.size() * sizeof(float))) {
        return absl::DataLossError("buffer " + b.value + " is larger than its RoPE table");
      }
      return it->second.data();
    }
  }
  return absl::InternalError("unknown arena space");
}

// Whether `step` writes `place`.
bool Writes(const LaunchStep& step, const DeviceBuffer& place) {
  if (const auto* g = std::get_if<GemmStep>(&step.op)) return SamePlace(g->out, place);
  if (const auto* r = std::get_if<RowKernelStep>(&step.op)) {
    for (size_t i = 0; i < r->buffers.size(); ++i) {
      if (r->desc.buffers[i].output && SamePlace(r->buffers[i], place)) return true;
    }
  }
  return false;
}

// Consecutive GEMMs of one f32 x (same place, shape) into the same block
// type share its quantized activations (GemmRun::reuses_activations); the
// barrier between them is dropped. The LM head never joins a group (it may
// run on one row alone).
bool Disjoint(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  const auto* pa = static_cast<const uint8_t*>(a);
  const auto* pb = static_cast<const uint8_t*>(b);
  return pa + a_bytes <= pb || pb + b_bytes <= pa;
}

std::vector<bool> ShareActivations(std::vector<StepRun>& steps) {
  std::vector<bool> barrier_after(steps.size(), true);
  size_t first = 0;  // the group's leader
  for (size_t i = 1; i < steps.size(); ++i) {
    auto* prev = std::get_if<GemmRun>(&steps[i - 1]);
    auto* next = std::get_if<GemmRun>(&steps[i]);
    if (prev == nullptr || !prev->reuses_activations) first = i - 1;
    if (prev == nullptr || next == nullptr || prev->logits || next->logits) continue;
    // Every member of a group without barriers writes its own bytes, none
    // of them the shared x's.
    const int64_t out_bytes = next->m * next->n * 4;
    bool disjoint = Disjoint(next->out, out_bytes, next->x, next->m * next->k * 4);
    for (size_t j = first; j < i && disjoint; ++j) {
      const auto& member = std::get<GemmRun>(steps[j]);
      disjoint = Disjoint(member.out, member.m * member.n * 4, next->out, out_bytes);
    }
    if (prev->dtype == DType::kF32 && next->dtype == DType::kF32 &&
        IsBlockQuantized(prev->w_dtype) && next->w_dtype == prev->w_dtype &&
        next->x == prev->x && next->m == prev->m && next->k == prev->k && disjoint) {
      next->reuses_activations = true;
      barrier_after[i - 1] = false;
    }
  }
  return barrier_after;
}

// Marks the step that computes the plan's logits (the last one writing
// them: scratch places are reused, so an earlier step may have written
// there too) when it is the LM head's GEMM, and the one computing the greedy
// tokens, so a run asking for one row restricts those two to it.
void MarkLastRowSteps(const LaunchPlan& plan, std::vector<StepRun>& steps) {
  auto last_writer = [&](const DeviceBuffer& place) -> StepRun* {
    for (size_t i = plan.steps.size(); i-- > 0;) {
      if (Writes(plan.steps[i], place)) return &steps[i];
    }
    return nullptr;
  };
  // Only a step of exactly the logits' shape is cut to one row (otherwise it
  // runs whole, as planned: correct, just not faster).
  const int64_t tokens = plan.batch * plan.seq;
  if (StepRun* s = last_writer(plan.logits); s != nullptr) {
    if (auto* g = std::get_if<GemmRun>(s);
        g != nullptr && g->m == tokens && g->n == plan.vocab && g->dtype == plan.logits.dtype) {
      g->logits = true;
    }
  }
  if (StepRun* s = last_writer(plan.next_tokens); s != nullptr) {
    if (auto* r = std::get_if<RowRun>(s); r != nullptr && r->rows == tokens) r->argmax = true;
  }
}

absl::StatusOr<StepRun> CpuExecutor::State::Prepare(const LaunchPlan& plan, const LaunchStep& step,
                                                    int64_t& capacity) {
  if (const auto* s = std::get_if<RowKernelStep>(&step.op)) {
    KILN_ASSIGN_OR_RETURN(RowProgram program, RowProgram::Create(s->desc));
    programs.push_back(std::make_unique<RowProgram>(std::move(program)));
    RowRun run{programs.back().get(), {}, s->rows};
    for (const DeviceBuffer& b : s->buffers) {
      KILN_ASSIGN_OR_RETURN(run.buffers.emplace_back(), Address(b));
    }
    return run;
  }
  if (const auto* g = std::get_if<GemmStep>(&step.op)) {
    if (!WeightDTypeSupported(g->w.dtype)) {
      return absl::UnimplementedError(absl::StrCat("step ", step.label, ": no CPU kernel reads ",
                                                   std::string(DTypeName(g->w.dtype)),
                                                   " weights"));
    }
    GemmRun run{g->dtype, g->w.dtype, g->m, g->n, g->k};
    KILN_ASSIGN_OR_RETURN(void* x, Address(g->x));
    KILN_ASSIGN_OR_RETURN(void* w, Address(g->w));
    KILN_ASSIGN_OR_RETURN(run.out, Address(g->out));
    run.x = x;
    run.w = static_cast<const uint8_t*>(w);
    if (g->bias.bytes > 0) {
      KILN_ASSIGN_OR_RETURN(void* bias, Address(g->bias));
      run.bias = bias;
    }
    weight_dtypes.insert(std::string(DTypeName(g->w.dtype)));
    return run;
  }
  if (const auto* r = std::get_if<RopeKvWriteStep>(&step.op)) {
    const auto& shape = r->variant.shape;
    RopeRun run{{r->batch, r->seq, shape.heads, shape.kv_heads, shape.head_dim, r->capacity},
                shape.dtype,
                r->k_cache.dtype};
    KILN_ASSIGN_OR_RETURN(void* q, Address(r->q));
    KILN_ASSIGN_OR_RETURN(void* k, Address(r->k));
    KILN_ASSIGN_OR_RETURN(void* v, Address(r->v));
    KILN_ASSIGN_OR_RETURN(void* pos, Address(r->pos));
    KILN_ASSIGN_OR_RETURN(void* table, Address(r->cos_sin));
    KILN_ASSIGN_OR_RETURN(run.q_out, Address(r->q_out));
    KILN_ASSIGN_OR_RETURN(run.k_cache, Address(r->k_cache));
    KILN_ASSIGN_OR_RETURN(run.v_cache, Address(r->v_cache));
    run.q = q;
    run.k = k;
    run.v = v;
    run.pos = static_cast<const int32_t*>(pos);
    run.cos_sin = static_cast<const float*>(table);
    capacity = capacity == 0 ? r->capacity : std::min(capacity, r->capacity);
    return run;
  }
  if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
    const auto& shape = a->variant.shape;
    AttentionRun run;
    run.dims = {a->batch, a->seq, shape.heads, shape.kv_heads, shape.head_dim, a->capacity};
    run.plan = PlanAttention(run.dims);
    run.dtype = shape.dtype;
    run.cache_dtype = a->k_cache.dtype;
    run.scale = a->scale;
    run.window = a->window;
    KILN_ASSIGN_OR_RETURN(void* q, Address(a->q));
    KILN_ASSIGN_OR_RETURN(void* k, Address(a->k_cache));
    KILN_ASSIGN_OR_RETURN(void* v, Address(a->v_cache));
    KILN_ASSIGN_OR_RETURN(void* pos, Address(a->pos));
    KILN_ASSIGN_OR_RETURN(run.out, Address(a->out));
    run.q = q;
    run.k_cache = k;
    run.v_cache = v;
    run.pos = static_cast<const int32_t*>(pos);
    capacity = capacity == 0 ? a->capacity : std::min(capacity, a->capacity);
    return run;
  }
  const auto& g = std::get<GatherRowsStep>(step.op);
  GatherRun run;
  run.table_dtype = g.table.dtype;
  run.row_bytes = StorageBytes(g.table.dtype, g.cols).value_or(0);  // CheckStep: whole blocks
  run.rows = g.rows;
  run.cols = g.cols;
  run.table_rows = g.table_rows;
  run.index_offset = g.index_offset;
  KILN_ASSIGN_OR_RETURN(void* table, Address(g.table));
  KILN_ASSIGN_OR_RETURN(void* ids, Address(g.ids));
  KILN_ASSIGN_OR_RETURN(void* out, Address(g.out));
  KILN_ASSIGN_OR_RETURN(void* fault, Address(g.fault));
  run.table = static_cast<const uint8_t*>(table);
  run.ids = static_cast<const int32_t*>(ids);
  run.out = static_cast<float*>(out);
  run.fault = static_cast<int32_t*>(fault);
  return run;
}

CpuExecutor::CpuExecutor(std::unique_ptr<State> state) : state_(std::move(state)) {}

const CpuMemory& CpuExecutor::memory() const { return state_->memory; }
CpuExecutor::~CpuExecutor() = default;

absl::StatusOr<std::unique_ptr<CpuExecutor>> CpuExecutor::Create(const Module&,
                                                                 const WeightStore& weights,
                                                                 StaticLayout layout,
                                                                 std::vector<LaunchPlan> plans,
                                                                 CpuExecutorOptions options) {
  auto state = std::make_unique<State>();
  state->store = weights;
  for (const auto& [name, view] : weights.views()) state->weights.emplace(name, view);
  return Start(std::move(state), std::move(layout), std::move(plans), options);
}

absl::StatusOr<std::unique_ptr<CpuExecutor>> CpuExecutor::Create(const Module&,
                                                                 const WeightMap& weights,
                                                                 StaticLayout layout,
                                                                 std::vector<LaunchPlan> plans,
                                                                 CpuExecutorOptions options) {
  auto state = std::make_unique<State>();
  for (const auto& [name, tensor] : weights) {
    if (!IsFloat(tensor.dtype)) {
      return absl::InvalidArgumentError("weight " + name + " is not a float tensor");
    }
    std::vector<uint8_t>& bytes = state->owned[name] = EncodeFloats(tensor.floats, tensor.dtype);
    state->weights.emplace(name, WeightView{tensor.dtype, tensor.shape, bytes});
  }
  return Start(std::move(state), std::move(layout), std::move(plans), options);
}

absl::StatusOr<std::unique_ptr<CpuExecutor>> CpuExecutor::Start(std::unique_ptr<State> state,
                                                                StaticLayout layout,
                                                                std::vector<LaunchPlan> plans,
                                                                CpuExecutorOptions options) {
  State& s = *state;
  s.layout = std::move(layout);
  s.plans = std::move(plans);
  const int threads = options.threads > 0 ? options.threads : DefaultCpuThreads();
  s.pool = std::make_unique<ThreadPool>(threads);
  s.context.pool = s.pool.get();
  s.context.simd = options.simd ? std::min(*options.simd, DetectSimdLevel()) : ChooseSimdLevel();
  s.context.attention_isa = std::min(static_cast<AttentionIsa>(s.context.simd), BestAttentionIsa());
  s.caches = ZeroedPages(s.layout.caches_bytes);
  s.inputs = ZeroedPages(s.layout.inputs_bytes);
  int64_t scratch_bytes = 0;
  for (const LaunchPlan& p : s.plans) scratch_bytes = std::max(scratch_bytes, p.scratch_bytes);
  s.scratch = ZeroedPages(scratch_bytes);
  if (s.caches.data() == nullptr || s.inputs.data() == nullptr || s.scratch.data() == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map the CPU executor's KV caches and activations (",
                     HumanBytes(s.layout.caches_bytes + s.layout.inputs_bytes + scratch_bytes),
                     "): recompile the engine with a lower --max-seq or --max-batch (kiln-memory "
                     "says what fits)"));
  }
  for (const RopeTable& t : s.layout.tables) {
    if (!s.tables.emplace(t.buffer.value, RopeTableValues(t)).second) {
      return absl::DataLossError("kernel.launch_plans.json: two RoPE tables named " +
                                 t.buffer.value + ": recompile with compile-model");
    }
  }
  for (const LaunchPlan& p : s.plans) {
    PreparedPlan& prepared = s.prepared[p.function];
    prepared.plan = &p;
    KILN_RETURN_IF_ERROR(CheckPlanIo(p));
    KILN_ASSIGN_OR_RETURN(void* ids, s.Address(p.input_ids));
    KILN_ASSIGN_OR_RETURN(void* positions, s.Address(p.positions));
    KILN_ASSIGN_OR_RETURN(void* fault, s.Address(p.fault));
    KILN_ASSIGN_OR_RETURN(void* next, s.Address(p.next_tokens));
    KILN_ASSIGN_OR_RETURN(prepared.logits, s.Address(p.logits));
    prepared.input_ids = static_cast<int32_t*>(ids);
    prepared.positions = static_cast<int32_t*>(positions);
    prepared.fault = static_cast<int32_t*>(fault);
    prepared.next_tokens = static_cast<int32_t*>(next);
    for (const LaunchStep& step : p.steps) {
      KILN_RETURN_IF_ERROR(CheckStep(p, s.layout, step));
      absl::StatusOr<StepRun> run = s.Prepare(p, step, prepared.capacity);
      if (!run.ok()) {
        return absl::Status(run.status().code(), absl::StrCat("@", p.function, " step ", step.label,
                                                              ": ", run.status().message()));
      }
      prepared.steps.push_back(*std::move(run));
    }
    MarkLastRowSteps(p, prepared.steps);
    prepared.barrier_after = ShareActivations(prepared.steps);
  }
  // oneDNN is opened only for an engine with an f32-weight product it would take.
  const char* panels_env = std::getenv("KILN_CPU_PANELS");
  s.context.panels =
      options.panels && !(panels_env != nullptr && std::strcmp(panels_env, "0") == 0);
  if (options.onednn && s.context.simd != SimdLevel::kScalar && s.HasLibrarySizedF32Gemm()) {
    s.context.onednn = OnednnSgemm::Get();
  }
  // The kernels' workspace, sized once every step is known to be sound.
  // (The caches, inputs and activation arena above are sized by the layout
  // and plans before the steps are checked: CheckStep then proves every
  // step stays inside them.)
  KILN_ASSIGN_OR_RETURN(s.memory, PlanCpuMemory(s.layout, s.plans, threads));
  int64_t table_bytes = 0;
  for (const auto& [name, values] : s.tables) {
    table_bytes += static_cast<int64_t>(values.size() * sizeof(float));
  }
  if (s.memory.caches != s.caches.bytes() || s.memory.step_inputs != s.inputs.bytes() ||
      s.memory.scratch != s.scratch.bytes() || s.memory.rope_tables != table_bytes) {
    return absl::InternalError("the CPU executor's allocations differ from PlanCpuMemory's");
  }
  s.context.thread_scratch_bytes = s.memory.thread_scratch_each;
  s.thread_scratch = ZeroedPages(s.memory.thread_scratch);
  s.shared = ZeroedPages(s.memory.shared);
  if (s.thread_scratch.data() == nullptr || s.shared.data() == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot map the CPU executor's kernel workspace (",
                     HumanBytes(s.memory.thread_scratch + s.memory.shared), ")"));
  }
  s.context.thread_scratch = s.thread_scratch.data();
  s.context.shared = s.shared.data();
  return std::unique_ptr<CpuExecutor>(new CpuExecutor(std::move(state)));
}

absl::StatusOr<PlanOutput> CpuExecutor::DoRun(const std::string& function,
                                              std::span<const int32_t> input_ids,
                                              std::span<const int32_t> positions,
                                              bool copy_logits, int64_t only_row) {
  State& s = *state_;
  auto it = s.prepared.find(function);
  if (it == s.prepared.end()) return absl::NotFoundError("the engine has no function @" + function);
  const PreparedPlan& prepared = it->second;
  const LaunchPlan& plan = *prepared.plan;
  const size_t tokens = static_cast<size_t>(plan.batch * plan.seq);
  if (input_ids.size() != tokens || positions.size() != tokens) {
    return absl::InvalidArgumentError(absl::StrCat("@", function, " takes ", tokens,
                                                   " ids and positions, not ", input_ids.size(),
                                                   " and ", positions.size()));
  }
  for (int32_t p : positions) {
    if (p < 0 || (prepared.capacity > 0 && p >= prepared.capacity)) {
      return absl::OutOfRangeError(absl::StrCat("position ", p, " is outside the KV cache [0, ",
                                                prepared.capacity, ")"));
    }
  }
  std::memcpy(prepared.input_ids, input_ids.data(), tokens * 4);
  std::memcpy(prepared.positions, positions.data(), tokens * 4);
  int32_t* fault = prepared.fault;
  *fault = 0;
  Context c = s.context;
  c.only_row = only_row;
  c.seq = plan.seq;
  s.pool->Run([&](int t, int threads) {
    for (size_t i = 0; i < prepared.steps.size(); ++i) {
      std::visit([&](const auto& run) { run.Run(t, threads, c); }, prepared.steps[i]);
      if (prepared.barrier_after[i]) s.pool->Barrier(t);
    }
  });
  if (*fault != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("@", function, ": a token id is outside the model's vocabulary"));
  }
  PlanOutput out;
  const int64_t width = *StorageBytes(plan.logits.dtype, 1);
  const auto* logits = static_cast<const uint8_t*>(prepared.logits);
  for (int64_t r : SelectedRows(only_row, static_cast<int64_t>(tokens), plan.seq)) {
    out.next_tokens.push_back(prepared.next_tokens[r]);
    if (!copy_logits) continue;
    std::vector<float> row =
        DecodeFloats(std::span<const uint8_t>(logits + r * plan.vocab * width,
                                              static_cast<size_t>(plan.vocab * width)),
                     plan.logits.dtype);
    out.logits.insert(out.logits.end(), row.begin(), row.end());
  }
  return out;
}

absl::StatusOr<int32_t> CpuExecutor::SampleRow(const std::string& function, int64_t,
                                               const codegen::sampling::SampleParams&) {
  return absl::UnimplementedError(absl::StrCat(
      "@", function, ": the CPU executor samples on the host from the logits Run copies"));
}

absl::StatusOr<codegen::loop::LoopResult> CpuExecutor::RunLoop(
    const codegen::loop::LoopPlan& plan, std::span<const SessionBucket> prefill,
    std::span<const int32_t> history, int64_t cached, const codegen::loop::LoopTokens& on_tokens,
    const codegen::loop::LoopSampler& sample) {
  return RunHostLoop(*this, plan, prefill, history, cached, on_tokens, sample);
}

absl::Status CpuExecutor::ResetCaches() {
  state_->caches.Zero();
  return absl::OkStatus();
}

std::string CpuExecutor::Describe() const {
  const State& s = *state_;
  const std::string panels = s.PanelDtypes();
  return absl::StrCat(
      "CPU executor: ", s.pool->size(), " threads, ", std::string(SimdLevelName(s.context.simd)),
      " GEMMs on ", absl::StrJoin(s.weight_dtypes, "/"), " weights, ",
      AttentionIsaName(s.context.attention_isa), " attention",
      s.context.onednn != nullptr ? absl::StrCat(", ", s.context.onednn->name(), " f32 GEMMs from ",
                                                 steps::kOnednnMinRows, " rows")
                                  : "",
      panels.empty() ? ""
                     : absl::StrCat(", f32 panels for ", panels, " in steps of ",
                                    steps::kPanelMinSequenceTokens, "+ tokens a sequence"));
}

}  // namespace kiln::cpu
