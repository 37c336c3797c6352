// One eager pass over a plan's launches before any graph is captured.
//
// Inside stream capture nothing executes: a launch with a bad configuration
// or a kernel that faults surfaces as a failed cudaStreamEndCapture or a
// failed replay that names no kernel. Launching each step once, eagerly,
// and waiting after each turns the same fault into an error that names the
// plan, the step and its kernel. It also loads every lazily loaded module
// before capture.
#ifndef KILN_RUNTIME_CUDA_EAGER_LAUNCH_H_
#define KILN_RUNTIME_CUDA_EAGER_LAUNCH_H_

#include <functional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "runtime/cuda/device_api.h"

namespace kiln::gpu {

// Enqueues one launch (or copy, or cuBLASLt call) on a stream; everything
// it needs is captured by value, so it can be enqueued again and again.
using Enqueue = std::function<absl::Status(StreamId)>;

// A launch together with what a failure should call it: the kernel's
// function name, or for a library call a description ("cuBLASLt GEMM ...").
struct NamedLaunch {
  std::string name;
  Enqueue enqueue;
};

// Waits for the work enqueued on a stream and returns its first error
// (cudaStreamSynchronize in the executor; tests pass a stand-in).
using StreamWait = std::function<absl::Status(StreamId)>;

// Enqueues each of `launches` once on `stream`, in order, and `wait`s after
// each. The first failure, of the enqueue or of the wait, is returned with
// its code kept and its message prefixed by
//   "eager launch of plan @<plan>, step <i> of <n> (<name>): "
// and nothing after it is launched.
absl::Status LaunchEachEagerly(const std::string& plan, std::span<const NamedLaunch> launches,
                               StreamId stream, const StreamWait& wait);

}  // namespace kiln::gpu

#endif  // KILN_RUNTIME_CUDA_EAGER_LAUNCH_H_
