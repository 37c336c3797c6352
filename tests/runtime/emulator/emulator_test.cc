// The emulator on small kernels written for the test: indices, barriers and
// the basic collectives hold, and every fault the emulator promises to
// report is reported, with the kernel, block, thread and line named
// (emulator_collectives_test.cc: the collectives against CUDA's
// definitions, the race checker's bookkeeping, deadlocks and the module
// cache).
#include <sys/resource.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/emulator/device_memory.h"
#include "runtime/emulator/kernel_module.h"
#include "runtime/emulator/launch.h"
#include "tests/runtime/emulator/emulator_test_util.h"

namespace kiln::emulator {
namespace {

using ::testing::HasSubstr;
using testing::Buffer;
using testing::Compile;
using testing::RunKernel;

TEST(EmulatorTest, NamesTheGlobalFunctions) {
  EXPECT_EQ(GlobalFunctionNames("extern \"C\" __global__ void __launch_bounds__(32, 2)\n"
                                "k_a(int* x) {}\nextern \"C\" __global__ void k_b (int) {}"),
            (std::vector<std::string>{"k_a", "k_b"}));
}

constexpr char kIndices[] = R"(
extern "C" __global__ void k_indices(int* out) {
  const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const int b = blockIdx.x + gridDim.x * blockIdx.y;
  out[b * 24 + t] = b * 1000 + t;
}
)";

TEST(EmulatorTest, EveryThreadOfEveryBlockRunsWithItsIndices) {
  auto module = Compile(kIndices);
  ASSERT_NE(module, nullptr);
  Buffer out(6 * 24 * sizeof(int));
  int* p = out.as<int>();
  ASSERT_TRUE(RunKernel(*module, "k_indices", {3, 2, 1}, {4, 3, 2}, {&p}).ok());
  for (int b = 0; b < 6; ++b) {
    for (int t = 0; t < 24; ++t) EXPECT_EQ(out.as<int>()[b * 24 + t], b * 1000 + t);
  }
}

constexpr char kReduce[] = R"(
extern "C" __global__ void __launch_bounds__(64) k_reduce(const float* x, float* out, unsigned* ballots, int* any) {
  __shared__ float partial[2];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  float v = x[threadIdx.x];
  for (int o = 16; o > 0; o >>= 1) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0) out[0] = partial[0] + partial[1];
  out[1 + threadIdx.x] = __shfl_up_sync(0xffffffffu, x[threadIdx.x], 1);
  ballots[warp] = __ballot_sync(0xffffffffu, x[threadIdx.x] > 0.f);
  any[0] = __syncthreads_or(threadIdx.x == 37);
}
)";

TEST(EmulatorTest, WarpCollectivesAndBarriersFollowCuda) {
  auto module = Compile(kReduce);
  ASSERT_NE(module, nullptr);
  Buffer x(64 * 4), out(65 * 4), ballots(8), any(4);
  float expected = 0;
  for (int i = 0; i < 64; ++i) {
    x.as<float>()[i] = (i % 3 == 0 ? -1.f : 1.f) * static_cast<float>(i);
    expected += x.as<float>()[i];
  }
  float* xp = x.as<float>();
  float* op = out.as<float>();
  unsigned* bp = ballots.as<unsigned>();
  int* ap = any.as<int>();
  for (const Schedule& schedule : StandardSchedules(7)) {
    ASSERT_TRUE(RunKernel(*module, "k_reduce", {1, 1, 1}, {64, 1, 1}, {&xp, &op, &bp, &ap}, 0, schedule).ok())
        << schedule.Name();
    EXPECT_EQ(out.as<float>()[0], expected);
    for (int i = 0; i < 64; ++i) {
      const int source = i % 32 == 0 ? i : i - 1;  // shfl_up keeps lane 0's own value
      EXPECT_EQ(out.as<float>()[1 + i], x.as<float>()[source]) << i;
    }
    for (int w = 0; w < 2; ++w) {
      unsigned want = 0;
      for (int l = 0; l < 32; ++l) want |= (x.as<float>()[w * 32 + l] > 0.f ? 1u : 0u) << l;
      EXPECT_EQ(ballots.as<unsigned>()[w], want);
    }
    EXPECT_EQ(any.as<int>()[0], 1);
  }
}

