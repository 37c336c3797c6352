// cuBLASLt, loaded on first use. The functions Kiln calls are defined here
// with cublasLt.h's own signatures, each forwarding to libcublasLt.so.<major>
// opened with dlopen the first time any of them runs. Linking the library
// instead made the loader map and relocate its ~540 MB at the start of every
// tool, CPU-only runs included: about 210 MiB of resident pages and 70 ms
// before main (measured 2026-12-06). Now only a process that plans a GPU
// GEMM pays for it.
//
// The library is found as the loader would find a linked one (this binary's
// RUNPATH, which the cudart target sets to the toolkit, then the system
// paths), else beside libcudart; $KILN_CUBLASLT_LIBRARY names another file.
// Its major version must be the headers'. When it cannot be loaded, every
// call returns CUBLAS_STATUS_NOT_INITIALIZED, cublasLtGetVersion returns 0,
// and cublasLtGetStatusString says why.
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace {

#define KILN_LT_STRINGIFY_(x) #x
#define KILN_LT_STRINGIFY(x) KILN_LT_STRINGIFY_(x)
constexpr char kDefaultLibrary[] = "libcublasLt.so." KILN_LT_STRINGIFY(CUBLAS_VER_MAJOR);

struct Library {
  void* handle = nullptr;
  std::string error;  // why it could not be loaded
};

// The directory of the libcudart this process uses (the toolkit's lib64
// when cudart is linked dynamically), with a trailing slash; empty if unknown.
std::string CudartDirectory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cudaRuntimeGetVersion), &info) == 0 ||
      info.dli_fname == nullptr) {
    return "";
  }
  const std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// Opens the library: $KILN_CUBLASLT_LIBRARY, else the default name through
// the loader's search (the calling object's RUNPATH: a binary's, pointing
// at the toolkit), else beside libcudart (a shared library of this code has
// no RUNPATH of its own). Its major version must be the headers'.
const Library& TheLibrary() {
  static const Library* library = [] {
    auto* l = new Library;
    const char* name = std::getenv("KILN_CUBLASLT_LIBRARY");
    const bool chosen = name != nullptr && *name != '\0';
    l->handle = dlopen(chosen ? name : kDefaultLibrary, RTLD_NOW | RTLD_LOCAL);
    std::string why;
    if (l->handle == nullptr) {
      const char* first = dlerror();
      why = first != nullptr ? first : (chosen ? name : kDefaultLibrary);
      const std::string dir = chosen ? "" : CudartDirectory();
      if (!dir.empty()) l->handle = dlopen((dir + kDefaultLibrary).c_str(), RTLD_NOW | RTLD_LOCAL);
    }
    if (l->handle == nullptr) {
      l->error = "cuBLASLt could not be loaded: " + why;
      return l;
    }
    using GetVersion = size_t (*)();
    auto version = reinterpret_cast<GetVersion>(dlsym(l->handle, "cublasLtGetVersion"));
    if (version == nullptr || version() / 10000 != CUBLAS_VER_MAJOR) {
      l->error = std::string("cuBLASLt could not be loaded: the library found is not version ") +
                 KILN_LT_STRINGIFY(CUBLAS_VER_MAJOR) + ".x, which Kiln was built against";
      dlclose(l->handle);
      l->handle = nullptr;
    }
    return l;
  }();
  return *library;
}

// The library's `name`, or nullptr (not loaded, or no such symbol).
template <typename Fn>
Fn Resolve(const char* name) {
  const Library& l = TheLibrary();
  return l.handle == nullptr ? nullptr : reinterpret_cast<Fn>(dlsym(l.handle, name));
}

}  // namespace

