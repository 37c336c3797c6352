#include "codegen/plan/compile_kernels.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "codegen/attention/attention_cuda.h"
#include "codegen/gemv/gemv_cuda.h"
#include "codegen/loop/loop_cuda.h"
#include "codegen/nvrtc_compile.h"
#include "codegen/render.h"
#include "codegen/sampling/sampling_cuda.h"

namespace kiln {
namespace {

namespace attn = codegen::attention;


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
  for (const attn::KernelVariant& v : AttentionKernelsOf(step)) {
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

absl::StatusOr<KernelBundle> CompileKernelBundle(const std::vector<LaunchPlan>& plans,
                                                 const codegen::GpuTarget& info,
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
  // The generate loop's kernels (one translation unit, two functions), for
  // the executor's loop graph.
  if (!plans.empty()) {
    const std::string loop = codegen::loop::RenderLoopCuda();
    sources.push_back({codegen::loop::kPrepareKernel, "loop", loop});
    sources.push_back({codegen::loop::kFinishKernel, "loop", loop});
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
    bundle.kernels.push_back({sources[i].function, sources[i].kind, Sha256Hex(sources[i].text),
                              sources[i].text, *std::move(compiled[i])});
  }
  return bundle;
}

}  // namespace kiln
