"""Exposes a local CUDA toolkit as the repository @local_cuda.

The toolkit path comes from $KILN_CUDA_PATH (default /usr/local/cuda). Only
headers and the runtime-side libraries (cudart, NVRTC, cuBLASLt) are exposed;
the driver library libcuda is deliberately absent so no binary can link it:
Kiln binaries must start on machines without an NVIDIA driver.
"""

def _cuda_configure_impl(ctx):
    path = ctx.os.environ.get("KILN_CUDA_PATH", "/usr/local/cuda")
    if not ctx.path(path + "/include/cuda_runtime.h").exists:
        fail("CUDA toolkit not found at %s (set KILN_CUDA_PATH)" % path)
    ctx.symlink(path + "/include", "include")
    ctx.symlink(path + "/lib64", "lib64")
    ctx.template("BUILD", ctx.attr._build_tpl, {"%{cuda_path}": path})

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["KILN_CUDA_PATH"],
    local = True,
    attrs = {"_build_tpl": attr.label(default = "//third_party/cuda:cuda.BUILD.tpl")},
)
