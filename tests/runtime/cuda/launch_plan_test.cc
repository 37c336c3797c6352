// The CUDA launch plan, executed on the CPU by the kernels' twins
// (runtime/cuda/plan_host_executor.h), against the reference executor.
//
// Models: tests/fixtures/plan_models (each fixture family resized to
// head_dim 64, which the attention kernels take), random weights, f32 and
// bf16. Row kernels run as their generated host C++ (the genrule's
// GeneratedHostKernels), the code CI otherwise only tests kernel by kernel. Buckets: a batch-2
// prefill and decode and a batch-1 prefill and decode that share the
// batch-2 caches' leading row, as an engine's buckets do. Each scenario runs
// prefill, decode steps fed by the reference's greedy tokens, then a batch-1
// chunked prefill and decode continuing row 0; logits are compared at every
// step (TESTING.md: f32 kernels vs reference 1e-5; bf16 tiny model 0.12).
#include <cmath>
#include <climits>
#include <cstdint>
#include <fstream>
#include <map>
#include <type_traits>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "codegen/host_runtime.h"
#include "models/config_reader.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "runtime/cuda/launch_plan.h"
#include "runtime/cuda/plan_host_executor.h"
#include "runtime/reference/executor.h"
#include "tests/runtime/cuda/plan_models.h"

namespace kiln {
namespace {

constexpr int64_t kCache = 64;

// The generated host renderings of the model's kernels, by name, and the IR
// each implements.
void HostRenderings(const std::string& suite, std::map<std::string, HostKernelFn>& fns,
                    std::map<std::string, std::string>& irs) {
  for (const codegen::host::HostKernel& k : codegen::host::GeneratedHostKernels()) {
    if (suite != k.suite) continue;
    fns[k.name] = k.fn;
    irs[k.name] = k.ir;
  }
}

// The reference executor's side of a scenario: it carries the caches.
class ReferenceRun {
 public:
  ReferenceRun(const ReferenceExecutor& ex, const Function& wide) : ex_(ex) {
    for (ValueId id : wide.params) {
      const Node& p = wide.node(id);
      if (p.name.find("cache") == std::string::npos) continue;
      std::vector<int64_t> shape;
      for (const Dim& d : p.type.shape) shape.push_back(d.size);
      caches_.push_back(HostTensor::Zeros(p.type.dtype, shape));
    }
  }

  // Runs `function` (batch `batch`) on the leading `batch` rows of the caches.
  std::vector<float> Run(const std::string& function, int64_t batch, int64_t seq,
                         const std::vector<int32_t>& ids, const std::vector<int32_t>& pos) {
    std::vector<HostTensor> inputs;
    inputs.push_back(HostTensor::FromInts(DType::kI32, {batch, seq}, {ids.begin(), ids.end()}));
    inputs.push_back(HostTensor::FromInts(DType::kI32, {batch, seq}, {pos.begin(), pos.end()}));
    for (const HostTensor& c : caches_) {
      std::vector<int64_t> shape = c.shape;
      const int64_t row = c.numel() / shape[0];
      shape[0] = batch;
      inputs.push_back(HostTensor::FromFloats(
          c.dtype, shape, {c.floats.begin(), c.floats.begin() + batch * row}));
    }
    absl::StatusOr<std::vector<HostTensor>> out = ex_.Run(function, std::move(inputs));
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return {};
    for (size_t i = 0; i < caches_.size(); ++i) {
      const std::vector<float>& updated = (*out)[i + 1].floats;
      std::copy(updated.begin(), updated.end(), caches_[i].floats.begin());
    }
    return (*out)[0].floats;
  }

 private:
  const ReferenceExecutor& ex_;
  std::vector<HostTensor> caches_;
};

// Greedy token of each row's last position.
std::vector<int32_t> LastArgmax(const std::vector<float>& logits, int64_t batch, int64_t seq,
                                int64_t vocab) {
  std::vector<int32_t> out;
  for (int64_t b = 0; b < batch; ++b) {
    const float* row = logits.data() + ((b * seq) + seq - 1) * vocab;
    out.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
  }
  return out;
}

// Checks the plan's memory contract independently of how it was placed:
// every scratch value is written before it is read, and two values whose
// lifetimes (first write to last touch; the logits, next tokens and fault
// flag to the end) overlap in steps never overlap in bytes. A step that
// writes a value it also reads (the in-place RoPE q) is one value.
void ExpectScratchContract(const LaunchPlan& plan) {
  struct Life {
    size_t first = SIZE_MAX, last = 0;
    int64_t offset = 0, bytes = 0;
  };
  std::map<std::string, Life> lives;
  const auto touch = [&](const DeviceBuffer& b, size_t s, bool written) {
    if (b.space != ArenaSpace::kScratch) return;
    Life& life = lives[b.value];
    if (life.first == SIZE_MAX) {
      EXPECT_TRUE(written || b.value == "fault") << plan.function << ": %" << b.value << " read first";
      life.first = s;
    }
    life.last = s;
    life.offset = b.offset;
    life.bytes = std::max(life.bytes, b.bytes);
    EXPECT_LE(b.offset + b.bytes, plan.scratch_bytes) << b.value;
  };
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    LaunchStep step = plan.steps[s];
    std::visit(
        [&](auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, RowKernelStep>) {
            for (size_t i = 0; i < op.buffers.size(); ++i) {
              touch(op.buffers[i], s, op.desc.buffers[i].output);
            }
          } else if constexpr (std::is_same_v<T, GemmStep>) {
            touch(op.x, s, false);
            touch(op.out, s, true);
          } else if constexpr (std::is_same_v<T, RopeKvWriteStep>) {
            for (const DeviceBuffer* b : {&op.q, &op.k, &op.v}) touch(*b, s, false);
            touch(op.q_out, s, true);
          } else {
            touch(op.q, s, false);
            for (const DeviceBuffer* b : {&op.out, &op.acc, &op.ml}) touch(*b, s, true);
          }
        },
        step.op);
  }
  for (const char* pinned : {"next_tokens", "fault"}) lives[pinned].last = SIZE_MAX;
  lives[plan.logits.value].last = SIZE_MAX;
  for (auto a = lives.begin(); a != lives.end(); ++a) {
    for (auto b = std::next(a); b != lives.end(); ++b) {
      const bool alive_together = a->second.first <= b->second.last && b->second.first <= a->second.last;
      const bool bytes_overlap = a->second.offset < b->second.offset + b->second.bytes &&
                                 b->second.offset < a->second.offset + a->second.bytes;
      EXPECT_FALSE(alive_together && bytes_overlap)
          << plan.function << ": %" << a->first << " and %" << b->first << " share bytes while both live";
    }
  }
}

struct Case {
  std::string family;
  DType dtype;
};

class LaunchPlanTest : public ::testing::TestWithParam<Case> {};

TEST_P(LaunchPlanTest, HostExecutionMatchesReference) {
  const Case& c = GetParam();
  absl::StatusOr<ConfigReader> config = ConfigReader::Parse(testing::PlanModelConfig(c.family));
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<BuiltModel> model = BuildModel(*config, BuildOptions{c.dtype});
  ASSERT_TRUE(model.ok()) << model.status();
  Module& module = model->module;
  ASSERT_TRUE(CompileBuckets(module, kForwardFunction,
                             {{"prefill_b2_s8", 2, 8},
                              {"decode_b2", 2, 1},
                              {"prefill_b1_s16", 1, 16},
                              {"decode_b1", 1, 1}},
                             kCache)
                  .ok());
  const WeightMap weights = testing::RandomWeights(module, 17);
  absl::StatusOr<StaticLayout> layout = LayOutStaticSpaces(module);
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<LaunchPlan> plans;
  for (const Function& f : module.functions) {
    absl::StatusOr<LaunchPlan> plan = BuildLaunchPlan(module, f.name, *layout, codegen::A100Info());
    ASSERT_TRUE(plan.ok()) << plan.status();
    ExpectScratchContract(*plan);
    plans.push_back(*std::move(plan));
  }
  std::map<std::string, HostKernelFn> fns;
  std::map<std::string, std::string> irs;
  HostRenderings(absl::StrCat("plan_", c.family, "_", std::string(DTypeName(c.dtype))), fns, irs);
  ASSERT_FALSE(fns.empty()) << "no generated host kernels for " << c.family;
  absl::StatusOr<std::unique_ptr<HostPlanExecutor>> host =
      HostPlanExecutor::Create(module, weights, *layout, plans, fns, irs);
  ASSERT_TRUE(host.ok()) << host.status();
  absl::StatusOr<ReferenceExecutor> ref = ReferenceExecutor::Create(module, weights);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ReferenceRun reference(*ref, *module.FindFunction("prefill_b2_s8"));

  const int64_t vocab = plans[0].vocab;
  const double tolerance = c.dtype == DType::kF32 ? 1e-5 : 0.12;
  double worst = 0;
  auto step = [&](const std::string& fn, int64_t batch, int64_t seq, std::vector<int32_t> ids,
                  std::vector<int32_t> pos) {
    absl::StatusOr<HostPlanOutput> got = (*host)->Run(fn, ids, pos);
    EXPECT_TRUE(got.ok()) << fn << ": " << got.status();
    std::vector<float> want = reference.Run(fn, batch, seq, ids, pos);
    if (!got.ok() || want.size() != got->logits.size()) {
      ADD_FAILURE() << fn << ": no logits to compare";
      return std::vector<int32_t>(batch, 0);
    }
    double diff = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(want[i] - got->logits[i])));
    }
    worst = std::max(worst, diff);
    EXPECT_LE(diff, tolerance) << fn << " at position " << pos[0];
    // Every row kernel ran as generated host C++, none fell back.
    EXPECT_EQ((*host)->reference_steps(), 0) << fn;
    EXPECT_GT((*host)->host_rendered_steps(), 0) << fn;
    // The plan's argmax kernel agrees with its own logits.
    for (int64_t r = 0; r < batch * seq; ++r) {
      const float* row = got->logits.data() + r * vocab;
      EXPECT_EQ(got->next_tokens[r], std::max_element(row, row + vocab) - row) << fn;
    }
    return LastArgmax(want, batch, seq, vocab);
  };

  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(3, static_cast<int32_t>(vocab) - 1);
  std::vector<int32_t> ids(16), pos(16);
  for (int i = 0; i < 16; ++i) {
    ids[i] = token(rng);
    pos[i] = i % 8;
  }
  std::vector<int32_t> next = step("prefill_b2_s8", 2, 8, ids, pos);
  for (int32_t p = 8; p < 12; ++p) next = step("decode_b2", 2, 1, next, {p, p});
  // Row 0 continues alone: a 16-token chunk at 12..27, then decode.
  std::vector<int32_t> chunk(16), chunk_pos(16);
  for (int i = 0; i < 16; ++i) {
    chunk[i] = token(rng);
    chunk_pos[i] = 12 + i;
  }
  next = step("prefill_b1_s16", 1, 16, chunk, chunk_pos);
  for (int32_t p = 28; p < 31; ++p) next = step("decode_b1", 1, 1, next, {p});
  std::printf("%s %s: max |plan - reference| over all logits %.3g\n", c.family.c_str(),
              std::string(DTypeName(c.dtype)).c_str(), worst);
}

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (DType dtype : {DType::kF32, DType::kBF16}) out.push_back({family, dtype});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Families, LaunchPlanTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.family + "_" +
                                  std::string(DTypeName(info.param.dtype));
                         });

}  // namespace
}  // namespace kiln
