// Ordering a launch plan's steps and placing its scratch buffers
// (launch_plan_internal.h), and the plan's listings (launch_plan.h).
#include <climits>
#include <map>
#include <queue>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/free_list.h"
#include "codegen/plan/launch_plan.h"
#include "codegen/plan/launch_plan_internal.h"

namespace kiln {
namespace launch_internal {
namespace {

// Scratch values and caches are named by what they hold; weights, inputs
// and tables are never written by a step.
bool Tracked(const DeviceBuffer& b) {
  return b.space == ArenaSpace::kScratch || b.space == ArenaSpace::kCaches;
}

}  // namespace

std::vector<Operand> StepOperands(LaunchStep& step) {
  struct Visitor {
    std::vector<Operand> operator()(RowKernelStep& s) {
      std::vector<Operand> out;
      for (size_t i = 0; i < s.buffers.size(); ++i) {
        out.push_back({&s.buffers[i], s.desc.buffers[i].output});
      }
      return out;
    }
    std::vector<Operand> operator()(GemmStep& s) {
      std::vector<Operand> out = {{&s.x, false}, {&s.w, false}, {&s.out, true}};
      if (s.bias.bytes > 0) out.push_back({&s.bias, false});
      return out;
    }
    std::vector<Operand> operator()(RopeKvWriteStep& s) {
      return {{&s.q, false},       {&s.k, false},    {&s.v, false},      {&s.pos, false},
              {&s.cos_sin, false}, {&s.q_out, true}, {&s.k_cache, true}, {&s.v_cache, true}};
    }
    std::vector<Operand> operator()(GatherRowsStep& s) {
      return {{&s.table, false}, {&s.ids, false}, {&s.out, true}, {&s.fault, true}};
    }
    std::vector<Operand> operator()(AttentionStep& s) {
      std::vector<Operand> out = {
          {&s.q, false}, {&s.k_cache, false}, {&s.v_cache, false}, {&s.pos, false}, {&s.out, true}};
      if (s.acc.bytes > 0) {
        out.push_back({&s.acc, true});
        out.push_back({&s.ml, true});
      }
      return out;
    }
  };
  return std::visit(Visitor{}, step.op);
}

absl::StatusOr<std::vector<LaunchStep>> OrderSteps(std::vector<PendingStep> pending) {
  const int n = static_cast<int>(pending.size());
  auto before = [&](int a, int b) {
    return std::pair(pending[a].anchor, a) < std::pair(pending[b].anchor, b);
  };
  std::map<std::string, std::vector<int>> writers;
  for (int i = 0; i < n; ++i) {
    for (const Operand& o : StepOperands(pending[i].step)) {
      if (o.written && Tracked(*o.buffer)) writers[o.buffer->value].push_back(i);
    }
  }
  // An edge from every earlier writer of anything a step touches.
  std::vector<std::set<int>> next(n);
  std::vector<int> waiting(n, 0);
  for (int i = 0; i < n; ++i) {
    for (const Operand& o : StepOperands(pending[i].step)) {
      if (!Tracked(*o.buffer)) continue;
      for (int w : writers[o.buffer->value]) {
        if (w != i && before(w, i) && next[w].insert(i).second) ++waiting[i];
      }
    }
  }
  auto later = [&](int a, int b) { return before(b, a); };
  std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
  for (int i = 0; i < n; ++i) {
    if (waiting[i] == 0) ready.push(i);
  }
  std::vector<LaunchStep> ordered;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    ordered.push_back(std::move(pending[i].step));
    for (int j : next[i]) {
      if (--waiting[j] == 0) ready.push(j);
    }
  }
  if (static_cast<int>(ordered.size()) != n) {
    return absl::InternalError("the launch plan's steps depend on each other in a cycle");
  }
  return ordered;
}

absl::Status PlaceScratch(LaunchPlan& plan) {
  struct Life {
    int first = INT_MAX, last = -1;
    int64_t bytes = 0;
    bool first_is_write = false;
  };
  std::map<std::string, Life> lives;
  const int n = static_cast<int>(plan.steps.size());
  for (int s = 0; s < n; ++s) {
    for (const Operand& o : StepOperands(plan.steps[s])) {
      if (o.buffer->space != ArenaSpace::kScratch) continue;
      Life& life = lives[o.buffer->value];
      if (s < life.first) life.first_is_write = o.written;
      life.first = std::min(life.first, s);
      life.last = std::max(life.last, s);
      life.bytes = std::max(life.bytes, o.buffer->bytes);
    }
  }
  for (const std::string& pinned :
       {plan.logits.value, std::string("next_tokens"), std::string("fault")}) {
    lives[pinned].last = INT_MAX;
  }
  lives["fault"].bytes = 4;
  std::map<std::string, int64_t> offsets;
  FreeList arena;
  offsets["fault"] = arena.Allocate(AlignUp(4));
  std::multimap<int, std::string> expiring;
  for (int s = 0; s < n; ++s) {
    while (!expiring.empty() && expiring.begin()->first < s) {
      const std::string& dead = expiring.begin()->second;
      arena.Release(offsets[dead], AlignUp(lives[dead].bytes));
      expiring.erase(expiring.begin());
    }
    for (const Operand& o : StepOperands(plan.steps[s])) {
      const std::string& name = o.buffer->value;
      if (o.buffer->space != ArenaSpace::kScratch || offsets.contains(name)) continue;
      const Life& life = lives[name];
      if (!life.first_is_write) {
        return absl::InternalError(absl::StrCat("@", plan.function, ": step ", plan.steps[s].label,
                                                " reads %", name, " before any step writes it"));
      }
      offsets[name] = arena.Allocate(AlignUp(life.bytes));
      expiring.emplace(life.last, name);
    }
  }
  for (LaunchStep& step : plan.steps) {
    for (const Operand& o : StepOperands(step)) {
      if (o.buffer->space == ArenaSpace::kScratch) o.buffer->offset = offsets.at(o.buffer->value);
    }
  }
  if (!offsets.contains(plan.logits.value) || !offsets.contains("next_tokens")) {
    return absl::InternalError("@" + plan.function + ": no step writes the logits");
  }
  plan.logits.offset = offsets[plan.logits.value];
  plan.next_tokens = {ArenaSpace::kScratch, offsets["next_tokens"], lives["next_tokens"].bytes,
                      DType::kI32, "next_tokens"};
  plan.fault = {ArenaSpace::kScratch, offsets["fault"], 4, DType::kI32, "fault"};
  plan.scratch_bytes = arena.peak();
  return absl::OkStatus();
}

}  // namespace launch_internal

