// The CUDA target's compiled kernels: every kernel a launch plan names is
// in the bundle, compiles under NVRTC for sm_80 and sm_90 without spills,
// identical layers share one compiled function, the engine files read back
// unchanged, and compile-model --target writes an engine the sm_XX loader
// accepts (and the cpu loader refuses with a recompile hint).
#include "codegen/plan/kernel_bundle.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "codegen/engine_format.h"
#include "codegen/plan/build_launch_plan.h"
#include "codegen/plan/compile_kernels.h"
#include "codegen/plan/gemm_choices.h"
#include "codegen/plan/launch_plan.h"
#include "codegen/plan/launch_plan_json.h"
#include "gtest/gtest.h"
#include "models/config_reader.h"
#include "models/registry.h"
#include "passes/pipeline.h"
#include "runtime/cuda/cuda_engine.h"
#include "runtime/engine/engine.h"
#include "tests/runtime/cuda/plan_models.h"
#include "tests/runtime/cuda/plan_scenario.h"

namespace kiln {
namespace {

std::string TempDir() { return std::getenv("TEST_TMPDIR"); }

std::string Digest(const std::string& bytes) {
  return Sha256Hex({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

std::vector<LaunchPlan> Plans(const std::string& family, DType dtype,
                              const codegen::GpuTarget& info) {
  absl::StatusOr<ConfigReader> config = ConfigReader::Parse(testing::PlanModelConfig(family));
  EXPECT_TRUE(config.ok()) << config.status();
  absl::StatusOr<BuiltModel> model = BuildModel(*config, BuildOptions{dtype, std::nullopt});
  EXPECT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE(CompileBuckets(model->module, kForwardFunction,
                             {{"decode_b1", 1, 1}, {"prefill_b1_s16", 1, 16}}, 64)
                  .ok());
  absl::StatusOr<StaticLayout> layout = LayOutStaticSpaces(model->module);
  EXPECT_TRUE(layout.ok()) << layout.status();
  std::vector<LaunchPlan> plans;
  for (const Function& f : model->module.functions) {
    absl::StatusOr<LaunchPlan> plan = BuildLaunchPlan(model->module, f.name, *layout, info);
    EXPECT_TRUE(plan.ok()) << plan.status();
    if (plan.ok()) plans.push_back(*std::move(plan));
  }
  return plans;
}

struct Case {
  std::string family;
  DType dtype;
  bool h100;
};

class KernelBundleTest : public ::testing::TestWithParam<Case> {};

TEST_P(KernelBundleTest, EveryPlannedKernelCompilesWithoutSpills) {
  const Case& c = GetParam();
  const codegen::GpuTarget info = c.h100 ? codegen::H100Target() : codegen::A100Target();
  const std::vector<LaunchPlan> plans = Plans(c.family, c.dtype, info);
  ASSERT_EQ(plans.size(), 2u);
  absl::StatusOr<KernelBundle> bundle = CompileKernelBundle(plans, info, "");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->arch, info.sm_arch());
  for (const BundledKernel& k : bundle->kernels) {
    EXPECT_FALSE(k.compiled.report.spills()) << k.function << " spills on " << bundle->arch;
    EXPECT_GT(k.compiled.report.registers, 0) << k.function;
    EXPECT_FALSE(k.compiled.cubin.empty()) << k.function;
    EXPECT_NE(k.compiled.ptx.find(".entry " + k.function), std::string::npos) << k.function;
  }
  EXPECT_EQ(bundle->spill_bytes(), 0);

  // Every step's kernel is there; the layers' row kernels share functions.
  std::set<std::string> row_names;
  for (const LaunchPlan& plan : plans) {
    for (const LaunchStep& step : plan.steps) {
      if (const auto* row = std::get_if<RowKernelStep>(&step.op)) {
        row_names.insert(row->desc.name);
        ASSERT_TRUE(bundle->row_functions.contains(row->desc.name)) << row->desc.name;
        const std::string& function = bundle->row_functions.at(row->desc.name);
        ASSERT_NE(bundle->Find(function), nullptr) << function;
        // A shared function computes the same thing: equal structural keys.
        for (const LaunchStep& other : plan.steps) {
          const auto* o = std::get_if<RowKernelStep>(&other.op);
          if (o != nullptr && o->desc.name == function) {
            EXPECT_EQ(*RowKernelKey(row->desc), *RowKernelKey(o->desc)) << row->desc.name;
          }
        }
      }
      if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
        EXPECT_NE(bundle->Find(codegen::attention::KernelName(a->variant)), nullptr);
      }
    }
  }
  const size_t row_kernels =
      bundle->kernels.size() -
      static_cast<size_t>(std::count_if(bundle->kernels.begin(), bundle->kernels.end(),
                                        [](const BundledKernel& k) { return k.kind != "row"; }));
  EXPECT_LT(row_kernels, row_names.size()) << "two layers' kernels should share a function";

  // Engine files read back to the same bundle.
  absl::StatusOr<KernelBundle> back = ReadKernelBundle(KernelBundleFiles(*bundle));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->row_functions, bundle->row_functions);
  ASSERT_EQ(back->kernels.size(), bundle->kernels.size());
  for (size_t i = 0; i < back->kernels.size(); ++i) {
    EXPECT_EQ(back->kernels[i].compiled.cubin, bundle->kernels[i].compiled.cubin);
    EXPECT_EQ(back->kernels[i].compiled.report.registers,
              bundle->kernels[i].compiled.report.registers);
  }
}

INSTANTIATE_TEST_SUITE_P(Models, KernelBundleTest,
                         ::testing::Values(Case{"llama3", DType::kBF16, false},
                                           Case{"opt", DType::kF32, true},
                                           Case{"gemma", DType::kF16, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.family + "_" +
                                  std::string(DTypeName(info.param.dtype)) +
                                  (info.param.h100 ? "_sm90" : "_sm80");
                         });

// Every kernel of every tiny HF fixture's plans (head_dim 16 attention
// included) compiles for sm_80 and sm_90 without spills. bf16: f32 and f16
// change only the loads and stores, which the other tests compile.
class FixtureKernelBundleTest : public ::testing::TestWithParam<Case> {};

TEST_P(FixtureKernelBundleTest, EveryKernelCompilesWithoutSpills) {
  const Case& c = GetParam();
  const codegen::GpuTarget info = c.h100 ? codegen::H100Target() : codegen::A100Target();
  absl::StatusOr<testing::CompiledPlanModel> model = testing::CompileHfFixture(
      "tests/fixtures/models/" + c.family + "/" + std::string(DTypeName(c.dtype)), c.dtype, info);
  ASSERT_TRUE(model.ok()) << model.status();
  absl::StatusOr<KernelBundle> bundle = CompileKernelBundle(model->plans, info, "");
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  for (const BundledKernel& k : bundle->kernels) {
    EXPECT_FALSE(k.compiled.report.spills()) << k.function << " spills on " << bundle->arch;
  }
  EXPECT_EQ(bundle->spill_bytes(), 0);
  for (const LaunchPlan& plan : model->plans) {
    for (const LaunchStep& step : plan.steps) {
      if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
        EXPECT_NE(bundle->Find(codegen::attention::KernelName(a->variant)), nullptr);
        EXPECT_EQ(a->variant.shape.head_dim, 16);
      }
      if (const auto* row = std::get_if<RowKernelStep>(&step.op)) {
        EXPECT_TRUE(bundle->row_functions.contains(row->desc.name)) << row->desc.name;
      }
    }
  }
}

std::vector<Case> FixtureCases() {
  std::vector<Case> out;
  for (const char* family : {"llama3", "llama2", "mistral", "gemma", "opt", "opt350"}) {
    for (bool h100 : {false, true}) out.push_back({family, DType::kBF16, h100});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureKernelBundleTest, ::testing::ValuesIn(FixtureCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.family + (info.param.h100 ? "_sm90" : "_sm80");
                         });

TEST(KernelBundleFilesTest, MalformedIndexesAreDataLoss) {
  std::map<std::string, std::string> files;
  EXPECT_EQ(ReadKernelBundle(files).status().code(), absl::StatusCode::kDataLoss);
  files["kernels.json"] = "{\"arch\": \"sm_90\", \"abi_version\": 1}";
  EXPECT_EQ(ReadKernelBundle(files).status().code(), absl::StatusCode::kDataLoss);
  files["kernels.json"] = absl::StrCat(
      R"({"arch": "sm_90", "abi_version": 1, "row_functions": {}, "kernels": [{"function": "k",
      "kind": "row", "cubin": "kernel.k.cubin", "ptx": "kernel.k.ptx", "cubin_sha256": ")",
      Digest("cubin"), R"(", "ptx_sha256": ")", Digest("ptx"), R"(", "source_sha256": "",
      "registers": 8, "shared_bytes": 0, "stack_bytes": 0, "spill_stores": 0,
      "spill_loads": 0}]})");
  absl::Status missing = ReadKernelBundle(files).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(missing.message()).find("kernel.k.cubin"), std::string::npos) << missing;
  files["kernel.k.cubin"] = "cubin";
  files["kernel.k.ptx"] = "ptx";
  EXPECT_TRUE(ReadKernelBundle(files).ok());
  files["kernels.json"].replace(files["kernels.json"].find("{}"), 2, R"({"k_l0": "k_gone"})");
  EXPECT_EQ(ReadKernelBundle(files).status().code(), absl::StatusCode::kDataLoss);
}

