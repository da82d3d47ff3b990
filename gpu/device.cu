// The device: opening it with the checks that decide whether --backend auto may use it, memory,
// copies, and the error reports every other file uses.
#include "config.h" // the architectures built in

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common.cuh"

extern "C" {
#include "xmalloc.h"
}

static double
gpu_gib(size_t bytes)
{
    return (double)bytes / (double)(1ull << 30);
}

// gpu_report with the sizes given (allocations and copies, which run inside other ops).
static void
gpu_report_sized(gpu_ctx *g, const char *what, const char *sizes, const char *error,
                 const char *hint)
{
    char *msg = gpumsg_failure(what, sizes, g != NULL ? g->name : "the GPU", error, hint);
    if (g == NULL || !(g->loading || g->keep))
        fatal("%s", msg); // restores the terminal first
    if (g->failure == NULL)
        g->failure = msg; // the first failure is the cause; later ones follow from it
    else
        free(msg);
}

void
gpu_report(gpu_ctx *g, const char *what, const char *error, const char *hint)
{
    gpu_report_sized(g, what, g != NULL ? g->sizes : NULL, error, hint);
}

// gpu_fail with the sizes given.
static void
gpu_fail_sized(gpu_ctx *g, cudaError_t err, const char *what, const char *sizes)
{
    // kernels run asynchronously: a fault shows at the next call that waits for the device
    int hint = g != NULL && !g->sync_each &&
               (err == cudaErrorIllegalAddress || err == cudaErrorLaunchFailure ||
                err == cudaErrorMisalignedAddress || err == cudaErrorIllegalInstruction ||
                err == cudaErrorHardwareStackError || err == cudaErrorAssert);
    char error[256];
    snprintf(error, sizeof error, "%s (%s)", cudaGetErrorString(err), cudaGetErrorName(err));
    gpu_report_sized(g, what, sizes, error,
                     hint ? "it may come from an earlier kernel, IMP_CUDA_SYNC=1 names the one "
                            "that failed"
                          : NULL);
}

void
gpu_fail(gpu_ctx *g, cudaError_t err, const char *what)
{
    gpu_fail_sized(g, err, what, g != NULL ? g->sizes : NULL);
}

int
gpu_begin(gpu_ctx *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->sizes, sizeof g->sizes, fmt, ap);
    va_end(ap);
    return g->failure == NULL;
}

void
gpu_check_blas(gpu_ctx *g, cublasStatus_t st, const char *what)
{
    if (st != CUBLAS_STATUS_SUCCESS) {
        char error[160];
        snprintf(error, sizeof error, "%s (cuBLAS status %d)", cublasGetStatusString(st), (int)st);
        gpu_report(g, what, error, NULL);
    }
}

void
gpu_check_launch(gpu_ctx *g, const char *kernel)
{
    char what[160];
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess && gpu_injected(g, GPUMSG_FAIL_KERNEL))
        err = cudaErrorLaunchFailure;
    if (err != cudaSuccess) {
        snprintf(what, sizeof what, "launching the %s kernel", kernel);
        gpu_fail(g, err, what);
    }
    if (g->sync_each) {
        snprintf(what, sizeof what, "the %s kernel", kernel);
        gpu_check(g, cudaStreamSynchronize(g->stream), what);
    }
}

unsigned int
gpu_blocks(size_t n, int threads)
{
    // enough blocks to fill any current GPU; grid-stride loops cover the rest
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b > 65536)
        b = 65536;
    return b > 0 ? (unsigned int)b : 1u;
}

void
gpu_grow(gpu_ctx *g, void **buf, size_t *cap, size_t bytes, const char *what)
{
    if (*buf != NULL && *cap >= bytes)
        return;
    if (*buf != NULL)
        gpu_free(g, *buf);
    *buf = gpu_alloc(g, bytes, what);
    *cap = bytes;
}

// An empty kernel: asking for its attributes tells whether this build has code for the device.
__global__ void
gpu_probe_kernel(void)
{
}

// "13.0" from 13000.
static void
gpu_version(char *buf, size_t size, int v)
{
    snprintf(buf, size, "%d.%d", v / 1000, (v % 1000) / 10);
}