constexpr char kMissingBarrier[] = R"(
extern "C" __global__ void k_racy(const float* x, float* out) {
  __shared__ float tile[64];
  tile[threadIdx.x] = x[threadIdx.x];
  // no __syncthreads() here
  out[threadIdx.x] = tile[63 - threadIdx.x];
}
)";

TEST(EmulatorTest, AMissingBarrierIsAnUninitializedReadNamingTheVariableAndLine) {
  auto module = Compile(kMissingBarrier);
  ASSERT_NE(module, nullptr);
  Buffer x(256), out(256);
  std::memset(x.get(), 0, 256);
  float* xp = x.as<float>();
  float* op = out.as<float>();
  const absl::Status status = RunKernel(*module, "k_racy", {1, 1, 1}, {64, 1, 1}, {&xp, &op});
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  // Thread 0 runs first and reads tile[63] before thread 63 wrote it.
  EXPECT_THAT(status.message(), HasSubstr("uninitialized shared read: kernel k_racy"));
  EXPECT_THAT(status.message(), HasSubstr("k_racy::tile"));
  EXPECT_THAT(status.message(), HasSubstr("kernel.cu:6"));
}

constexpr char kMissingSecondBarrier[] = R"(
extern "C" __global__ void k_racy2(const float* x, float* out) {
  __shared__ float tile[64];
  tile[threadIdx.x] = 0.f;
  __syncthreads();
  tile[threadIdx.x] = x[threadIdx.x];
  // no __syncthreads() here
  out[threadIdx.x] = tile[63 - threadIdx.x];
}
)";

TEST(EmulatorTest, AMissingBarrierIsARaceNamingBothThreadsAndLines) {
  auto module = Compile(kMissingSecondBarrier);
  ASSERT_NE(module, nullptr);
  Buffer x(256), out(256);
  std::memset(x.get(), 0, 256);
  float* xp = x.as<float>();
  float* op = out.as<float>();
  for (const Schedule& schedule : StandardSchedules(3)) {
    const absl::Status status =
        RunKernel(*module, "k_racy2", {1, 1, 1}, {64, 1, 1}, {&xp, &op}, 0, schedule);
    EXPECT_THAT(status.message(), HasSubstr("shared-memory race: kernel k_racy2, block (0,0,0)"))
        << schedule.Name();
    EXPECT_THAT(status.message(), HasSubstr("k_racy2::tile (kernel.cu:6"));
    EXPECT_THAT(status.message(), HasSubstr("(kernel.cu:8"));
  }
}

constexpr char kPartialShuffle[] = R"(
extern "C" __global__ void k_partial(float* out) {
  float v = threadIdx.x;
  if (threadIdx.x < 16) v += __shfl_xor_sync(0xffffffffu, v, 1);
  out[threadIdx.x] = v;
}
)";

TEST(EmulatorTest, AShuffleNotAllLanesReachIsDivergence) {
  auto module = Compile(kPartialShuffle);
  ASSERT_NE(module, nullptr);
  Buffer out(128);
  float* op = out.as<float>();
  const absl::Status status = RunKernel(*module, "k_partial", {1, 1, 1}, {32, 1, 1}, {&op});
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("divergence: kernel k_partial"));
  EXPECT_THAT(status.message(), HasSubstr("line 4"));
}

constexpr char kOffByOne[] = R"(
extern "C" __global__ void k_store(float* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i <= n) out[i] = 1.f;  // should be i < n
}
)";

TEST(EmulatorTest, AStorePastTheAllocationIsOutOfBounds) {
  auto module = Compile(kOffByOne);
  ASSERT_NE(module, nullptr);
  Buffer out(100 * sizeof(float));
  float* op = out.as<float>();
  int n = 100;
  const absl::Status status = RunKernel(*module, "k_store", {4, 1, 1}, {32, 1, 1}, {&op, &n});
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("out of bounds: kernel k_store, block (3,0,0), thread (4,0,0) writes 4 bytes"));
  EXPECT_THAT(status.message(), HasSubstr("kernel.cu:4"));
}

constexpr char kVectorLoad[] = R"(
extern "C" __global__ void k_vec(const float* x, float* out) {
  const float4 v = *reinterpret_cast<const float4*>(x);
  out[0] = v.x + v.w;
}
)";