namespace {

std::string SpaceName(ArenaSpace space) {
  switch (space) {
    case ArenaSpace::kWeights:
      return "weights";
    case ArenaSpace::kCaches:
      return "caches";
    case ArenaSpace::kInputs:
      return "inputs";
    case ArenaSpace::kTables:
      return "tables";
    case ArenaSpace::kScratch:
      return "scratch";
  }
  return "?";
}

}  // namespace

std::string DumpLaunchPlan(const LaunchPlan& plan) {
  std::string out =
      absl::StrCat("@", plan.function, " (batch ", plan.batch, ", seq ", plan.seq,
                   "): ", plan.steps.size(), " steps, scratch ", plan.scratch_bytes, " bytes\n");
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    LaunchStep step = plan.steps[i];
    struct Kind {
      std::string operator()(const RowKernelStep& s) {
        return absl::StrCat("kernel ", s.desc.name, " rows=", s.rows);
      }
      std::string operator()(const GemmStep& s) {
        return absl::StrCat("gemm m=", s.m, " n=", s.n, " k=", s.k, " ",
                            std::string(DTypeName(s.dtype)));
      }
      std::string operator()(const RopeKvWriteStep& s) {
        return absl::StrCat("rope_kv_write ", codegen::attention::KernelName(s.variant));
      }
      std::string operator()(const GatherRowsStep& s) {
        return absl::StrCat("gather_rows rows=", s.rows, " ", std::string(DTypeName(s.table.dtype)));
      }
      std::string operator()(const AttentionStep& s) {
        return absl::StrCat("attention ", codegen::attention::KernelName(s.variant),
                            " splits=", s.splits, " window=", s.window);
      }
    };
    absl::StrAppend(&out, "  ", i, " ", std::visit(Kind{}, step.op), " [", step.label, "]");
    for (const launch_internal::Operand& o : launch_internal::StepOperands(step)) {
      absl::StrAppend(&out, o.written ? " >" : " <", o.buffer->value, "@",
                      SpaceName(o.buffer->space), "+", o.buffer->offset, ":", o.buffer->bytes);
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace kiln
