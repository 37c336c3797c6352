#include "runtime/emulator/kernel_module.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "base/sha256.h"
#include "base/status_macros.h"
#include "runtime/emulator/device_abi.h"
#include "runtime/emulator/launch.h"

namespace kiln::emulator {

extern const char kKernelPreludeText[];  // device_abi.h + kernel_prelude.h

namespace {

constexpr char kCompileFlags[] =
    "-std=c++17 -O1 -g1 -fPIC -fno-fast-math -ffp-contract=off -fsanitize=thread "
    "--param=tsan-instrument-func-entry-exit=0 -fsanitize=alignment -Wno-unknown-pragmas";

std::string Compiler() {
  const char* cxx = std::getenv("KILN_EMULATOR_CXX");
  return cxx != nullptr && *cxx != '\0' ? cxx : "g++";
}

std::string CacheDirectory() {
  if (const char* dir = std::getenv("KILN_EMULATOR_CACHE"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  if (const char* dir = std::getenv("TEST_TMPDIR"); dir != nullptr && *dir != '\0') {
    return absl::StrCat(dir, "/kiln-emulator");
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return absl::StrCat(home, "/.cache/kiln/emulator");
  }
  return absl::StrCat("/tmp/kiln-emulator-", getuid());
}

absl::Status MakeDirectories(const std::string& path) {
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    prefix.append(part.data(), part.size());
    prefix += '/';
    if (part.empty()) continue;
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CUDA emulator cannot create its cache directory ", prefix, ": ",
          std::strerror(errno), " (set KILN_EMULATOR_CACHE to a writable directory)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WriteFile(const std::string& path, absl::string_view text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) {
    return absl::FailedPreconditionError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

// Runs `command` through the shell; its exit status and combined output.
std::pair<int, std::string> RunCommand(const std::string& command) {
  std::string output;
  FILE* pipe = popen(("(" + command + ") 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) output.append(buffer, n);
  return {pclose(pipe), output};
}

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// What `<cxx> --version` prints, asked once per compiler per process: the
// cache key must change when the compiler behind a name is upgraded, or a
// module built by the old one would be loaded as the new one's.
std::string CompilerVersion(const std::string& cxx) {
  static std::mutex mutex;
  static std::map<std::string, std::string>* versions = new std::map<std::string, std::string>();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = versions->find(cxx);
  if (it == versions->end()) {
    auto [status, output] = RunCommand(cxx + " --version");
    it = versions->emplace(cxx, absl::StrCat(status, "\n", output)).first;
  }
  return it->second;
}

// Removes a build directory however CompileModule leaves.
class RemoveDirectoryOnExit {
 public:
  explicit RemoveDirectoryOnExit(std::string path) : path_(std::move(path)) {}
  ~RemoveDirectoryOnExit() {
    std::error_code ignored;  // a leftover directory is harmless; nothing to report to
    std::filesystem::remove_all(path_, ignored);
  }
  RemoveDirectoryOnExit(const RemoveDirectoryOnExit&) = delete;
  RemoveDirectoryOnExit& operator=(const RemoveDirectoryOnExit&) = delete;

 private:
  std::string path_;
};

// The first `max_lines` lines of the compiler's messages.
std::string FirstLines(const std::string& text, int max_lines) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (static_cast<int>(lines.size()) > max_lines) lines.resize(max_lines);
  return absl::StrJoin(lines, "\n");
}

// Compiles kernel.cu + the prelude into `so_path` (atomically: written in a
// private directory, then renamed, so concurrent processes never see half
// a module).
absl::Status CompileModule(absl::string_view cuda_source, const std::vector<std::string>& names,
                           const std::string& cache, const std::string& so_path,
                           absl::string_view label) {
  std::string tmp = cache + "/build.XXXXXX";
  if (mkdtemp(tmp.data()) == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("cannot create a build directory in ", cache));
  }
  const RemoveDirectoryOnExit remove_build_directory(tmp);
  std::string wrapper = "#include \"kernel.cu\"\n";
  for (const std::string& name : names) absl::StrAppend(&wrapper, "KILN_EMU_EXPORT(", name, ")\n");
  KILN_RETURN_IF_ERROR(WriteFile(tmp + "/prelude.h", kKernelPreludeText));
  KILN_RETURN_IF_ERROR(WriteFile(tmp + "/kernel.cu", cuda_source));
  KILN_RETURN_IF_ERROR(WriteFile(tmp + "/module.cc", wrapper));
  const std::string cxx = Compiler();
  const std::string command =
      absl::StrCat("cd ", ShellQuote(tmp), " && ", cxx, " ", kCompileFlags,
                   " -include prelude.h -c module.cc -o module.o && ", cxx,
                   " -shared -Wl,-z,defs -o module.so module.o -lm");
  auto [status, output] = RunCommand(command);
  if (status != 0) {
    if (status == -1 || (WIFEXITED(status) && WEXITSTATUS(status) == 127)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the CUDA emulator needs a host C++ compiler (", cxx,
          "; set KILN_EMULATOR_CXX): ", FirstLines(output, 5)));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("the CUDA emulator cannot compile ", label, ":\n", FirstLines(output, 40)));
  }
  std::rename((tmp + "/kernel.cu").c_str(), (so_path.substr(0, so_path.size() - 3) + ".cu").c_str());
  if (std::rename((tmp + "/module.so").c_str(), so_path.c_str()) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("cannot move the module into ", so_path));
  }
  return absl::OkStatus();
}

std::string Demangle(const char* name) {
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (out == nullptr) return name;
  std::string result = out;
  std::free(out);
  return result;
}

// The function-local statics in the module's .bss: its __shared__ variables
// (mangled _ZZ<function>E<name>), read from the file's symbol table.
absl::StatusOr<std::vector<SharedVariable>> ReadSharedVariables(const std::string& so_path,
                                                                uintptr_t bias) {
  KILN_ASSIGN_OR_RETURN(std::string file, ReadFileToString(so_path, size_t{1} << 30));
  auto bad = [&] { return absl::DataLossError(absl::StrCat(so_path, ": not a 64-bit ELF module")); };
  if (file.size() < sizeof(Elf64_Ehdr) || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) return bad();
  Elf64_Ehdr header;
  std::memcpy(&header, file.data(), sizeof(header));
  if (header.e_shoff + uint64_t{header.e_shnum} * sizeof(Elf64_Shdr) > file.size()) return bad();
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  std::memcpy(sections.data(), file.data() + header.e_shoff, sections.size() * sizeof(Elf64_Shdr));
  if (header.e_shstrndx >= sections.size()) return bad();
  const Elf64_Shdr& names = sections[header.e_shstrndx];
  auto section_name = [&](const Elf64_Shdr& s) -> absl::string_view {
    if (names.sh_offset + s.sh_name >= file.size()) return "";
    return file.data() + names.sh_offset + s.sh_name;
  };
  int bss = -1;
  const Elf64_Shdr* symtab = nullptr;
  for (size_t i = 0; i < sections.size(); ++i) {
    if (section_name(sections[i]) == ".bss") bss = static_cast<int>(i);
    if (sections[i].sh_type == SHT_SYMTAB) symtab = &sections[i];
  }
  std::vector<SharedVariable> variables;
  if (bss < 0 || symtab == nullptr) return variables;
  if (symtab->sh_link >= sections.size() ||
      symtab->sh_offset + symtab->sh_size > file.size()) {
    return bad();
  }
  const Elf64_Shdr& strings = sections[symtab->sh_link];
  for (uint64_t off = 0; off + sizeof(Elf64_Sym) <= symtab->sh_size; off += sizeof(Elf64_Sym)) {
    Elf64_Sym sym;
    std::memcpy(&sym, file.data() + symtab->sh_offset + off, sizeof(sym));
    if (ELF64_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_shndx != bss || sym.st_size == 0) continue;
    if (strings.sh_offset + sym.st_name >= file.size()) return bad();
    const char* name = file.data() + strings.sh_offset + sym.st_name;
    if (std::strncmp(name, "_ZZ", 3) != 0) continue;
    variables.push_back({bias + sym.st_value, sym.st_size, Demangle(name)});
  }
  return variables;
}

}  // namespace

std::vector<std::string> GlobalFunctionNames(absl::string_view source) {
  std::vector<std::string> names;
  auto skip_space = [&](size_t i) {
    while (i < source.size() && std::isspace(static_cast<unsigned char>(source[i]))) ++i;
    return i;
  };
  auto skip_word = [&](size_t i, absl::string_view word) -> size_t {
    i = skip_space(i);
    return source.substr(i, word.size()) == word ? i + word.size() : absl::string_view::npos;
  };
  for (size_t at = source.find("__global__"); at != absl::string_view::npos;
       at = source.find("__global__", at + 1)) {
    size_t i = skip_word(at + 10, "void");
    if (i == absl::string_view::npos) continue;
    size_t j = skip_word(i, "__launch_bounds__");
    if (j != absl::string_view::npos) {
      j = source.find(')', j);
      if (j == absl::string_view::npos) continue;
      i = j + 1;
    }
    i = skip_space(i);
    size_t end = i;
    while (end < source.size() &&
           (std::isalnum(static_cast<unsigned char>(source[end])) || source[end] == '_')) {
      ++end;
    }
    if (end > i && skip_space(end) < source.size() && source[skip_space(end)] == '(') {
      names.emplace_back(source.substr(i, end - i));
    }
  }
  return names;
}

absl::StatusOr<std::shared_ptr<KernelModule>> KernelModule::Compile(absl::string_view cuda_source,
                                                                    absl::string_view label) {
  const std::vector<std::string> names = GlobalFunctionNames(cuda_source);
  if (names.empty()) {
    return absl::NotFoundError(
        absl::StrCat(label, ": the source defines no extern \"C\" __global__ function"));
  }
  const std::string cache = CacheDirectory();
  KILN_RETURN_IF_ERROR(MakeDirectories(cache));
  const std::string cxx = Compiler();
  const absl::string_view nul("\0", 1);
  const std::string key =
      Sha256Hex(absl::StrCat(kKernelPreludeText, nul, kCompileFlags, cxx, nul,
                             CompilerVersion(cxx), nul, cuda_source));
  const std::string so_path = absl::StrCat(cache, "/", key, ".so");
  struct stat info;
  if (stat(so_path.c_str(), &info) != 0) {
    KILN_RETURN_IF_ERROR(CompileModule(cuda_source, names, cache, so_path, label));
  }
  std::shared_ptr<KernelModule> module(new KernelModule());
  module->label_ = std::string(label);
  KILN_RETURN_IF_ERROR(module->Load(so_path, names));
  return module;
}

absl::Status KernelModule::Load(const std::string& so_path, const std::vector<std::string>& names) {
  so_path_ = so_path;
  handle_ = dlopen(so_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CUDA emulator cannot load ", label_, ": ", dlerror()));
  }
  auto bind = reinterpret_cast<int (*)(const KilnEmuAbi*)>(dlsym(handle_, "kiln_emu_bind"));
  if (bind == nullptr || bind(EmulatorAbi()) != kKilnEmuAbiVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(label_, ": the compiled module does not speak emulator ABI ",
                     kKilnEmuAbiVersion, " (delete ", so_path, ")"));
  }
  link_map* map = nullptr;
  if (dlinfo(handle_, RTLD_DI_LINKMAP, &map) != 0 || map == nullptr) {
    return absl::InternalError(absl::StrCat(label_, ": dlinfo failed"));
  }
  load_bias_ = map->l_addr;
  for (const std::string& name : names) {
    EmulatedKernel kernel;
    kernel.name = name;
    kernel.module = this;
    kernel.launch = reinterpret_cast<void (*)(void**)>(
        dlsym(handle_, absl::StrCat("kiln_emu_launch_", name).c_str()));
    auto params = reinterpret_cast<size_t (*)(size_t)>(
        dlsym(handle_, absl::StrCat("kiln_emu_params_", name).c_str()));
    if (kernel.launch == nullptr || params == nullptr) {
      return absl::InternalError(absl::StrCat(label_, ": no launcher for kernel ", name));
    }
    for (size_t i = 0, n = params(0); i < n; ++i) kernel.param_sizes.push_back(params(i + 1));
    kernels_.emplace(name, std::move(kernel));
  }
  KILN_ASSIGN_OR_RETURN(shared_, ReadSharedVariables(so_path, load_bias_));
  std::sort(shared_.begin(), shared_.end(),
            [](const SharedVariable& a, const SharedVariable& b) { return a.begin < b.begin; });
  return absl::OkStatus();
}

KernelModule::~KernelModule() {
  if (handle_ != nullptr) dlclose(handle_);
}

absl::StatusOr<const EmulatedKernel*> KernelModule::Kernel(absl::string_view name) const {
  auto it = kernels_.find(name);
  if (it == kernels_.end()) {
    return absl::NotFoundError(absl::StrCat(label_, " has no kernel ", name, "; it has ",
                                            absl::StrJoin(kernel_names(), ", ")));
  }
  return &it->second;
}

const SharedVariable* KernelModule::FindSharedVariable(uintptr_t address, size_t bytes) const {
  auto it = std::upper_bound(shared_.begin(), shared_.end(), address,
                             [](uintptr_t a, const SharedVariable& v) { return a < v.begin; });
  if (it == shared_.begin()) return nullptr;
  --it;
  const uintptr_t end = address + std::max<size_t>(bytes, 1);
  return end <= it->begin + it->bytes && end > address ? &*it : nullptr;
}

std::vector<std::string> KernelModule::kernel_names() const {
  std::vector<std::string> names;
  for (const auto& [name, kernel] : kernels_) names.push_back(name);
  return names;
}

std::string KernelModule::SourceLine(const void* pc) const {
  const auto address = reinterpret_cast<uintptr_t>(pc);
  if (address < load_bias_) return "";
  // The return address points after the call: step back into it.
  auto [status, output] = RunCommand(absl::StrCat("addr2line -f -C -e ", ShellQuote(so_path_),
                                                  " ", absl::Hex(address - load_bias_ - 1)));
  if (status != 0) return "";
  std::vector<std::string> lines = absl::StrSplit(output, '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[1].find("??") == 0) return "";
  std::string where = lines[1];
  if (size_t slash = where.rfind('/'); slash != std::string::npos) where = where.substr(slash + 1);
  if (size_t paren = where.find(" ("); paren != std::string::npos) where.resize(paren);
  return absl::StrCat(where, " in ", lines[0]);
}

}  // namespace kiln::emulator
