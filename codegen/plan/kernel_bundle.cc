#include "codegen/plan/kernel_bundle.h"

#include <climits>
#include <cstdint>
#include <variant>

#include "absl/strings/str_cat.h"
#include "codegen/attention/attention_config.h"
#include "codegen/gemv/gemv_config.h"
#include "codegen/sampling/sampling_cuda.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"

namespace kiln {
namespace {

constexpr char kIndex[] = "kernels.json";

// A ptxas report count: a JSON integer in [0, 2^31) (ptxas's own fields are
// 32-bit), never a float cast out of range.
absl::StatusOr<int64_t> ReportField(const nlohmann::json& kernel, const char* key,
                                    const std::string& function) {
  auto it = kernel.find(key);
  const bool in_range = it != kernel.end() && it->is_number_integer() &&
                        (it->is_number_unsigned() ? it->get<uint64_t>() <= uint64_t{INT32_MAX}
                                                  : it->get<int64_t>() >= 0 &&
                                                        it->get<int64_t>() <= INT32_MAX);
  if (!in_range) {
    return absl::DataLossError(absl::StrCat("kernels.json: kernel ", function, ": '", key,
                                            "' must be an integer in [0, 2^31)"));
  }
  return it->get<int64_t>();
}

}  // namespace

const BundledKernel* KernelBundle::Find(const std::string& function) const {
  for (const BundledKernel& k : kernels) {
    if (k.function == function) return &k;
  }
  return nullptr;
}

int64_t KernelBundle::spill_bytes() const {
  int64_t total = 0;
  for (const BundledKernel& k : kernels) {
    total += k.compiled.report.spill_stores + k.compiled.report.spill_loads;
  }
  return total;
}

std::map<std::string, std::string> KernelBundleFiles(const KernelBundle& bundle) {
  std::map<std::string, std::string> files;
  nlohmann::json index = {{"arch", bundle.arch},
                          {"abi_version", kKernelAbiVersion},
                          {"row_functions", bundle.row_functions}};
  index["kernels"] = nlohmann::json::array();
  for (const BundledKernel& k : bundle.kernels) {
    const codegen::KernelReport& r = k.compiled.report;
    const std::string cubin = absl::StrCat("kernel.", k.function, ".cubin");
    const std::string ptx = absl::StrCat("kernel.", k.function, ".ptx");
    index["kernels"].push_back({{"function", k.function},
                                {"kind", k.kind},
                                {"cubin", cubin},
                                {"ptx", ptx},
                                {"cubin_sha256", Sha256Hex(k.compiled.cubin)},
                                {"ptx_sha256", Sha256Hex(k.compiled.ptx)},
                                {"source_sha256", k.source_sha256},
                                {"registers", r.registers},
                                {"shared_bytes", r.shared_bytes},
                                {"stack_bytes", r.stack_bytes},
                                {"spill_stores", r.spill_stores},
                                {"spill_loads", r.spill_loads}});
    files[cubin] = k.compiled.cubin;
    files[ptx] = k.compiled.ptx;
    if (!k.source.empty()) {
      const std::string source = absl::StrCat("kernel.", k.function, ".cu");
      index["kernels"].back()["source"] = source;
      files[source] = k.source;
    }
  }
  files[kIndex] = index.dump(2) + "\n";
  return files;
}

absl::StatusOr<KernelBundle> ReadKernelBundle(const std::map<std::string, std::string>& files) {
  auto index_file = files.find(kIndex);
  if (index_file == files.end()) return absl::DataLossError("the engine has no kernels.json");
  nlohmann::json index = nlohmann::json::parse(index_file->second, nullptr, false);
  KernelBundle bundle;
  try {
    if (!index.is_object()) return absl::DataLossError("kernels.json is not a JSON object");
    // By reference, and printed only when it is a number: a hostile value
    // may be nested deeply enough to exhaust the stack when copied or dumped.
    auto abi = index.find("abi_version");
    const bool versioned = abi != index.end();
    if (!versioned || !abi->is_number_integer() || abi->get<int64_t>() != kKernelAbiVersion) {
      std::string found = "0 (unversioned)";
      if (versioned) found = abi->is_number() ? abi->dump() : std::string(abi->type_name());
      return absl::FailedPreconditionError(absl::StrCat(
          "kernels.json: the kernels were generated for kernel ABI version ", found,
          ", but this Kiln launches version ", kKernelAbiVersion,
          ": recompile with compile-model"));
    }
    bundle.arch = index.at("arch").get<std::string>();
    bundle.row_functions = index.at("row_functions").get<std::map<std::string, std::string>>();
    for (const nlohmann::json& k : index.at("kernels")) {
      BundledKernel b;
      b.function = k.at("function").get<std::string>();
      b.kind = k.at("kind").get<std::string>();
      b.source_sha256 = k.at("source_sha256").get<std::string>();
      codegen::KernelReport& r = b.compiled.report;
      r.kernel = b.function;
      r.arch = bundle.arch;
      if (bundle.Find(b.function) != nullptr) {
        return absl::DataLossError("kernels.json lists kernel " + b.function + " twice");
      }
      KILN_ASSIGN_OR_RETURN(int64_t registers, ReportField(k, "registers", b.function));
      r.registers = static_cast<int>(registers);
      KILN_ASSIGN_OR_RETURN(r.shared_bytes, ReportField(k, "shared_bytes", b.function));
      KILN_ASSIGN_OR_RETURN(r.stack_bytes, ReportField(k, "stack_bytes", b.function));
      KILN_ASSIGN_OR_RETURN(r.spill_stores, ReportField(k, "spill_stores", b.function));
      KILN_ASSIGN_OR_RETURN(r.spill_loads, ReportField(k, "spill_loads", b.function));
      for (auto [key, out] : {std::pair{"cubin", &b.compiled.cubin}, {"ptx", &b.compiled.ptx}}) {
        const std::string name = k.at(key).get<std::string>();
        auto file = files.find(name);
        if (file == files.end()) {
          return absl::DataLossError("kernels.json names " + name + ", which the engine lacks");
        }
        // The manifest's digests cover every file; this one binds each
        // kernel's entry (its name, kind and report) to its own code.
        if (Sha256Hex(file->second) != k.at(std::string(key) + "_sha256").get<std::string>()) {
          return absl::DataLossError(absl::StrCat(
              name, " does not match the digest kernels.json records for kernel ", b.function,
              " (modified or swapped): recompile with compile-model"));
        }
        *out = file->second;
      }
      if (auto source = k.find("source"); source != k.end()) {
        const std::string name = source->get<std::string>();
        auto file = files.find(name);
        if (file == files.end()) {
          return absl::DataLossError("kernels.json names " + name + ", which the engine lacks");
        }
        if (Sha256Hex(file->second) != b.source_sha256) {
          return absl::DataLossError(absl::StrCat(
              name, " does not match the source digest kernels.json records for kernel ",
              b.function, " (modified or swapped): recompile with compile-model"));
        }
        b.source = file->second;
      }
      bundle.kernels.push_back(std::move(b));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("kernels.json is malformed: ", e.what()));
  }
  for (const auto& [name, function] : bundle.row_functions) {
    if (bundle.Find(function) == nullptr) {
      return absl::DataLossError("kernels.json maps " + name + " to a kernel it does not list");
    }
  }
  return bundle;
}

absl::Status CheckBundleCoversPlans(const KernelBundle& bundle,
                                    const std::vector<LaunchPlan>& plans) {
  namespace attn = codegen::attention;
  auto require = [&](const std::string& function, const LaunchPlan& plan,
                     const std::string& label) -> absl::Status {
    if (bundle.Find(function) != nullptr) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        "the launch plan of @", plan.function, " launches kernel ", function, " (", label,
        ") which kernels.json does not hold: recompile with compile-model"));
  };
  for (const LaunchPlan& plan : plans) {
    absl::Status s =
        require(codegen::sampling::SamplingKernelName(plan.sampler), plan, "sampler");
    if (!s.ok()) return s;
    for (const LaunchStep& step : plan.steps) {
      std::vector<std::string> functions;
      if (const auto* row = std::get_if<RowKernelStep>(&step.op)) {
        auto it = bundle.row_functions.find(row->desc.name);
        if (it == bundle.row_functions.end()) {
          return absl::DataLossError(absl::StrCat(
              "the launch plan of @", plan.function, " launches row kernel ", row->desc.name,
              " which kernels.json does not map: recompile with compile-model"));
        }
        functions.push_back(it->second);
      } else if (const auto* g = std::get_if<GemmStep>(&step.op); g != nullptr && g->gemv) {
        functions.push_back(codegen::gemv::GemvKernelName(*g->gemv));
      }
      for (const attn::KernelVariant& v : AttentionKernelsOf(step)) {
        functions.push_back(attn::KernelName(v));
      }
      for (const std::string& f : functions) {
        s = require(f, plan, step.label);
        if (!s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln
