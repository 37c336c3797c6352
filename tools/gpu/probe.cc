// gpu-probe: proves, in one short run on a GPU host, the path every later
// Kiln GPU binary takes: cudart with the driver loaded lazily (nothing links
// libcuda), NVRTC compiling for the device's own architecture, a cubin
// loaded with cudaLibraryLoadData and launched, a CUDA graph replaying the
// launch, cuBLASLt running a bf16 GEMM, and the card's copy bandwidth.
//
// Without a device it says "no CUDA device: <cudart's reason>", still runs
// the NVRTC compile checks for sm_80 and sm_90 (they need no GPU), writes
// "device": null in the JSON and exits 0. Exit status 1 means a check ran
// and failed. See docs/GPU_RECIPE.md.
//
//   gpu-probe --json=out/probe.json --summary=out/summary.tsv
#include <cublasLt.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tools/gpu/device_checks.h"
#include "tools/gpu/gemm_check.h"
#include "tools/gpu/nvrtc_compile.h"
#include "tools/gpu/probe_kernels.h"

ABSL_FLAG(std::string, json, "", "write the JSON summary to this file");
ABSL_FLAG(std::string, summary, "", "write key<TAB>value lines (check.sh's table) to this file");
ABSL_FLAG(std::string, cpu_archs, "sm_80,sm_90",
          "architectures the kernel is compiled for on every machine, GPU or not");
ABSL_FLAG(int, replays, 1000, "eager launches and CUDA graph replays in the graph check");
ABSL_FLAG(int, copy_mib, 1024, "size of the device-to-device copy, MiB");
ABSL_FLAG(int, gemm_size, 8192, "m = n = k of the timed bf16 GEMM; 0 skips the timing");

namespace kiln::gpu {
namespace {

using Json = nlohmann::ordered_json;

constexpr int kAxpyElements = 1 << 20;   // the bit-exact single-launch check
constexpr int kGraphElements = 1 << 16;  // small: replays x elements run on the CPU too
constexpr int kTimingIterations = 20;

// Collects what the probe found: the JSON document, the short key/value
// summary check.sh prints as a table, and every failed check. A check that
// could not run for lack of a device is not a failure.
class ProbeReport {
 public:
  ProbeReport() {
    json_["probe"] = "kiln gpu-probe 1";
    json_["utc"] = UtcNow();
    json_["nvrtc_version"] = NvrtcVersion();
    json_["cudart_headers"] = CUDART_VERSION;
  }

  Json& json() { return json_; }

  // Runs one named check; a failure is printed and recorded (the body
  // prints its own "ok" lines, which carry the numbers).
  void Check(const std::string& name, const std::function<absl::Status()>& body) {
    const absl::Status status = body();
    if (status.ok()) return;
    std::printf("FAIL %s: %s\n", name.c_str(), status.ToString().c_str());
    json_["failures"][name] = status.ToString();
    failures_.push_back(name);
  }

  void Summary(const std::string& key, const std::string& value) {
    summary_.emplace_back(key, value);
  }

  bool ok() const { return failures_.empty(); }

  // Writes the JSON and the summary where the flags say; a write error is a
  // failure too, since check.sh's table depends on them.
  void Write() {
    Summary("result", ok() ? "ok" : absl::StrCat("FAILED (", failures_.size(), ")"));
    json_["ok"] = ok();
    WriteFile(absl::GetFlag(FLAGS_json), json_.dump(2) + "\n");
    std::string tsv;
    for (const auto& [key, value] : summary_) absl::StrAppend(&tsv, key, "\t", value, "\n");
    WriteFile(absl::GetFlag(FLAGS_summary), tsv);
  }

 private:
  static std::string UtcNow() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
  }

  void WriteFile(const std::string& path, const std::string& text) {
    if (path.empty()) return;
    std::ofstream file(path);
    file << text;
    if (!file.good()) {
      std::fprintf(stderr, "FAIL cannot write %s\n", path.c_str());
      failures_.push_back("write " + path);
    }
  }