extern "C" gpu_ctx *
gpu_ctx_new(size_t need, char **why)
{
    int drv = 0, rt = 0, n = 0;
    char drv_s[16], rt_s[16];
    cudaError_t err = cudaRuntimeGetVersion(&rt);
    if (err != cudaSuccess) {
        log_cause(why, "cudaRuntimeGetVersion: %s", cudaGetErrorString(err));
        return NULL;
    }
    err = cudaDriverGetVersion(&drv);
    if (err != cudaSuccess) {
        log_cause(why, "cudaDriverGetVersion: %s", cudaGetErrorString(err));
        return NULL;
    }
    gpu_version(rt_s, sizeof rt_s, rt);
    gpu_version(drv_s, sizeof drv_s, drv);
    if (drv == 0) {
        log_cause(why, "no NVIDIA driver is installed (this build uses the CUDA %s runtime)", rt_s);
        return NULL;
    }
    // the same major version runs through CUDA's minor version compatibility
    if (drv / 1000 < rt / 1000) {
        log_cause(why,
                  "the NVIDIA driver supports CUDA %s, older than the CUDA %s runtime of this "
                  "build: update the driver",
                  drv_s, rt_s);
        return NULL;
    }
    err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        log_cause(why, "cudaGetDeviceCount: %s (driver for CUDA %s, runtime %s)",
                  cudaGetErrorString(err), drv_s, rt_s);
        return NULL;
    }
    if (n == 0) {
        log_cause(why, "no CUDA device found");
        return NULL;
    }
    cudaDeviceProp prop;
    if ((err = cudaSetDevice(0)) != cudaSuccess ||
        (err = cudaGetDeviceProperties(&prop, 0)) != cudaSuccess) {
        log_cause(why, "opening CUDA device 0: %s", cudaGetErrorString(err));
        return NULL;
    }
    // decided from the list built in, then confirmed by the driver (which also sees "native")
    cudaFuncAttributes attr;
    if (!gpumsg_covers(IMP_CUDA_SASS, IMP_CUDA_PTX, prop.major, prop.minor) ||
        cudaFuncGetAttributes(&attr, gpu_probe_kernel) != cudaSuccess) {
        cudaGetLastError();
        char *msg = gpumsg_uncovered(prop.name, prop.major, prop.minor, IMP_CUDA_SASS, IMP_CUDA_PTX);
        log_cause(why, "%s", msg);
        free(msg);
        return NULL;
    }
    gpumsg_fail inject = GPUMSG_FAIL_NONE;
    long inject_from = 0;
    if (gpumsg_parse_fail(getenv("IMP_CHAT_CUDA_FAIL"), &inject, &inject_from, why) != 0)
        return NULL;
    size_t free_b = 0, total_b = 0;
    if ((err = cudaMemGetInfo(&free_b, &total_b)) != cudaSuccess) {
        log_cause(why, "cudaMemGetInfo on %s: %s", prop.name, cudaGetErrorString(err));
        return NULL;
    }
    if (need > free_b) {
        log_cause(why, "%s has %.2f GiB of memory free, but the model needs %.2f GiB", prop.name,
                  gpu_gib(free_b), gpu_gib(need));
        return NULL;
    }

    gpu_ctx *g = (gpu_ctx *)xcalloc(1, sizeof *g);
    g->device = 0;
    g->inject = inject;
    g->inject_from = inject_from;
    snprintf(g->name, sizeof g->name, "%s", prop.name);
    const char *sync = getenv("IMP_CUDA_SYNC");
    g->sync_each = sync != NULL && *sync != '\0' && strcmp(sync, "0") != 0;
    // small tiles make the tests run the tile loop on small matrices
    const char *tile = getenv("IMP_CUDA_DEQUANT_ROWS");
    g->dequant_rows = tile != NULL ? atoi(tile) : 0;
    if ((err = cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking)) != cudaSuccess) {
        log_cause(why, "cudaStreamCreate on %s: %s", prop.name, cudaGetErrorString(err));
        free(g);
        return NULL;
    }
    cublasStatus_t st = cublasCreate(&g->blas);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasSetStream(g->blas, g->stream);
    if (st != CUBLAS_STATUS_SUCCESS) {
        log_cause(why, "cublasCreate on %s: %s", prop.name, cublasGetStatusString(st));
        if (g->blas != NULL)
            cublasDestroy(g->blas);
        cudaStreamDestroy(g->stream);
        free(g);
        return NULL;
    }
    return g;
}

extern "C" void
gpu_ctx_free(gpu_ctx *g)
{
    if (g == NULL)
        return;
    void *bufs[] = {g->act16,  g->deq16,    g->ids,   g->s_work,     g->s_marks,
                    g->s_keys, g->s_sorted, g->s_cum, g->s_sort_tmp, g->s_out};
    if (g->failure != NULL) {
        // after a failure: release what can be released, report nothing more
        cudaStreamSynchronize(g->stream);
        for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
            if (bufs[i] != NULL)
                cudaFree(bufs[i]);
        cublasDestroy(g->blas);
        cudaStreamDestroy(g->stream);
        cudaGetLastError();
        free(g->failure);
        free(g);
        return;
    }
    gpu_sync(g, "finishing the queued work");
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        gpu_free(g, bufs[i]);
    gpu_check_blas(g, cublasDestroy(g->blas), "cublasDestroy");
    gpu_check(g, cudaStreamDestroy(g->stream), "cudaStreamDestroy");
    free(g);
}

