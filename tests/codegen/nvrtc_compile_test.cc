// Every kernel of every fixture model and of the odd-size suites compiles
// under NVRTC for sm_80 (A100) and sm_90 (H100), cubin and PTX, with zero
// spill stores and loads; the compile cache returns the same cubin without
// recompiling; no driver library is loaded.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/model_kernels.h"
#include "codegen/nvrtc_compile.h"
#include "codegen/render.h"
#include "gtest/gtest.h"

namespace kiln::codegen {
namespace {

const std::string kFixtures = "tests/fixtures/models";

std::string CacheDir(const std::string& leaf) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return std::string(tmp ? tmp : "/tmp") + "/" + leaf;
}

bool DriverLibraryMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("/libcuda.so") != std::string::npos) return true;
  }
  return false;
}

std::vector<KernelSuite> AllSuites(const GpuTarget& info) {
  std::vector<KernelSuite> suites;
  for (const FixtureModel& m : FixtureModels()) {
    absl::StatusOr<KernelSuite> s = ModelKernels(m.name, kFixtures + "/" + m.subdir, m.dtype, info);
    EXPECT_TRUE(s.ok()) << m.name << ": " << s.status();
    if (s.ok()) suites.push_back(*std::move(s));
  }
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    absl::StatusOr<KernelSuite> s = OddSizeKernels(dtype, info);
    EXPECT_TRUE(s.ok()) << s.status();
    if (s.ok()) suites.push_back(*std::move(s));
  }
  return suites;
}

TEST(NvrtcCompileTest, EveryKernelCompilesForSm80AndSm90WithoutSpills) {
  for (const GpuTarget& info : {A100Target(), H100Target()}) {
    const std::string cache = CacheDir("kernels_" + info.sm_arch());
    int compiled = 0, max_registers = 0;
    int64_t max_smem = 0;
    std::string max_kernel;
    std::map<std::string, bool> sources;  // identical kernels across fixtures: one compile
    for (const KernelSuite& suite : AllSuites(info)) {
      for (const KernelDesc& k : suite.kernels) {
        absl::StatusOr<std::string> body = RenderCuda(k);
        ASSERT_TRUE(body.ok()) << body.status();
        const std::string source = CudaPrelude() + *body;
        absl::StatusOr<CompiledKernel> c = CompileKernel(source, k.name, info, cache);
        ASSERT_TRUE(c.ok()) << suite.name << "/" << k.name << ": " << c.status();
        EXPECT_EQ(c->report.arch, info.sm_arch());
        EXPECT_FALSE(c->report.spills())
            << suite.name << "/" << k.name << " spills on " << info.sm_arch() << ":\n" << c->log;
        EXPECT_EQ(c->report.stack_bytes, 0) << suite.name << "/" << k.name;
        EXPECT_EQ(c->report.shared_bytes, k.shared_bytes()) << suite.name << "/" << k.name;
        EXPECT_GT(c->cubin.size(), 0u);
        EXPECT_NE(c->ptx.find(".target " + info.sm_arch()), std::string::npos)
            << "PTX is for " << info.compute_arch() << ", which PTX spells " << info.sm_arch();
        EXPECT_EQ(c->from_cache, sources.count(source) > 0) << suite.name << "/" << k.name;
        sources[source] = true;
        if (c->report.registers > max_registers) {
          max_registers = c->report.registers;
          max_kernel = suite.name + "/" + k.name;
        }
        max_smem = std::max(max_smem, c->report.shared_bytes);
        ++compiled;
      }
    }
    std::printf("%s: %d kernels (%zu distinct sources) compiled, 0 spills, at most %d registers "
                "(%s), at most %lld bytes static shared memory\n",
                info.sm_arch().c_str(), compiled, sources.size(), max_registers,
                max_kernel.c_str(), static_cast<long long>(max_smem));
    EXPECT_GT(compiled, 150);
  }
  EXPECT_FALSE(DriverLibraryMapped());
}

TEST(NvrtcCompileTest, CacheHitReturnsTheSameCubinAndADamagedEntryIsRebuilt) {
  absl::StatusOr<KernelSuite> suite = OddSizeKernels(DType::kBF16, H100Target());
  ASSERT_TRUE(suite.ok()) << suite.status();
  const KernelDesc& k = suite->kernels[2];
  const std::string source = CudaPrelude() + *RenderCuda(k);
  const std::string cache = CacheDir("cache_test");
  absl::StatusOr<CompiledKernel> first = CompileKernel(source, k.name, H100Target(), cache);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->from_cache);
  absl::StatusOr<CompiledKernel> second = CompileKernel(source, k.name, H100Target(), cache);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->from_cache);
  EXPECT_EQ(second->cubin, first->cubin);
  EXPECT_EQ(second->report.registers, first->report.registers);
  // Another architecture is another key.
  absl::StatusOr<CompiledKernel> a100 = CompileKernel(source, k.name, A100Target(), cache);
  ASSERT_TRUE(a100.ok()) << a100.status();
  EXPECT_FALSE(a100->from_cache);
  // Truncate every cached log: the entry no longer parses and is rebuilt.
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    if (e.path().extension() == ".log") std::ofstream(e.path(), std::ios::trunc);
  }
  absl::StatusOr<CompiledKernel> third = CompileKernel(source, k.name, H100Target(), cache);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(third->from_cache);
}

TEST(NvrtcCompileTest, BadSourceIsAnErrorWithTheCompilerLog) {
  absl::StatusOr<CompiledKernel> c =
      CompileKernel("extern \"C\" __global__ void k() { undeclared(); }", "k", A100Target(), "");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(std::string(c.status().message()).find("undeclared"), std::string::npos) << c.status();
}

TEST(NvrtcCompileTest, PtxasLogParsing) {
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'other' for 'sm_90'\n"
      "ptxas info    : Used 99 registers\n"
      "ptxas info    : Compiling entry function 'k_x' for 'sm_90'\n"
      "ptxas info    : Function properties for k_x\n"
      "ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads\n"
      "ptxas info    : Used 40 registers, used 1 barriers, 256 bytes smem, 372 bytes cmem[0]\n";
  absl::StatusOr<KernelReport> r = ParsePtxasLog(log, "k_x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->arch, "sm_90");
  EXPECT_EQ(r->registers, 40);
  EXPECT_EQ(r->shared_bytes, 256);
  EXPECT_EQ(r->stack_bytes, 16);
  EXPECT_EQ(r->spill_stores, 8);
  EXPECT_EQ(r->spill_loads, 4);
  EXPECT_TRUE(r->spills());
  EXPECT_FALSE(ParsePtxasLog(log, "missing").ok());
  EXPECT_FALSE(ParsePtxasLog("", "k_x").ok());
}

}  // namespace
}  // namespace kiln::codegen