// An engine's kernels are launched only with the argument contract they
// were compiled for, and only as compiled: another kernel ABI version is
// refused naming both versions, and a cubin or PTX whose bytes differ from
// its recorded digest is refused naming the kernel, even where the
// manifest's own digests were rewritten to match.
TEST(KernelBundleFilesTest, OtherAbiVersionsAndTamperedKernelsAreRefused) {
  KernelBundle bundle;
  bundle.arch = "sm_90";
  BundledKernel k;
  k.function = "rms_norm";
  k.kind = "row";
  k.compiled.cubin = std::string("\x7f" "ELF cubin bytes", 16);
  k.compiled.ptx = ".version 9.0\n.target sm_90\n";
  bundle.kernels.push_back(k);
  std::map<std::string, std::string> files = KernelBundleFiles(bundle);
  ASSERT_TRUE(ReadKernelBundle(files).ok());

  std::map<std::string, std::string> tampered = files;
  tampered["kernel.rms_norm.cubin"][5] ^= 1;
  absl::Status cubin = ReadKernelBundle(tampered).status();
  EXPECT_EQ(cubin.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(cubin.message())
                .find("kernel.rms_norm.cubin does not match the digest kernels.json records for "
                      "kernel rms_norm"),
            std::string::npos)
      << cubin;
  tampered = files;
  tampered["kernel.rms_norm.ptx"] += "// appended";
  EXPECT_EQ(ReadKernelBundle(tampered).status().code(), absl::StatusCode::kDataLoss);

  for (const std::string& other : {std::string("0"), std::string("2")}) {
    std::map<std::string, std::string> versioned = files;
    std::string& index = versioned["kernels.json"];
    const std::string field = absl::StrCat("\"abi_version\": ", kKernelAbiVersion);
    ASSERT_NE(index.find(field), std::string::npos) << index;
    index.replace(index.find(field), field.size(), "\"abi_version\": " + other);
    absl::Status abi = ReadKernelBundle(versioned).status();
    EXPECT_EQ(abi.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_NE(std::string(abi.message())
                  .find(absl::StrCat("kernel ABI version ", other,
                                     ", but this Kiln launches version ", kKernelAbiVersion,
                                     ": recompile with compile-model")),
              std::string::npos)
        << abi;
  }
  // An index from before kernels were versioned.
  std::map<std::string, std::string> unversioned = files;
  std::string& index = unversioned["kernels.json"];
  const std::string field = absl::StrCat("\"abi_version\": ", kKernelAbiVersion, ",");
  ASSERT_NE(index.find(field), std::string::npos) << index;
  index.erase(index.find(field), field.size());
  EXPECT_EQ(ReadKernelBundle(unversioned).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(CompileModelCudaTargetTest, WritesAnEngineTheCudaLoaderAccepts) {
  const std::string model = TempDir() + "/llama3_random";
  ASSERT_TRUE(testing::WriteRandomCheckpoint("llama3", 3, model).ok());
  const std::string out = TempDir() + "/llama3_sm90.engine";
  const std::string command = "tools/compile-model --model " + model + " --out " + out +
                              " --target sm_90 --dtype bf16 --max-seq 64 --buckets 16 "
                              "--plans-listing --kernel_cache " +
                              TempDir() + "/kernel-cache 2>" + out + ".log";
  ASSERT_EQ(std::system(command.c_str()), 0) << std::ifstream(out + ".log").rdbuf();
  std::ifstream log_file(out + ".log");
  const std::string log(std::istreambuf_iterator<char>(log_file), {});
  // decode, prefill 16, and the verify steps of 2, 4 and 8 tokens
  // (the default --verify-tokens 7).
  EXPECT_NE(log.find("CUDA sm_90: 5 launch plans"), std::string::npos) << log;
  EXPECT_NE(log.find("@verify_b1_s8"), std::string::npos) << log;
  EXPECT_NE(log.find("device arena: weights"), std::string::npos) << log;

  absl::StatusOr<Engine> engine = LoadEngine(out, "sm_90");
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_EQ(engine->manifest.kernel_index, "kernels.json");
  absl::StatusOr<KernelBundle> bundle = ReadKernelBundle(engine->kernel_files);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_EQ(bundle->arch, "sm_90");
  EXPECT_EQ(bundle->spill_bytes(), 0);
  EXPECT_TRUE(engine->kernel_files.contains("kernel.launch_plans.txt"));

  // The launch plans travel with the engine, one per bucket, every row
  // kernel in the bundle; they are exactly the plans of the engine's IR for
  // the target (so the loader, which only reads them, runs what was checked).
  ASSERT_TRUE(engine->kernel_files.contains(kEngineLaunchPlansFile));
  const std::string& plans_json = engine->kernel_files.at(kEngineLaunchPlansFile);
  absl::StatusOr<PlannedEngine> planned = LaunchPlansFromJson(plans_json);
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->plans.size(), engine->manifest.buckets.size());
  for (const LaunchPlan& plan : planned->plans) {
    for (const LaunchStep& step : plan.steps) {
      if (const auto* row = std::get_if<RowKernelStep>(&step.op)) {
        EXPECT_TRUE(bundle->row_functions.contains(row->desc.name)) << row->desc.name;
      }
    }
  }
  EXPECT_TRUE(CheckBundleCoversPlans(*bundle, planned->plans).ok());
  // Plans and kernels from different engines do not load together.
  // (A plan's kernel: the loop kernels are the executor's, not a plan's.)
  KernelBundle partial = *bundle;
  auto planned_kernel = std::find_if(partial.kernels.begin(), partial.kernels.end(),
                                     [](const BundledKernel& k) { return k.kind != "loop"; });
  ASSERT_NE(planned_kernel, partial.kernels.end());
  partial.kernels.erase(planned_kernel);
  absl::Status covered = CheckBundleCoversPlans(partial, planned->plans);
  EXPECT_EQ(covered.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(std::string(covered.message()).find("recompile with compile-model"),
            std::string::npos)
      << covered;
  // What the CUDA loader reads, checked without a GPU.
  absl::StatusOr<CudaEngineFiles> files = ReadCudaEngine(out, "sm_90");
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->planned.plans.size(), engine->manifest.buckets.size());
  EXPECT_TRUE(files->gemm_choices.has_value());
  absl::StatusOr<StaticLayout> layout = LayOutStaticSpaces(engine->module);
  ASSERT_TRUE(layout.ok()) << layout.status();
  std::vector<LaunchPlan> rebuilt;
  for (const Function& f : engine->module.functions) {
    absl::StatusOr<LaunchPlan> plan =
        BuildLaunchPlan(engine->module, f.name, *layout, codegen::H100Target());
    ASSERT_TRUE(plan.ok()) << plan.status();
    rebuilt.push_back(*std::move(plan));
  }
  EXPECT_EQ(LaunchPlansToJson(*layout, rebuilt), plans_json);

  // The GEMM algorithms: measured where this machine has an sm_90 GPU,
  // else every shape recorded with the reason (CI has no GPU).
  ASSERT_TRUE(engine->kernel_files.contains(kGemmChoicesFile));
  absl::StatusOr<GemmChoices> gemms = ParseGemmChoices(engine->kernel_files.at(kGemmChoicesFile));
  ASSERT_TRUE(gemms.ok()) << gemms.status();
  EXPECT_EQ(gemms->arch, "sm_90");
  EXPECT_FALSE(gemms->shapes.empty());
  if (gemms->tuned) {
    EXPECT_EQ(gemms->choices.size(), gemms->shapes.size());
    EXPECT_NE(log.find("GEMM algorithms: measured on"), std::string::npos) << log;
  } else {
    EXPECT_FALSE(gemms->reason.empty());
    EXPECT_NE(log.find("GEMM algorithms: not measured (" + gemms->reason + ")"), std::string::npos)
        << log;
    // --tune_gemms on refuses to write an engine it could not measure.
    const std::string on_log = out + ".on.log";
    EXPECT_NE(
        std::system(("tools/compile-model --model " + model + " --out " + out +
                     ".on --target sm_90 --max-seq 64 --buckets 16 --tune_gemms on 2>" + on_log)
                        .c_str()),
        0);
    std::ifstream on_file(on_log);
    const std::string on_text(std::istreambuf_iterator<char>(on_file), {});
    EXPECT_NE(on_text.find("--tune_gemms on needs a GPU of the target's architecture here"),
              std::string::npos)
        << on_text;
  }

  absl::Status cpu = LoadEngine(out, "cpu").status();
  EXPECT_EQ(cpu.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(cpu.message()).find("recompile with --target cpu"), std::string::npos)
      << cpu;

  // A second compile finds every kernel in the cache.
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream again_file(out + ".log");
  const std::string again(std::istreambuf_iterator<char>(again_file), {});
  const size_t at = again.find(" from the NVRTC cache");
  ASSERT_NE(at, std::string::npos) << again;
  const size_t open = again.rfind('(', at);
  const std::string cached = again.substr(open + 1, at - open - 1);
  EXPECT_NE(again.find(cached + " kernels compiled"), std::string::npos) << again;
}

}  // namespace
}  // namespace kiln
