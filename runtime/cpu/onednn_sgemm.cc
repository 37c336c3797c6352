#include "runtime/cpu/onednn_sgemm.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kiln::cpu {
namespace {

constexpr char kLibrary[] = "libdnnl.so.2";

// dnnl_version_t and the runtime codes of oneDNN's dnnl_types.h (ABI-stable
// across its 2.x and 3.x releases).
struct DnnlVersion {
  int major, minor, patch;
  const char* hash;
  unsigned cpu_runtime;
  unsigned gpu_runtime;
};
constexpr unsigned kRuntimeSequential = 1, kRuntimeOpenMp = 2;

struct Loaded {
  std::unique_ptr<OnednnSgemm> library;
  std::string reason;  // why library is null
};

const Loaded& TheLoaded() {
  static const Loaded* loaded = [] {
    auto* l = new Loaded;
    const char* env = std::getenv("KILN_CPU_ONEDNN");
    if (env != nullptr && std::strcmp(env, "0") == 0) {
      l->reason = "KILN_CPU_ONEDNN=0";
      return l;
    }
    absl::StatusOr<std::unique_ptr<OnednnSgemm>> opened = OnednnSgemm::Open(kLibrary);
    if (opened.ok()) {
      l->library = *std::move(opened);
    } else {
      l->reason = std::string(opened.status().message());
    }
    return l;
  }();
  return *loaded;
}

}  // namespace

const OnednnSgemm* OnednnSgemm::Get() { return TheLoaded().library.get(); }

const std::string& OnednnSgemm::UnavailableReason() { return TheLoaded().reason; }

absl::StatusOr<std::unique_ptr<OnednnSgemm>> OnednnSgemm::Open(const std::string& file) {
  std::unique_ptr<OnednnSgemm> s(new OnednnSgemm);
  s->handle_ = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (s->handle_ == nullptr) {
    const char* why = dlerror();
    return absl::NotFoundError(absl::StrCat("oneDNN could not be loaded (", why ? why : file,
                                            "); install Debian's libdnnl2 for faster f32 "
                                            "prefill, or run without it"));
  }
  s->sgemm_ = reinterpret_cast<Sgemm>(dlsym(s->handle_, "dnnl_sgemm"));
  using Version = const DnnlVersion* (*)();
  auto version = reinterpret_cast<Version>(dlsym(s->handle_, "dnnl_version"));
  if (s->sgemm_ == nullptr || version == nullptr || version() == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(file, " is not oneDNN: it lacks dnnl_sgemm or dnnl_version"));
  }
  const DnnlVersion& v = *version();
  if (v.cpu_runtime == kRuntimeOpenMp) {
    // Found among the library's own dependencies (its libgomp).
    s->set_threads_ = reinterpret_cast<SetThreads>(dlsym(s->handle_, "omp_set_num_threads"));
    s->get_threads_ = reinterpret_cast<GetThreads>(dlsym(s->handle_, "omp_get_max_threads"));
    if (s->set_threads_ == nullptr || s->get_threads_ == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          file, " runs on OpenMP but omp_set_num_threads or omp_get_max_threads is not found"));
    }
  } else if (v.cpu_runtime != kRuntimeSequential) {
    return absl::FailedPreconditionError(
        absl::StrCat(file, " runs its CPU work on threading runtime ", v.cpu_runtime,
                     ", whose threads would compete with Kiln's pool; only OpenMP and sequential "
                     "builds are used"));
  }
  s->name_ = absl::StrCat("oneDNN ", v.major, ".", v.minor, ".", v.patch);
  return s;
}

OnednnSgemm::~OnednnSgemm() {
  if (handle_ != nullptr) dlclose(handle_);
}

bool OnednnSgemm::Rows(const float* x, const float* w, int64_t m, int64_t k, int64_t n_begin,
                       int64_t n_end, float* out, int64_t ldo) const {
  if (m <= 0 || n_begin >= n_end) return true;
  calls_.fetch_add(1, std::memory_order_relaxed);
  // The calling thread's OpenMP team size (a per-thread setting): 1 during
  // the call, so oneDNN's parallel loops run inline on this thread; the
  // caller's own setting after.
  const int before = get_threads_ != nullptr ? get_threads_() : 0;
  if (set_threads_ != nullptr) set_threads_(1);
  // Row-major C[m, n'] = A[m, k] . B^T with B = w's rows [n_begin, n_end)
  // stored [n', k]: transb 'T', ldb = k.
  const bool ok = sgemm_('N', 'T', m, n_end - n_begin, k, 1.0f, x, k, w + n_begin * k, k, 0.0f,
                         out + n_begin, ldo) == 0;
  if (set_threads_ != nullptr && before != 1) set_threads_(before);
  return ok;
}

}  // namespace kiln::cpu
