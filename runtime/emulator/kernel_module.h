// A kernel module: one CUDA translation unit of Kiln's, compiled for the
// host by the system C++ compiler and loaded, ready for the emulator to
// launch its kernels.
//
// The source text is compiled byte for byte: kernel.cu is written as given,
// and a wrapper file includes it after the emulation prelude
// (kernel_prelude.h) and exports a launcher per `extern "C" __global__`
// function it defines. Compiling happens at run time, not at build time,
// because the texts are what codegen renders for an engine or a test case
// (hundreds of variants, and any engine a user brings); each compiled
// module is cached under its SHA-256 (source, prelude, compiler flags,
// compiler command and what its --version prints), so a text is compiled
// once per cache and compiler.
//
// Compiler: $KILN_EMULATOR_CXX, else g++ (GCC: the module relies on its
// -fsanitize=thread instrumentation ABI). Cache: $KILN_EMULATOR_CACHE, else
// $TEST_TMPDIR/kiln-emulator under Bazel, else ~/.cache/kiln/emulator.
#ifndef KILN_RUNTIME_EMULATOR_KERNEL_MODULE_H_
#define KILN_RUNTIME_EMULATOR_KERNEL_MODULE_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace kiln::emulator {

class KernelModule;

// One kernel of a module: its launcher and parameter sizes.
struct EmulatedKernel {
  std::string name;
  void (*launch)(void** args) = nullptr;  // calls the kernel with *args[i]
  std::vector<size_t> param_sizes;        // bytes of each parameter, in order
  const KernelModule* module = nullptr;
};

// A variable of the module's static shared memory (a function-local
// __shared__), by address.
struct SharedVariable {
  uintptr_t begin = 0;
  size_t bytes = 0;
  std::string name;  // demangled: "k_l0_attn_norm::kiln_sum_scratch"
};

class KernelModule {
 public:
  // Compiles `cuda_source` (or finds it in the cache) and loads it.
  // `label` names the source in errors ("attention prefill f16 d64").
  // FailedPrecondition when no host compiler runs; InvalidArgument with the
  // compiler's messages when the text does not compile (an unsupported
  // CUDA construct or inline PTX is named there); NotFound when it defines
  // no extern "C" __global__ function.
  static absl::StatusOr<std::shared_ptr<KernelModule>> Compile(absl::string_view cuda_source,
                                                               absl::string_view label);
  ~KernelModule();
  KernelModule(const KernelModule&) = delete;
  KernelModule& operator=(const KernelModule&) = delete;

  // NotFound naming the kernels the module has.
  absl::StatusOr<const EmulatedKernel*> Kernel(absl::string_view name) const;
  std::vector<std::string> kernel_names() const;

  const std::string& label() const { return label_; }
  // By address.
  const std::vector<SharedVariable>& shared_variables() const { return shared_; }
  // The variable holding `address` (bytes == 0) or all of [address,
  // address + bytes), or null. A binary search: every shared access asks.
  const SharedVariable* FindSharedVariable(uintptr_t address, size_t bytes = 0) const;
  // "kernel.cu:123 in k_l0_attn_norm" for a code address in the module, or
  // "" when it is not one (or addr2line is missing).
  std::string SourceLine(const void* pc) const;

 private:
  KernelModule() = default;
  absl::Status Load(const std::string& so_path, const std::vector<std::string>& names);

  std::string label_;
  std::string so_path_;
  void* handle_ = nullptr;
  uintptr_t load_bias_ = 0;
  std::map<std::string, EmulatedKernel, std::less<>> kernels_;
  std::vector<SharedVariable> shared_;
};

// The names of the extern "C" __global__ functions `cuda_source` defines,
// in order.
std::vector<std::string> GlobalFunctionNames(absl::string_view cuda_source);

}  // namespace kiln::emulator

#endif  // KILN_RUNTIME_EMULATOR_KERNEL_MODULE_H_
