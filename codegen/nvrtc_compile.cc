#include "codegen/nvrtc_compile.h"

#include <nvrtc.h>

#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status_macros.h"
#include "base/sha256.h"

namespace kiln::codegen {
namespace {

absl::Status NvrtcError(nvrtcResult r, const std::string& what) {
  return absl::InternalError(absl::StrCat("NVRTC ", what, ": ", nvrtcGetErrorString(r)));
}

// Owns an nvrtcProgram.
class Program {
 public:
  ~Program() {
    if (program_ != nullptr) nvrtcDestroyProgram(&program_);
  }
  nvrtcProgram* addr() { return &program_; }
  nvrtcProgram get() const { return program_; }

 private:
  nvrtcProgram program_ = nullptr;
};

std::string ProgramLog(nvrtcProgram p) {
  size_t n = 0;
  if (nvrtcGetProgramLogSize(p, &n) != NVRTC_SUCCESS || n == 0) return "";
  std::string log(n, '\0');
  if (nvrtcGetProgramLog(p, log.data()) != NVRTC_SUCCESS) return "";
  if (!log.empty() && log.back() == '\0') log.pop_back();
  return log;
}

// One NVRTC compile; the cubin (sm_XX) or the PTX (compute_XX) and the log.
absl::Status RunNvrtc(const std::string& source, const std::string& kernel,
                      const std::vector<std::string>& options, bool want_ptx, std::string& out,
                      std::string& log) {
  Program p;
  nvrtcResult r = nvrtcCreateProgram(p.addr(), source.c_str(), (kernel + ".cu").c_str(), 0,
                                     nullptr, nullptr);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "create");
  std::vector<const char*> argv;
  for (const std::string& o : options) argv.push_back(o.c_str());
  r = nvrtcCompileProgram(p.get(), static_cast<int>(argv.size()), argv.data());
  log = ProgramLog(p.get());
  if (r != NVRTC_SUCCESS) {
    return absl::InternalError(absl::StrCat("NVRTC could not compile generated kernel ", kernel,
                                            " (", absl::StrJoin(options, " "), "):\n", log));
  }
  size_t n = 0;
  r = want_ptx ? nvrtcGetPTXSize(p.get(), &n) : nvrtcGetCUBINSize(p.get(), &n);
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "size");
  out.assign(n, '\0');
  r = want_ptx ? nvrtcGetPTX(p.get(), out.data()) : nvrtcGetCUBIN(p.get(), out.data());
  if (r != NVRTC_SUCCESS) return NvrtcError(r, "output");
  return absl::OkStatus();
}

// "  12 bytes spill stores" -> 12: the integer right before `label`.
bool NumberBefore(const std::string& line, const std::string& label, int64_t& value) {
  size_t at = line.find(label);
  if (at == std::string::npos) return false;
  size_t end = at;
  while (end > 0 && line[end - 1] == ' ') --end;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(line[begin - 1]))) --begin;
  if (begin == end) return false;
  value = std::stoll(line.substr(begin, end - begin));
  return true;
}

bool ReadFile(const std::filesystem::path& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

// Writes through a temporary file and a rename, so a concurrent reader never
// sees a partial entry.
absl::Status WriteFileAtomically(const std::filesystem::path& path, const std::string& data) {
  std::filesystem::path tmp = path;
  tmp += absl::StrCat(".tmp", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("cannot rename to ", path.string()));
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> NvrtcOptions(const GpuTarget& info) {
  return {absl::StrCat("--gpu-architecture=", info.sm_arch()), "--fmad=false",
          "--ptxas-options=-v", "--std=c++17"};
}

std::string NvrtcVersion() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS) return "unknown";
  return absl::StrCat(major, ".", minor);
}

absl::StatusOr<KernelReport> ParsePtxasLog(const std::string& log, const std::string& kernel) {
  KernelReport report;
  report.kernel = kernel;
  bool in_entry = false, found = false, registers = false;
  const std::string entry = absl::StrCat("Compiling entry function '", kernel, "' for '");
  for (absl::string_view piece : absl::StrSplit(log, '\n')) {
    const std::string line(piece);
    if (line.find("Compiling entry function '") != std::string::npos) {
      in_entry = line.find(entry) != std::string::npos;
      if (in_entry) {
        found = true;
        size_t a = line.find(entry) + entry.size();
        report.arch = line.substr(a, line.find('\'', a) - a);
      }
      continue;
    }
    if (!in_entry) continue;
    int64_t v = 0;
    if (NumberBefore(line, "bytes stack frame", v)) report.stack_bytes = v;
    if (NumberBefore(line, "bytes spill stores", v)) report.spill_stores = v;
    if (NumberBefore(line, "bytes spill loads", v)) report.spill_loads = v;
    if (NumberBefore(line, "registers", v) && line.find("Used") != std::string::npos) {
      report.registers = static_cast<int>(v);
      registers = true;
    }
    if (NumberBefore(line, "bytes smem", v)) report.shared_bytes = v;
  }
  if (!found || !registers) {
    return absl::InternalError(
        absl::StrCat("ptxas log has no resource report for kernel ", kernel, ":\n", log));
  }
  return report;
}

absl::StatusOr<CompiledKernel> CompileKernel(const std::string& source, const std::string& kernel,
                                             const GpuTarget& info, const std::string& cache_dir) {
  const std::vector<std::string> options = NvrtcOptions(info);
  std::vector<std::string> ptx_options = options;
  ptx_options[0] = absl::StrCat("--gpu-architecture=", info.compute_arch());
  ptx_options.erase(ptx_options.begin() + 2);  // no ptxas run for PTX output
  const std::string key_text =
      absl::StrCat(source, "\n// options: ", absl::StrJoin(options, " "), "\n// nvrtc: ",
                   NvrtcVersion(), "\n");
  const std::string key = Sha256Hex(
      {reinterpret_cast<const uint8_t*>(key_text.data()), key_text.size()});
  CompiledKernel out;
  std::filesystem::path base;
  if (!cache_dir.empty()) {
    base = std::filesystem::path(cache_dir) / key;
    std::string cubin, ptx, log;
    if (ReadFile(base.string() + ".cubin", cubin) && ReadFile(base.string() + ".ptx", ptx) &&
        ReadFile(base.string() + ".log", log)) {
      absl::StatusOr<KernelReport> report = ParsePtxasLog(log, kernel);
      if (report.ok()) {  // a damaged entry is recompiled and replaced
        return CompiledKernel{std::move(cubin), std::move(ptx), *std::move(report),
                              std::move(log), true};
      }
    }
  }
  KILN_RETURN_IF_ERROR(RunNvrtc(source, kernel, options, false, out.cubin, out.log));
  std::string ptx_log;
  KILN_RETURN_IF_ERROR(RunNvrtc(source, kernel, ptx_options, true, out.ptx, ptx_log));
  KILN_ASSIGN_OR_RETURN(out.report, ParsePtxasLog(out.log, kernel));
  if (!cache_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(cache_dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot create cache dir ", cache_dir));
    KILN_RETURN_IF_ERROR(WriteFileAtomically(base.string() + ".cubin", out.cubin));
    KILN_RETURN_IF_ERROR(WriteFileAtomically(base.string() + ".ptx", out.ptx));
    KILN_RETURN_IF_ERROR(WriteFileAtomically(base.string() + ".log", out.log));
  }
  return out;
}

}  // namespace kiln::codegen