extern "C" void *
gpu_alloc(gpu_ctx *g, size_t bytes, const char *what)
{
    void *p = NULL;
    if (g->failure != NULL)
        return NULL;
    // a zero-sized request still gets a distinct buffer, as on the CPU
    cudaError_t err = gpu_injected(g, GPUMSG_FAIL_ALLOC) ? cudaErrorMemoryAllocation
                                                     : cudaMalloc(&p, bytes > 0 ? bytes : 4);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaGetLastError(); // clear the allocation error before asking for the sizes
        cudaMemGetInfo(&free_b, &total_b);
        char op[300], error[200], sizes[32];
        snprintf(op, sizeof op, "allocating %s", what);
        snprintf(sizes, sizeof sizes, "%.1f MiB", (double)bytes / (1 << 20));
        snprintf(error, sizeof error, "%s (%s); %.2f GiB of %.2f GiB are free",
                 cudaGetErrorString(err), cudaGetErrorName(err), gpu_gib(free_b),
                 gpu_gib(total_b));
        gpu_report_sized(g, op, sizes, error, NULL);
        return NULL;
    }
    return p;
}

extern "C" void
gpu_free(gpu_ctx *g, void *dev)
{
    if (dev == NULL)
        return;
    if (g->failure != NULL) {
        cudaFree(dev); // best effort: the device may be unusable
        cudaGetLastError();
        return;
    }
    // kernels queued before may still read the buffer
    gpu_check(g, cudaStreamSynchronize(g->stream), "waiting for the device before cudaFree");
    gpu_check(g, cudaFree(dev), "cudaFree");
}

extern "C" void
gpu_load_begin(gpu_ctx *g)
{
    g->loading = 1;
}

extern "C" void
gpu_keep_failures(gpu_ctx *g)
{
    g->keep = 1;
}

extern "C" int
gpu_failed(const gpu_ctx *g, char **why)
{
    if (g->failure == NULL)
        return 0;
    log_cause(why, "%s", g->failure);
    return -1;
}

extern "C" void
gpu_refuse(gpu_ctx *g, const char *msg)
{
    if (!(g->loading || g->keep))
        fatal("%s", msg);
    if (g->failure == NULL)
        g->failure = xstrdup(msg);
}

extern "C" int
gpu_load_end(gpu_ctx *g, char **why)
{
    g->loading = 0;
    if (g->failure == NULL)
        return 0;
    log_cause(why, "%s", g->failure);
    return -1;
}

// One asynchronous copy on the stream, named "copying WHAT DIRECTION" in errors; wait: finish it.
static void
gpu_memcpy(gpu_ctx *g, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind,
           const char *what, const char *direction, int wait)
{
    char op[200], sizes[32];
    cudaError_t err;
    if (g->failure != NULL)
        return;
    snprintf(op, sizeof op, "copying %s %s", what, direction);
    snprintf(sizes, sizeof sizes, "%zu bytes", bytes);
    if ((err = cudaMemcpyAsync(dst, src, bytes, kind, g->stream)) != cudaSuccess ||
        (wait && (err = cudaStreamSynchronize(g->stream)) != cudaSuccess))
        gpu_fail_sized(g, err, op, sizes);
}

extern "C" void
gpu_upload(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what)
{
    // from pageable memory the call returns once src has been staged, so src may be reused
    gpu_memcpy(g, dst, src, bytes, cudaMemcpyHostToDevice, what, "to the device", g->sync_each);
}

extern "C" void
gpu_download(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what)
{
    gpu_memcpy(g, dst, src, bytes, cudaMemcpyDeviceToHost, what, "from the device", 1);
}

extern "C" void
gpu_copy(gpu_ctx *g, void *dst, const void *src, size_t bytes, const char *what)
{
    gpu_memcpy(g, dst, src, bytes, cudaMemcpyDeviceToDevice, what, "on the device", g->sync_each);
}

extern "C" void
gpu_sync(gpu_ctx *g, const char *what)
{
    if (g->failure != NULL)
        return;
    gpu_check(g, cudaStreamSynchronize(g->stream), what);
}
