// The GPU probe's CPU-side pieces: architecture choice, NVRTC compiles for
// sm_80/sm_90 with ptxas's report, include-dir resolution, and the CPU
// reference the device results are checked against. No GPU needed.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "base/half.h"
#include "tools/gpu/nvrtc_compile.h"
#include "tools/gpu/probe_kernels.h"

namespace kiln::gpu {
namespace {

namespace fs = std::filesystem;

TEST(ArchForComputeCapabilityTest, NamesTheNativeCubinArch) {
  EXPECT_EQ(ArchForComputeCapability(9, 0), "sm_90");   // H100, H200
  EXPECT_EQ(ArchForComputeCapability(8, 0), "sm_80");   // A100
  EXPECT_EQ(ArchForComputeCapability(8, 9), "sm_89");   // L4, L40S
  EXPECT_EQ(ArchForComputeCapability(10, 0), "sm_100");  // B200
  EXPECT_EQ(ArchForComputeCapability(12, 0), "sm_120");
}

TEST(ParsePtxasReportTest, ReadsRegistersStackAndSpills) {
  const std::string log =
      "ptxas info    : 0 bytes gmem\n"
      "ptxas info    : Compiling entry function 'k' for 'sm_90'\n"
      "ptxas info    : Function properties for k\n"
      "ptxas         .     16 bytes stack frame, 24 bytes spill stores, 20 bytes spill loads\n"
      "ptxas info    : Used 255 registers, used 1 barriers, 364 bytes cmem[0]\n";
  const PtxasReport report = ParsePtxasReport(log);
  EXPECT_EQ(report.registers, 255);
  EXPECT_EQ(report.stack_frame_bytes, 16);
  EXPECT_EQ(report.spill_store_bytes, 24);
  EXPECT_EQ(report.spill_load_bytes, 20);
}

TEST(ParsePtxasReportTest, MissingFieldsAreMinusOne) {
  const PtxasReport report = ParsePtxasReport("");
  EXPECT_EQ(report.registers, -1);
  EXPECT_EQ(report.stack_frame_bytes, -1);
  EXPECT_EQ(report.spill_store_bytes, -1);
  EXPECT_EQ(report.spill_load_bytes, -1);
}

class CompileAxpyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CompileAxpyTest, CompilesToAnElfCubinWithoutSpills) {
  absl::StatusOr<CompiledCubin> compiled =
      CompileToCubin(kAxpyBf16Source, "axpy.cu", GetParam(), {});
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  ASSERT_GE(compiled->cubin.size(), 4u);
  EXPECT_EQ(std::string(compiled->cubin.data(), 4), "\x7f" "ELF");
  EXPECT_NE(compiled->log.find(GetParam()), std::string::npos) << compiled->log;
  EXPECT_GT(compiled->ptxas.registers, 0) << compiled->log;
  EXPECT_EQ(compiled->ptxas.spill_store_bytes, 0) << compiled->log;
  EXPECT_EQ(compiled->ptxas.spill_load_bytes, 0) << compiled->log;
}

INSTANTIATE_TEST_SUITE_P(HopperAndAmpere, CompileAxpyTest, ::testing::Values("sm_80", "sm_90"));

TEST(CompileToCubinTest, ACompileErrorCarriesNvrtcsLog) {
  absl::StatusOr<CompiledCubin> compiled = CompileToCubin(
      "extern \"C\" __global__ void broken() { undeclared_name = 1; }", "broken.cu", "sm_90", {});
  ASSERT_FALSE(compiled.ok());
  EXPECT_EQ(compiled.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(compiled.status().message().find("undeclared_name"), absl::string_view::npos)
      << compiled.status();
}

TEST(CompileToCubinTest, HeaderCheckCompilesWithTheResolvedIncludeDir) {
  absl::StatusOr<std::string> include_dir =
      ResolveCudaIncludeDir(std::getenv("KILN_CUDA_PATH"), "/usr/local/cuda", ExecutableDir());
  ASSERT_TRUE(include_dir.ok()) << include_dir.status();
  absl::StatusOr<CompiledCubin> compiled =
      CompileToCubin(kHeaderCheckSource, "header_check.cu", "sm_90", {"-I" + *include_dir});
  EXPECT_TRUE(compiled.ok()) << compiled.status();
}

// Builds directories with or without a cuda_bf16.h under TEST_TMPDIR.
class ResolveCudaIncludeDirTest : public ::testing::Test {
 protected:
  std::string Root(const std::string& name, bool with_header) {
    const fs::path dir = fs::path(::testing::TempDir()) / name;
    fs::create_directories(dir / "include");
    fs::create_directories(dir / "cuda_include");
    if (with_header) {
      std::ofstream(dir / "include" / "cuda_bf16.h") << "// stand-in\n";
      std::ofstream(dir / "cuda_include" / "cuda_bf16.h") << "// stand-in\n";
    }
    return dir.string();
  }
};

TEST_F(ResolveCudaIncludeDirTest, EnvironmentOverrideWins) {
  const std::string env = Root("env_with", true);
  const std::string fallback = Root("default_with", true);
  EXPECT_EQ(ResolveCudaIncludeDir(env.c_str(), fallback, fallback).value(), env + "/include");
}

TEST_F(ResolveCudaIncludeDirTest, ABrokenOverrideIsAnErrorNotAFallback) {
  const std::string env = Root("env_without", false);
  const std::string fallback = Root("default_with2", true);
  absl::StatusOr<std::string> dir = ResolveCudaIncludeDir(env.c_str(), fallback, fallback);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(dir.status().message().find(env + "/include"), absl::string_view::npos);
}

TEST_F(ResolveCudaIncludeDirTest, DefaultThenTheBundlesOwnHeaders) {
  const std::string toolkit = Root("toolkit", true);
  const std::string bare = Root("bare", false);
  const std::string bundle = Root("bundle", true);
  EXPECT_EQ(ResolveCudaIncludeDir(nullptr, toolkit, bundle).value(), toolkit + "/include");
  EXPECT_EQ(ResolveCudaIncludeDir("", bare, bundle).value(), bundle + "/cuda_include");
  absl::StatusOr<std::string> none = ResolveCudaIncludeDir(nullptr, bare, bare);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find(bare + "/cuda_include"), absl::string_view::npos);
}

uint16_t Bf16(float value) { return FloatToBF16(value); }

TEST(AxpyBf16ReferenceTest, OneFusedMultiplyAddThenRoundToNearestEven) {
  const std::vector<uint16_t> x = {Bf16(1.0f), Bf16(1.0f), Bf16(1.0f), Bf16(3.0f)};
  // 1 + 2^-8 lies halfway between bf16 1 and 1 + 2^-7: ties go to the even
  // mantissa (1). 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 and 1 + 2^-6:
  // ties go to 1 + 2^-6.
  const std::vector<uint16_t> y = {Bf16(0.0f), Bf16(0x1p-8f), Bf16(0x3p-8f), Bf16(-4.0f)};
  const std::vector<uint16_t> out = AxpyBf16Reference(1.0f, x, y);
  EXPECT_EQ(out[0], Bf16(1.0f));
  EXPECT_EQ(out[1], Bf16(1.0f));
  EXPECT_EQ(out[2], Bf16(1.0f + 0x1p-6f));
  EXPECT_EQ(out[3], Bf16(-1.0f));
  EXPECT_EQ(AxpyBf16Reference(1.3125f, {Bf16(2.0f)}, {Bf16(0.0f)})[0], Bf16(2.625f));
}

TEST(SameBf16Test, AnyTwoNaNsAreTheSameValueButSignedZerosAreNot) {
  EXPECT_TRUE(SameBf16(0x7fc0, 0xffc1));  // NaN payloads and signs differ
  EXPECT_FALSE(SameBf16(0x0000, 0x8000));  // +0 and -0 have different bits
  EXPECT_FALSE(SameBf16(0x7f80, 0x7fc0));  // inf is not NaN
  EXPECT_EQ(CountBf16Mismatches({1, 2, 0x7fc0}, {1, 3, 0x7fff}), 1);
}

TEST(RandomBf16Test, SeedsAreDeterministicAndBitsCoverSpecialValues) {
  EXPECT_EQ(RandomBf16Bits(1000, 7), RandomBf16Bits(1000, 7));
  EXPECT_NE(RandomBf16Bits(1000, 7), RandomBf16Bits(1000, 8));
  int nans = 0;
  for (uint16_t bits : RandomBf16Bits(1 << 16, 1)) nans += std::isnan(BF16ToFloat(bits)) ? 1 : 0;
  EXPECT_GT(nans, 0);
  for (uint16_t bits : RandomBf16Uniform(1000, -1, 1, 3)) {
    EXPECT_LE(std::abs(BF16ToFloat(bits)), 1.0f);
  }
}

}  // namespace
}  // namespace kiln::gpu