// Defines cuBLASLt function `name` (returning cublasStatus_t) as a call of
// the loaded library's, resolved once.
#define KILN_LT_FORWARD(name, params, args)                             \
  cublasStatus_t CUBLASWINAPI name params {                             \
    static const auto real = Resolve<decltype(&name)>(#name);           \
    return real == nullptr ? CUBLAS_STATUS_NOT_INITIALIZED : real args; \
  }

extern "C" {

KILN_LT_FORWARD(cublasLtCreate, (cublasLtHandle_t * handle), (handle))
KILN_LT_FORWARD(cublasLtDestroy, (cublasLtHandle_t handle), (handle))
KILN_LT_FORWARD(cublasLtMatmul,
                (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, const void* alpha,
                 const void* a, cublasLtMatrixLayout_t a_desc, const void* b,
                 cublasLtMatrixLayout_t b_desc, const void* beta, const void* c,
                 cublasLtMatrixLayout_t c_desc, void* d, cublasLtMatrixLayout_t d_desc,
                 const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes,
                 cudaStream_t stream),
                (handle, desc, alpha, a, a_desc, b, b_desc, beta, c, c_desc, d, d_desc, algo,
                 workspace, workspace_bytes, stream))
KILN_LT_FORWARD(cublasLtMatmulAlgoCheck,
                (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                 cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                 const cublasLtMatmulAlgo_t* algo, cublasLtMatmulHeuristicResult_t* result),
                (handle, desc, a, b, c, d, algo, result))
KILN_LT_FORWARD(cublasLtMatmulAlgoConfigGetAttribute,
                (const cublasLtMatmulAlgo_t* algo, cublasLtMatmulAlgoConfigAttributes_t attr,
                 void* buf, size_t bytes, size_t* written),
                (algo, attr, buf, bytes, written))
KILN_LT_FORWARD(cublasLtMatmulAlgoConfigSetAttribute,
                (cublasLtMatmulAlgo_t * algo, cublasLtMatmulAlgoConfigAttributes_t attr,
                 const void* buf, size_t bytes),
                (algo, attr, buf, bytes))
KILN_LT_FORWARD(cublasLtMatmulAlgoGetHeuristic,
                (cublasLtHandle_t handle, cublasLtMatmulDesc_t desc, cublasLtMatrixLayout_t a,
                 cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t d,
                 cublasLtMatmulPreference_t preference, int requested,
                 cublasLtMatmulHeuristicResult_t results[], int* returned),
                (handle, desc, a, b, c, d, preference, requested, results, returned))
KILN_LT_FORWARD(cublasLtMatmulAlgoInit,
                (cublasLtHandle_t handle, cublasComputeType_t compute, cudaDataType_t scale,
                 cudaDataType_t a, cudaDataType_t b, cudaDataType_t c, cudaDataType_t d,
                 int algo_id, cublasLtMatmulAlgo_t* algo),
                (handle, compute, scale, a, b, c, d, algo_id, algo))
KILN_LT_FORWARD(cublasLtMatmulDescCreate,
                (cublasLtMatmulDesc_t * desc, cublasComputeType_t compute, cudaDataType_t scale),
                (desc, compute, scale))
KILN_LT_FORWARD(cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t desc), (desc))
KILN_LT_FORWARD(cublasLtMatmulDescSetAttribute,
                (cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* buf,
                 size_t bytes),
                (desc, attr, buf, bytes))
KILN_LT_FORWARD(cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * pref), (pref))
KILN_LT_FORWARD(cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t pref), (pref))
KILN_LT_FORWARD(cublasLtMatmulPreferenceSetAttribute,
                (cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attr,
                 const void* buf, size_t bytes),
                (pref, attr, buf, bytes))
KILN_LT_FORWARD(cublasLtMatrixLayoutCreate,
                (cublasLtMatrixLayout_t * layout, cudaDataType type, uint64_t rows, uint64_t cols,
                 int64_t ld),
                (layout, type, rows, cols, ld))
KILN_LT_FORWARD(cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t layout), (layout))

size_t CUBLASWINAPI cublasLtGetVersion(void) {
  static const auto real = Resolve<decltype(&cublasLtGetVersion)>("cublasLtGetVersion");
  return real == nullptr ? 0 : real();
}

const char* CUBLASWINAPI cublasLtGetStatusString(cublasStatus_t status) {
  static const auto real = Resolve<decltype(&cublasLtGetStatusString)>("cublasLtGetStatusString");
  if (real == nullptr) {
    const Library& l = TheLibrary();
    return l.handle == nullptr ? l.error.c_str() : "cuBLASLt has no cublasLtGetStatusString";
  }
  return real(status);
}

}  // extern "C"