TEST(EmulatorTest, AMisalignedVectorLoadIsReported) {
  auto module = Compile(kVectorLoad);
  ASSERT_NE(module, nullptr);
  Buffer x(64), out(64);
  std::memset(x.get(), 0, 64);
  float* aligned = x.as<float>();
  float* shifted = x.as<float>() + 1;
  float* op = out.as<float>();
  EXPECT_TRUE(RunKernel(*module, "k_vec", {1, 1, 1}, {1, 1, 1}, {&aligned, &op}).ok());
  const absl::Status status = RunKernel(*module, "k_vec", {1, 1, 1}, {1, 1, 1}, {&shifted, &op});
  EXPECT_THAT(status.message(), HasSubstr("misaligned: kernel k_vec"));
  EXPECT_THAT(status.message(), HasSubstr("16-byte aligned"));
}

TEST(EmulatorTest, ArgumentCountAndBlockSizeAreChecked) {
  auto module = Compile(kOffByOne);
  ASSERT_NE(module, nullptr);
  Buffer out(64);
  float* op = out.as<float>();
  EXPECT_THAT(RunKernel(*module, "k_store", {1, 1, 1}, {32, 1, 1}, {&op}).message(),
              HasSubstr("it takes 2 parameters, 1 were given"));
  int n = 1;
  EXPECT_THAT(RunKernel(*module, "k_store", {1, 1, 1}, {2048, 1, 1}, {&op, &n}).message(),
              HasSubstr("is not 1..1024 threads"));
  EXPECT_THAT(RunKernel(*module, "k_nope", {1, 1, 1}, {1, 1, 1}, {}).message(), HasSubstr("has no kernel k_nope"));
}

constexpr char kGlobalRace[] = R"(
extern "C" __global__ void k_last_writer(int* out) {
  out[0] = threadIdx.x;  // every thread, one address: the last one wins
}
)";

TEST(EmulatorTest, AGlobalMemoryRaceIsAScheduleDependentResult) {
  auto module = Compile(kGlobalRace);
  ASSERT_NE(module, nullptr);
  Buffer out(4);
  int* op = out.as<int>();
  absl::StatusOr<const EmulatedKernel*> kernel = module->Kernel("k_last_writer");
  ASSERT_TRUE(kernel.ok());
  LaunchConfig config;
  config.block = {32, 1, 1};
  EXPECT_TRUE(Launch(**kernel, config, {&op}).ok()) << "no checker sees a global race";
  config.compare_schedules = true;
  const absl::Status status = Launch(**kernel, config, {&op});
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_THAT(status.message(), HasSubstr("schedule-dependent result: kernel k_last_writer"));
  EXPECT_EQ(out.as<int>()[0], 31) << "the memory keeps the in-order result";
}

constexpr char kRaceFree[] = R"(
extern "C" __global__ void k_sum(const int* x, int* out) {
  __shared__ int total;
  if (threadIdx.x == 0) total = 0;
  __syncthreads();
  atomicAdd(&total, x[threadIdx.x]);
  __syncthreads();
  if (threadIdx.x == 0) out[blockIdx.x] = total;
}
)";

TEST(EmulatorTest, ARaceFreeKernelGivesTheSameBytesUnderEverySchedule) {
  auto module = Compile(kRaceFree);
  ASSERT_NE(module, nullptr);
  Buffer x(64 * 4), out(2 * 4);
  for (int i = 0; i < 64; ++i) x.as<int>()[i] = i;
  int* xp = x.as<int>();
  int* op = out.as<int>();
  absl::StatusOr<const EmulatedKernel*> kernel = module->Kernel("k_sum");
  ASSERT_TRUE(kernel.ok());
  LaunchConfig config;
  config.grid = {2, 1, 1};
  config.block = {64, 1, 1};
  config.compare_schedules = true;
  const absl::Status status = Launch(**kernel, config, {&xp, &op});
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(out.as<int>()[1], 64 * 63 / 2);
}

TEST(EmulatorTest, UnsupportedInlinePtxIsACompileErrorNamingIt) {
  absl::StatusOr<std::shared_ptr<KernelModule>> module = KernelModule::Compile(
      "extern \"C\" __global__ void k(int* p) { asm volatile(\"membar.gl;\"); }", "ptx test");
  ASSERT_FALSE(module.ok());
  EXPECT_THAT(module.status().message(), HasSubstr("cannot compile ptx test"));
  EXPECT_THAT(module.status().message(), HasSubstr("NO_RENDERING_OF_THIS_INLINE_PTX"));
}

}  // namespace
}  // namespace kiln::emulator
