#include "tools/gpu/nvrtc_compile.h"

#include <nvrtc.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/cuda/cuda_status.h"

namespace kiln::gpu {

// KILN_GPU_CHECK for NVRTC calls (runtime/cuda/cuda_status.h covers cudart
// and cuBLASLt only, so the runtime never links NVRTC).
absl::Status CallStatus(nvrtcResult code, const char* expr, const char* file, int line) {
  if (code == NVRTC_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(expr, " at ", file, ":", line,
                                          " failed: ", nvrtcGetErrorString(code)));
}

namespace {

// Owns an nvrtcProgram so every return path destroys it.
class NvrtcProgram {
 public:
  NvrtcProgram() = default;
  NvrtcProgram(const NvrtcProgram&) = delete;
  NvrtcProgram& operator=(const NvrtcProgram&) = delete;
  ~NvrtcProgram() {
    if (program_ != nullptr) nvrtcDestroyProgram(&program_);
  }
  nvrtcProgram* out() { return &program_; }
  nvrtcProgram get() const { return program_; }

 private:
  nvrtcProgram program_ = nullptr;
};

absl::StatusOr<std::string> ProgramLog(nvrtcProgram program) {
  size_t size = 0;
  KILN_GPU_CHECK(nvrtcGetProgramLogSize(program, &size));
  std::string log(size, '\0');
  if (size > 0) KILN_GPU_CHECK(nvrtcGetProgramLog(program, log.data()));
  // The size counts the terminating NUL.
  while (!log.empty() && log.back() == '\0') log.pop_back();
  return log;
}

int FirstInt(const std::string& text, const std::regex& pattern) {
  std::smatch match;
  if (!std::regex_search(text, match, pattern)) return -1;
  return std::stoi(match[1].str());
}

}  // namespace

std::string ArchForComputeCapability(int major, int minor) {
  return absl::StrCat("sm_", major, minor);
}

PtxasReport ParsePtxasReport(const std::string& log) {
  // ptxas -v prints, per kernel:
  //   ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
  //   ptxas info    : Used 8 registers, used 0 barriers, 364 bytes cmem[0]
  static const std::regex kRegisters(R"(Used (\d+) registers)");
  static const std::regex kStack(R"((\d+) bytes stack frame)");
  static const std::regex kSpillStores(R"((\d+) bytes spill stores)");
  static const std::regex kSpillLoads(R"((\d+) bytes spill loads)");
  PtxasReport report;
  report.registers = FirstInt(log, kRegisters);
  report.stack_frame_bytes = FirstInt(log, kStack);
  report.spill_store_bytes = FirstInt(log, kSpillStores);
  report.spill_load_bytes = FirstInt(log, kSpillLoads);
  return report;
}

absl::StatusOr<CompiledCubin> CompileToCubin(const std::string& source, const std::string& name,
                                             const std::string& arch,
                                             const std::vector<std::string>& extra_options) {
  const auto start = std::chrono::steady_clock::now();
  NvrtcProgram program;
  KILN_GPU_CHECK(nvrtcCreateProgram(program.out(), source.c_str(), name.c_str(), 0, nullptr,
                                    nullptr));
  std::vector<std::string> options = {"-arch=" + arch, "-Xptxas=-v"};
  options.insert(options.end(), extra_options.begin(), extra_options.end());
  std::vector<const char*> option_ptrs;
  for (const std::string& option : options) option_ptrs.push_back(option.c_str());

  const nvrtcResult compiled = nvrtcCompileProgram(
      program.get(), static_cast<int>(option_ptrs.size()), option_ptrs.data());
  absl::StatusOr<std::string> log = ProgramLog(program.get());
  if (!log.ok()) return log.status();
  if (compiled != NVRTC_SUCCESS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "NVRTC could not compile ", name, " for ", arch, " (", absl::StrJoin(options, " "),
        "): ", nvrtcGetErrorString(compiled), "\n", *log));
  }

  CompiledCubin result;
  result.arch = arch;
  result.log = *std::move(log);
  size_t size = 0;
  KILN_GPU_CHECK(nvrtcGetCUBINSize(program.get(), &size));
  result.cubin.resize(size);
  KILN_GPU_CHECK(nvrtcGetCUBIN(program.get(), result.cubin.data()));
  result.ptxas = ParsePtxasReport(result.log);
  result.compile_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return result;
}

std::string NvrtcVersion() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return "unknown";
  return absl::StrCat(major, ".", minor);
}

std::vector<std::string> NvrtcSupportedArchs() {
  int count = 0;
  if (nvrtcGetNumSupportedArchs(&count) != NVRTC_SUCCESS || count <= 0) return {};
  std::vector<int> archs(count);
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS) return {};
  std::vector<std::string> names;
  for (int arch : archs) names.push_back(absl::StrCat("sm_", arch));
  return names;
}

absl::StatusOr<std::string> ResolveCudaIncludeDir(const char* cuda_path_env,
                                                  const std::string& default_cuda_path,
                                                  const std::string& exe_dir) {
  std::vector<std::string> candidates;
  if (cuda_path_env != nullptr && cuda_path_env[0] != '\0') {
    candidates.push_back(std::string(cuda_path_env) + "/include");
  } else {
    candidates.push_back(default_cuda_path + "/include");
    candidates.push_back(exe_dir + "/cuda_include");
  }
  std::error_code error;
  for (const std::string& dir : candidates) {
    if (std::filesystem::is_regular_file(dir + "/cuda_bf16.h", error)) return dir;
  }
  return absl::NotFoundError(absl::StrCat("no cuda_bf16.h in ", absl::StrJoin(candidates, ", "),
                                          " (set KILN_CUDA_PATH to the CUDA toolkit)"));
}

std::string ExecutableDir() {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return ".";
  return exe.parent_path().string();
}

}  // namespace kiln::gpu