  Json json_;
  std::vector<std::pair<std::string, std::string>> summary_;
  std::vector<std::string> failures_;
};

Json PtxasJson(const CompiledCubin& compiled) {
  return Json{{"arch", compiled.arch},
              {"compile_ms", compiled.compile_ms},
              {"cubin_bytes", compiled.cubin.size()},
              {"registers", compiled.ptxas.registers},
              {"stack_frame_bytes", compiled.ptxas.stack_frame_bytes},
              {"spill_store_bytes", compiled.ptxas.spill_store_bytes},
              {"spill_load_bytes", compiled.ptxas.spill_load_bytes}};
}

// Compiles the axpy kernel for `arch`, records it under json[json_key] and
// requires no spills (ptxas's report; -1 means the log did not say).
absl::StatusOr<CompiledCubin> CompileAxpy(const std::string& arch, const std::string& json_key,
                                          ProbeReport& report) {
  absl::StatusOr<CompiledCubin> compiled =
      CompileToCubin(kAxpyBf16Source, "kiln_probe_axpy_bf16.cu", arch, {});
  if (!compiled.ok()) return compiled.status();
  report.json()[json_key].push_back(PtxasJson(*compiled));
  const PtxasReport& ptxas = compiled->ptxas;
  std::printf("ok   nvrtc %s: %d registers, %d B stack, %d/%d B spill stores/loads, %zu B cubin, "
              "%.1f ms\n",
              arch.c_str(), ptxas.registers, ptxas.stack_frame_bytes, ptxas.spill_store_bytes,
              ptxas.spill_load_bytes, compiled->cubin.size(), compiled->compile_ms);
  if (ptxas.spill_store_bytes > 0 || ptxas.spill_load_bytes > 0) {
    return absl::InternalError(absl::StrCat("the axpy kernel spills on ", arch));
  }
  return compiled;
}

void CompileChecks(ProbeReport& report) {
  const std::vector<std::string> archs =
      absl::StrSplit(absl::GetFlag(FLAGS_cpu_archs), ',', absl::SkipEmpty());
  for (const std::string& arch : archs) {
    report.Check("nvrtc " + arch, [&]() -> absl::Status {
      absl::StatusOr<CompiledCubin> compiled = CompileAxpy(arch, "nvrtc", report);
      if (compiled.ok()) {
        report.Summary(absl::StrCat("nvrtc ", arch, " registers"),
                       absl::StrCat(compiled->ptxas.registers));
      }
      return compiled.status();
    });
  }
  report.Check("nvrtc cuda_bf16.h", [&]() -> absl::Status {
    absl::StatusOr<std::string> include_dir =
        ResolveCudaIncludeDir(std::getenv("KILN_CUDA_PATH"), "/usr/local/cuda", ExecutableDir());
    if (!include_dir.ok()) return include_dir.status();
    report.json()["cuda_include_dir"] = *include_dir;
    absl::StatusOr<CompiledCubin> compiled =
        CompileToCubin(kHeaderCheckSource, "kiln_probe_header_check.cu", "sm_90",
                       {"-I" + *include_dir});
    if (!compiled.ok()) return compiled.status();
    std::printf("ok   nvrtc includes <cuda_bf16.h> from %s\n", include_dir->c_str());
    return absl::OkStatus();
  });
}

Json DeviceJson(const DeviceInfo& info, const std::string& arch) {
  return Json{{"name", info.name},
              {"device_count", info.device_count},
              {"pci_bus_id", info.pci_bus_id},
              {"sm_count", info.sm_count},
              {"compute_capability", absl::StrCat(info.cc_major, ".", info.cc_minor)},
              {"arch", arch},
              {"total_memory_bytes", info.total_memory_bytes},
              {"free_memory_bytes", info.free_memory_bytes},
              {"l2_cache_bytes", info.l2_cache_bytes},
              {"shared_memory_per_block_optin_bytes", info.shared_memory_per_block_optin_bytes},
              {"memory_bus_width_bits", info.memory_bus_width_bits},
              {"driver_version", info.driver_version},
              {"runtime_version", info.runtime_version}};
}

// Everything that needs the device. Each check is independent of the ones
// before it except the two that launch the NVRTC kernel.
void DeviceChecks(const DeviceInfo& info, ProbeReport& report) {
  const std::string arch = ArchForComputeCapability(info.cc_major, info.cc_minor);
  report.json()["device"] = DeviceJson(info, arch);
  std::printf("ok   device 0 of %d: %s, %d SMs, %.1f GiB (%.1f GiB free), compute capability "
              "%d.%d (%s), driver %d, runtime %d, PCI %s\n",
              info.device_count, info.name.c_str(), info.sm_count,
              info.total_memory_bytes / 1073741824.0, info.free_memory_bytes / 1073741824.0,
              info.cc_major, info.cc_minor, arch.c_str(), info.driver_version,
              info.runtime_version, info.pci_bus_id.c_str());
  report.Summary("device", info.name);
  report.Summary("SMs / memory", absl::StrFormat("%d / %.1f GiB", info.sm_count,
                                                 info.total_memory_bytes / 1073741824.0));
  report.Summary("compute capability", absl::StrCat(info.cc_major, ".", info.cc_minor));

  report.Check("kernel on device", [&]() -> absl::Status {
    absl::StatusOr<CompiledCubin> compiled = CompileAxpy(arch, "device_cubin", report);
    if (!compiled.ok()) return compiled.status();
    absl::StatusOr<LoadedAxpyKernel> kernel = LoadedAxpyKernel::Load(compiled->cubin);
    if (!kernel.ok()) return kernel.status();
    std::printf("ok   cubin loaded with cudaLibraryLoadData (%s)\n", arch.c_str());

    absl::StatusOr<AxpyCheck> axpy = RunAxpyCheck(*kernel, kAxpyElements);
    if (!axpy.ok()) return axpy.status();
    report.json()["axpy"] = {{"elements", axpy->elements}, {"mismatches", axpy->mismatches}};
    report.Summary("bf16 kernel vs CPU", absl::StrCat(axpy->mismatches, " of ", axpy->elements,
                                                     " differ"));
    std::printf("%s bf16 axpy vs CPU: %lld of %lld elements differ (bit-exact check)\n",
                axpy->mismatches == 0 ? "ok  " : "FAIL", static_cast<long long>(axpy->mismatches),
                static_cast<long long>(axpy->elements));

    absl::StatusOr<GraphCheck> graph = RunGraphCheck(*kernel, kGraphElements,
                                                     absl::GetFlag(FLAGS_replays));
    if (!graph.ok()) return graph.status();
    report.json()["graph"] = {{"elements", graph->elements},
                              {"steps", graph->steps},
                              {"eager_mismatches", graph->eager_mismatches},
                              {"graph_mismatches", graph->graph_mismatches},
                              {"eager_us_per_launch", graph->eager_us_per_launch},
                              {"graph_us_per_replay", graph->graph_us_per_replay}};
    report.Summary("graph replay / eager launch",
                   absl::StrFormat("%.2f / %.2f us", graph->graph_us_per_replay,
                                   graph->eager_us_per_launch));
    std::printf("%s %d eager launches and %d graph replays vs CPU: %lld / %lld elements differ; "
                "%.2f us per eager launch, %.2f us per graph replay\n",
                graph->eager_mismatches == 0 && graph->graph_mismatches == 0 ? "ok  " : "FAIL",
                graph->steps, graph->steps, static_cast<long long>(graph->eager_mismatches),
                static_cast<long long>(graph->graph_mismatches), graph->eager_us_per_launch,
                graph->graph_us_per_replay);
    if (axpy->mismatches != 0 || graph->eager_mismatches != 0 || graph->graph_mismatches != 0) {
      return absl::InternalError("device results differ from the CPU reference");
    }
    return absl::OkStatus();
  });

  report.Check("cuBLASLt bf16 GEMM", [&]() -> absl::Status {
    // cuBLASLt is opened at first use (runtime/cuda/cublaslt_lazy.cc), so
    // `ldd` no longer shows it: say which one loaded, or why none did.
    const size_t lt_version = cublasLtGetVersion();
    report.json()["cublaslt_version"] = lt_version;
    if (lt_version == 0) {
      return absl::FailedPreconditionError(cublasLtGetStatusString(CUBLAS_STATUS_NOT_INITIALIZED));
    }
    std::printf("cuBLASLt %zu loaded\n", lt_version);
    absl::StatusOr<GemmCheck> check = RunGemmCheck(384, 320, 512);
    if (!check.ok()) return check.status();
    report.json()["gemm_check"] = {{"m", check->m},
                                   {"n", check->n},
                                   {"k", check->k},
                                   {"mismatches", check->mismatches},
                                   {"max_abs_error", check->max_abs_error},
                                   {"nmse", check->nmse}};
    report.Summary("cuBLASLt GEMM vs CPU", absl::StrFormat("%d outside tol, NMSE %.2e",
                                                           check->mismatches, check->nmse));
    std::printf("%s cuBLASLt bf16 GEMM %dx%dx%d vs float64 CPU: %lld outside bf16 tolerance, "
                "max |error| %.3g, NMSE %.3g\n",
                check->mismatches == 0 ? "ok  " : "FAIL", check->m, check->n, check->k,
                static_cast<long long>(check->mismatches), check->max_abs_error, check->nmse);
    if (check->mismatches != 0) return absl::InternalError("cuBLASLt GEMM differs from the CPU");
    const int size = absl::GetFlag(FLAGS_gemm_size);
    if (size <= 0) return absl::OkStatus();
    absl::StatusOr<GemmTiming> timing = TimeGemm(size, kTimingIterations);
    if (!timing.ok()) return timing.status();
    report.json()["gemm_timing"] = {{"size", timing->size},
                                    {"iterations", timing->iterations},
                                    {"ms_per_gemm", timing->ms_per_gemm},
                                    {"tflops", timing->tflops},
                                    {"algo", timing->algo_note}};
    report.Summary("bf16 GEMM throughput", absl::StrFormat("%.0f TFLOP/s at %d^3", timing->tflops,
                                                           timing->size));
    std::printf("ok   cuBLASLt bf16 GEMM %d^3: %.3f ms, %.1f TFLOP/s (%s)\n", timing->size,
                timing->ms_per_gemm, timing->tflops, timing->algo_note.c_str());
    return absl::OkStatus();
  });

  report.Check("copy bandwidth", [&]() -> absl::Status {
    const size_t bytes = size_t{1} * absl::GetFlag(FLAGS_copy_mib) << 20;
    absl::StatusOr<CopyBandwidth> copy = MeasureCopyBandwidth(bytes, kTimingIterations);
    if (!copy.ok()) return copy.status();
    report.json()["copy"] = {{"bytes", copy->bytes},
                             {"iterations", copy->iterations},
                             {"ms_per_copy", copy->ms_per_copy},
                             {"gb_per_s_read_plus_write", copy->gb_per_s}};
    report.Summary("D2D copy bandwidth", absl::StrFormat("%.0f GB/s (read+write)", copy->gb_per_s));
    std::printf("ok   device-to-device copy of %zu MiB: %.3f ms, %.0f GB/s (read + write)\n",
                copy->bytes >> 20, copy->ms_per_copy, copy->gb_per_s);
    return absl::OkStatus();
  });
}

int Main() {
  ProbeReport report;
  std::printf("kiln gpu-probe: NVRTC %s, cudart headers %d\n", NvrtcVersion().c_str(),
              CUDART_VERSION);
  // Shared libraries linked into the binary are mapped before main runs.
  const bool driver_at_start = DriverLibraryMapped();
  report.json()["libcuda_mapped_at_start"] = driver_at_start;
  report.Check("libcuda not linked", [&]() -> absl::Status {
    if (!driver_at_start) return absl::OkStatus();
    return absl::FailedPreconditionError("libcuda is mapped before cudart started: it is linked");
  });

  CompileChecks(report);

  absl::StatusOr<DeviceInfo> device = QueryDevice();
  if (absl::IsUnavailable(device.status())) {
    const std::string reason(device.status().message());
    std::printf("no CUDA device: %s\n", reason.c_str());
    report.json()["device"] = nullptr;
    report.json()["no_device_reason"] = reason;
    report.Summary("device", "none (see no_device_reason in probe.json)");
  } else {
    report.Check("device query", [&] { return device.status(); });
    if (device.ok()) DeviceChecks(*device, report);
  }
  report.json()["libcuda_mapped_at_end"] = DriverLibraryMapped();
  report.Write();
  std::printf("%s\n", report.ok() ? "gpu-probe: all checks passed" : "gpu-probe: FAILED");
  return report.ok() ? 0 : 1;
}

}  // namespace
}  // namespace kiln::gpu

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Kiln GPU toolchain probe (see docs/GPU_RECIPE.md)");
  absl::ParseCommandLine(argc, argv);
  return kiln::gpu::Main();
}
