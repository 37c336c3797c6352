// The emulated device behind the CUDA executor's seam: capture records
// and replay runs (with the argument values of capture time), copies are
// checked against device memory, and what it cannot run is refused with a
// message naming it.
#include <cstring>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/emulator/emulated_device.h"

namespace kiln::emulator {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<gpu::DeviceApi> Device() {
  absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> device = MakeEmulatedDevice({.arch = "sm_90"});
  EXPECT_TRUE(device.ok()) << device.status();
  return device.ok() ? *std::move(device) : nullptr;
}

TEST(EmulatedDeviceTest, DescribesItselfAsEmulated) {
  auto device = Device();
  absl::StatusOr<gpu::DeviceDescription> d = device->Open(0);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->emulated);
  EXPECT_EQ(d->major * 10 + d->minor, 90);
  EXPECT_THAT(d->name, HasSubstr("emulated, not a GPU"));
  EXPECT_FALSE(device->Open(1).ok());
}

TEST(EmulatedDeviceTest, AnUnknownArchitectureIsRefused) {
  absl::StatusOr<std::unique_ptr<gpu::DeviceApi>> device = MakeEmulatedDevice({.arch = "sm_75"});
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(device.status().message(), HasSubstr("not sm_75"));
}

TEST(EmulatedDeviceTest, AKernelWithoutSourceIsRefusedByName) {
  auto device = Device();
  BundledKernel k;
  k.function = "k_old";
  absl::StatusOr<gpu::KernelId> id = device->LoadKernel(k, "sm_90");
  ASSERT_FALSE(id.ok());
  EXPECT_THAT(id.status().message(), HasSubstr("no CUDA source for kernel k_old"));
}

TEST(EmulatedDeviceTest, CaptureRecordsLaunchesWithTheirValuesAndReplayRunsThem) {
  auto device = Device();
  BundledKernel k;
  k.function = "k_fill";
  k.source = "extern \"C\" __global__ void k_fill(int* out, int value) { out[threadIdx.x] = value; }";
  k.source_sha256 = "fill";
  absl::StatusOr<gpu::KernelId> kernel = device->LoadKernel(k, "sm_90");
  ASSERT_TRUE(kernel.ok()) << kernel.status();
  absl::StatusOr<void*> out = device->Malloc(4 * 8);
  ASSERT_TRUE(out.ok());
  ASSERT_TRUE(device->Memset(*out, 0, 32).ok());
  absl::StatusOr<gpu::StreamId> stream = device->CreateStream();
  ASSERT_TRUE(stream.ok());
  void* pointer = *out;
  int value = 7;
  ASSERT_TRUE(device->BeginCapture(*stream).ok());
  ASSERT_TRUE(device->Launch(*kernel, {1, 1, 1}, {8, 1, 1}, 0, {&pointer, &value}, *stream).ok());
  value = 9;  // after capture: the recorded launch keeps 7
  // What CUDA's thread-local capture mode would invalidate is refused.
  EXPECT_THAT(device->Synchronize(*stream).message(), HasSubstr("captures a graph"));
  EXPECT_THAT(device->Memset(*out, 0, 4).message(), HasSubstr("a synchronous memset while"));
  absl::StatusOr<gpu::GraphId> graph = device->EndCapture(*stream);
  ASSERT_TRUE(graph.ok()) << graph.status();
  int host[8];
  ASSERT_TRUE(device->CopyToHostAsync(host, *out, sizeof(host), *stream).ok());
  EXPECT_EQ(host[0], 0) << "a captured launch must not run at capture";
  ASSERT_TRUE(device->LaunchGraph(*graph, *stream).ok());
  ASSERT_TRUE(device->CopyToHostAsync(host, *out, sizeof(host), *stream).ok());
  for (int v : host) EXPECT_EQ(v, 7);
  // Eager: runs at once with today's value.
  ASSERT_TRUE(device->Launch(*kernel, {1, 1, 1}, {8, 1, 1}, 0, {&pointer, &value}, *stream).ok());
  ASSERT_TRUE(device->CopyToHostAsync(host, *out, sizeof(host), *stream).ok());
  EXPECT_EQ(host[3], 9);
  // Wrong argument count, too much shared memory, copies outside memory.
  EXPECT_THAT(device->Launch(*kernel, {1, 1, 1}, {8, 1, 1}, 0, {&pointer}, *stream).message(),
              HasSubstr("it takes 2 parameters, 1 were given"));
  EXPECT_THAT(device->SetMaxDynamicShared(*kernel, 300 * 1024).message(), HasSubstr("sm_90 allows"));
  int not_device[4];
  EXPECT_FALSE(device->CopyToDevice(not_device, host, 16).ok());
  EXPECT_FALSE(device->CopyToDevice(static_cast<char*>(*out) + 16, host, 32).ok());
  device->Free(*out);
}

}  // namespace
}  // namespace kiln::emulator
