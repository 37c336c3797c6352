#include "runtime/cuda/kernel_bundle.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/gemv/gemv_cuda.h"
#include "codegen/sampling/sampling_cuda.h"
#include "codegen/render.h"
#include "base/status_macros.h"
#include "nlohmann/json.hpp"
#include "base/sha256.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;

constexpr char kIndex[] = "kernels.json";

std::string Sha256Of(const std::string& text) {
  return Sha256Hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

// A kernel to compile: its function name, kind and complete NVRTC source.
struct Source {
  std::string function;
  std::string kind;
  std::string text;
};

// The hand-written kernels of a step (attention, GEMV), each once.
absl::Status AddTemplateSources(const LaunchStep& step, std::set<std::string>& seen,
                                std::vector<Source>& out) {
  if (const auto* g = std::get_if<GemmStep>(&step.op); g != nullptr && g->gemv) {
    const std::string name = codegen::gemv::GemvKernelName(*g->gemv);
    if (seen.insert(name).second) {
      KILN_ASSIGN_OR_RETURN(std::string text, codegen::gemv::RenderGemvCuda(*g->gemv));
      out.push_back({name, "gemv", std::move(text)});
    }
  }
  std::vector<attn::KernelVariant> variants;
  if (const auto* r = std::get_if<RopeKvWriteStep>(&step.op)) variants.push_back(r->variant);
  if (const auto* a = std::get_if<AttentionStep>(&step.op)) {
    variants.push_back(a->variant);
    if (a->variant.kind == attn::KernelKind::kDecode) variants.push_back(a->combine);
  }
  for (const attn::KernelVariant& v : variants) {
    const std::string name = attn::KernelName(v);
    if (!seen.insert(name).second) continue;
    KILN_ASSIGN_OR_RETURN(std::string text, attn::RenderAttentionCuda(v));
    out.push_back({name, attn::KernelKindName(v.kind), std::move(text)});
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> RowKernelKey(const codegen::KernelDesc& desc) {
  codegen::KernelDesc blank = desc;
  blank.name = "k";
  blank.ir.clear();
  for (codegen::KernelBuffer& b : blank.buffers) b.name.clear();
  return codegen::RenderCuda(blank);
}

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

absl::StatusOr<KernelBundle> CompileKernelBundle(const std::vector<LaunchPlan>& plans,
                                                 const codegen::DeviceInfo& info,
                                                 const std::string& cache_dir,
                                                 const std::function<void(int, int)>& progress) {
  KernelBundle bundle;
  bundle.arch = info.sm_arch();
  std::vector<Source> sources;
  std::map<std::string, std::string> function_of_key;  // row kernel key -> function
  std::set<std::string> seen_templates;
  for (const LaunchPlan& plan : plans) {
    const std::string sampler = codegen::sampling::SamplingKernelName(plan.sampler);
    if (seen_templates.insert(sampler).second) {
      KILN_ASSIGN_OR_RETURN(std::string text, codegen::sampling::RenderSamplingCuda(plan.sampler));
      sources.push_back({sampler, "sample", std::move(text)});
    }
    for (const LaunchStep& step : plan.steps) {
      KILN_RETURN_IF_ERROR(AddTemplateSources(step, seen_templates, sources));
      const auto* row = std::get_if<RowKernelStep>(&step.op);
      if (row == nullptr || bundle.row_functions.contains(row->desc.name)) continue;
      KILN_ASSIGN_OR_RETURN(std::string key, RowKernelKey(row->desc));
      auto [it, inserted] = function_of_key.emplace(key, row->desc.name);
      bundle.row_functions[row->desc.name] = it->second;
      if (!inserted) continue;
      KILN_ASSIGN_OR_RETURN(std::string text, codegen::RenderCuda(row->desc));
      sources.push_back({row->desc.name, "row", codegen::CudaPrelude() + "\n" + text});
    }
  }
  // NVRTC compiles are independent and single-threaded: run them on every
  // core (compile-model on a 16-core GPU host, or the GPU test suite).
  std::vector<absl::StatusOr<codegen::CompiledKernel>> compiled(
      sources.size(), absl::UnknownError("not compiled"));
  std::atomic<size_t> next{0};
  std::atomic<int> done{0};
  std::mutex progress_mutex;
  auto worker = [&] {
    for (size_t i = next++; i < sources.size(); i = next++) {
      compiled[i] = codegen::CompileKernel(sources[i].text, sources[i].function, info, cache_dir);
      const int finished = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        progress(finished, static_cast<int>(sources.size()));
      }
    }
  };
  const size_t threads =
      std::min<size_t>(sources.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  for (size_t i = 0; i < sources.size(); ++i) {
    if (!compiled[i].ok()) return compiled[i].status();
    bundle.kernels.push_back({sources[i].function, sources[i].kind, Sha256Of(sources[i].text),
                              *std::move(compiled[i])});
  }
  return bundle;
}

std::map<std::string, std::string> KernelBundleFiles(const KernelBundle& bundle) {
  std::map<std::string, std::string> files;
  nlohmann::json index = {{"arch", bundle.arch}, {"row_functions", bundle.row_functions}};
  index["kernels"] = nlohmann::json::array();
  for (const BundledKernel& k : bundle.kernels) {
    const codegen::KernelReport& r = k.compiled.report;
    const std::string cubin = absl::StrCat("kernel.", k.function, ".cubin");
    const std::string ptx = absl::StrCat("kernel.", k.function, ".ptx");
    index["kernels"].push_back({{"function", k.function},
                                {"kind", k.kind},
                                {"cubin", cubin},
                                {"ptx", ptx},
                                {"source_sha256", k.source_sha256},
                                {"registers", r.registers},
                                {"shared_bytes", r.shared_bytes},
                                {"stack_bytes", r.stack_bytes},
                                {"spill_stores", r.spill_stores},
                                {"spill_loads", r.spill_loads}});
    files[cubin] = k.compiled.cubin;
    files[ptx] = k.compiled.ptx;
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
      r.registers = k.at("registers").get<int>();
      r.shared_bytes = k.at("shared_bytes").get<int64_t>();
      r.stack_bytes = k.at("stack_bytes").get<int64_t>();
      r.spill_stores = k.at("spill_stores").get<int64_t>();
      r.spill_loads = k.at("spill_loads").get<int64_t>();
      for (auto [key, out] : {std::pair{"cubin", &b.compiled.cubin}, {"ptx", &b.compiled.ptx}}) {
        const std::string name = k.at(key).get<std::string>();
        auto file = files.find(name);
        if (file == files.end()) {
          return absl::DataLossError("kernels.json names " + name + ", which the engine lacks");
        }
        *out = file->second;
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

}  // namespace kiln
