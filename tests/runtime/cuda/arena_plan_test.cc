// The device arena plan of compiled fixture engines: weights, KV caches and
// activations computed independently (from the checkpoint, the config and
// compile-model's own memory-plan report) must match the plan, and a plan
// that does not fit names every number.
#include "codegen/plan/arena_plan.h"

#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "models/checkpoint.h"
#include "models/registry.h"
#include "runtime/engine/engine.h"

namespace kiln {
namespace {

constexpr char kModel[] = "tests/fixtures/models/llama3/f32";

int64_t Align(int64_t n) { return (n + 255) / 256 * 256; }

std::string CompileLlama3(const std::string& name, int max_batch, std::string* log) {
  const std::string out = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  const std::string command = "tools/compile-model --model " + std::string(kModel) + " --out " +
                              out + " --max-seq 48 --buckets 8,16 --max-batch " +
                              std::to_string(max_batch) + " 2>" + out + ".log";
  EXPECT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(out + ".log");
  *log = std::string(std::istreambuf_iterator<char>(in), {});
  return out;
}

TEST(ArenaPlanTest, RegionsMatchIndependentCounts) {
  std::string log;
  const std::string dir = CompileLlama3("arena.engine", 3, &log);
  absl::StatusOr<Engine> engine = LoadEngine(dir, "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<DeviceArenaPlan> plan = PlanDeviceArena(engine->module);
  ASSERT_TRUE(plan.ok()) << plan.status();

  // Weights: every checkpoint tensor the model reads, f32, each aligned.
  absl::StatusOr<Checkpoint> checkpoint = Checkpoint::Open(kModel);
  ASSERT_TRUE(checkpoint.ok());
  int64_t weights = 0;
  for (const std::string& name : checkpoint->Names()) {
    weights += Align(checkpoint->Find(name)->NumElements() * 4);
  }
  EXPECT_EQ(plan->Find("weights")->bytes, weights);
  // KV: 2 layers x (K, V) x batch 3 x 48 slots x 2 KV heads x head_dim 16 x f32.
  EXPECT_EQ(plan->Find("kv_cache")->bytes, 2 * 2 * Align(3 * 48 * 2 * 16 * 4));
  // Activations: the largest peak compile-model reported for any bucket.
  std::regex peak("peak ([0-9]+) bytes");
  int64_t largest = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), peak); it != std::sregex_iterator();
       ++it) {
    largest = std::max<int64_t>(largest, std::stoll((*it)[1]));
  }
  ASSERT_GT(largest, 0) << log;
  EXPECT_EQ(plan->Find("activations")->bytes, Align(largest));
  // step_inputs: input_ids + positions of the batch-3, 16-token bucket, i32.
  EXPECT_EQ(plan->Find("step_inputs")->bytes, 2 * Align(3 * 16 * 4));

  int64_t end = 0;
  for (const ArenaRegion& r : plan->regions) {
    EXPECT_EQ(r.offset, end) << r.name;
    EXPECT_EQ(r.offset % 256, 0) << r.name;
    end = r.offset + r.bytes;
  }
  EXPECT_EQ(plan->total_bytes, end);
}

TEST(ArenaPlanTest, TooSmallDeviceNamesEveryNumber) {
  std::string log;
  absl::StatusOr<Engine> engine = LoadEngine(CompileLlama3("small.engine", 1, &log), "cpu");
  ASSERT_TRUE(engine.ok()) << engine.status();
  absl::StatusOr<DeviceArenaPlan> plan = PlanDeviceArena(engine->module);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(CheckArenaFits(*plan, plan->total_bytes, "GPU 0").ok());
  absl::Status status = CheckArenaFits(*plan, plan->total_bytes - 1, "GPU 0 (NVIDIA H100)");
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  const std::string message(status.message());
  for (const char* part : {"of device memory (weights ", "kv_cache ", "activations ",
                           "but GPU 0 (NVIDIA H100) has ",
                           "--max-seq or --max-batch, or --dtype bf16"}) {
    EXPECT_NE(message.find(part), std::string::npos) << part << " not in " << message;
  }
}

TEST(ArenaPlanTest, UnplannedOrSymbolicModulesAreRefused) {
  absl::StatusOr<BuiltModel> model = BuildModelFromDir(kModel, BuildOptions{});
  ASSERT_TRUE(model.ok());
  absl::StatusOr<DeviceArenaPlan> plan = PlanDeviceArena(model->module);
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(std::string(plan.status().message()).find("has no static size: specialise the module"),
            std::string::npos)
      << plan.status();
}

}  // namespace
}  // namespace kiln
