// The generated host renderings a plan test hands HostPlanExecutor: one
// suite's rows of the GeneratedHostKernels() table that the test links
// (a //tests/codegen:gen_kernels --host_out genrule), by kernel name, with the IR
// each implements (the executor uses a rendering only where that IR is the
// plan's kernel's).
#ifndef KILN_TESTS_RUNTIME_CUDA_HOST_RENDERINGS_H_
#define KILN_TESTS_RUNTIME_CUDA_HOST_RENDERINGS_H_

#include <map>
#include <string>

#include "codegen/host_runtime.h"
#include "tests/support/plan_host_executor.h"

namespace kiln::testing {

struct HostRenderings {
  std::map<std::string, HostKernelFn> fns;
  std::map<std::string, std::string> irs;
};

inline HostRenderings HostRenderingsOfSuite(const std::string& suite) {
  HostRenderings out;
  for (const codegen::host::HostKernel& k : codegen::host::GeneratedHostKernels()) {
    if (suite != k.suite) continue;
    out.fns[k.name] = k.fn;
    out.irs[k.name] = k.ir;
  }
  return out;
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_RUNTIME_CUDA_HOST_RENDERINGS_H_
