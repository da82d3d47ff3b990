// CUDA on the CPU: force-included (g++ -include) before each gpu/*.cu compiled as C++ after
// cufilter.pl has turned its launches and __shared__ variables into the calls below. The real
// toolkit headers give the types (dim3, __half, cudaDeviceProp, cuBLAS enums); runtime.cc gives
// the functions. Each CUDA thread runs as its own fiber, so barriers and warp exchanges are real.
#ifndef CUDAEMU_H
#define CUDAEMU_H

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <utility>

// device code is host code here
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

// What the running fiber (one CUDA thread) sees.
struct cudaemu_thread {
    uint3 thread_idx;
    int lane, warp;
};
extern cudaemu_thread *cudaemu_cur;
extern uint3 cudaemu_block_idx;
extern dim3 cudaemu_block_dim, cudaemu_grid_dim;
extern unsigned long cudaemu_block_epoch;

#define threadIdx (cudaemu_cur->thread_idx)
#define blockIdx (cudaemu_block_idx)
#define blockDim (cudaemu_block_dim)
#define gridDim (cudaemu_grid_dim)
static const int warpSize = 32;

void cudaemu_syncthreads(void);
#define __syncthreads() cudaemu_syncthreads()
// All lanes of mask meet; out[l] receives lane l's value. Reports a lane outside its own mask,
// lanes that disagree on the mask, and (through the scheduler) a lane that never arrives.
void cudaemu_warp_exchange(unsigned mask, uint64_t value, uint64_t out[32], const char *what);
// Reports a shuffle reading a lane outside the mask.
void cudaemu_shfl_source(unsigned mask, int src, const char *what);

template <class T>
static inline T
cudaemu_shfl(unsigned mask, T v, int src, const char *what)
{
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    uint64_t mine = 0, all[32];
    memcpy(&mine, &v, sizeof v);
    cudaemu_shfl_source(mask, src, what);
    cudaemu_warp_exchange(mask, mine, all, what);
    T r;
    memcpy(&r, &all[src], sizeof r);
    return r;
}
template <class T>
static inline T
__shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    int lane = cudaemu_cur->lane;
    int src = (lane & ~(width - 1)) | ((lane ^ lane_mask) & (width - 1));
    return cudaemu_shfl(mask, v, src, "__shfl_xor_sync");
}
template <class T>
static inline T
__shfl_sync(unsigned mask, T v, int src_lane, int width = 32)
{
    int lane = cudaemu_cur->lane;
    return cudaemu_shfl(mask, v, (lane & ~(width - 1)) | (src_lane & (width - 1)), "__shfl_sync");
}
template <class T>
static inline T
__shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int lane = cudaemu_cur->lane, base = lane & ~(width - 1);
    int src = lane + (int)delta < base + width ? lane + (int)delta : lane;
    return cudaemu_shfl(mask, v, src, "__shfl_down_sync");
}
template <class T>
static inline T
__shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    int lane = cudaemu_cur->lane, base = lane & ~(width - 1);
    int src = lane - (int)delta >= base ? lane - (int)delta : lane;
    return cudaemu_shfl(mask, v, src, "__shfl_up_sync");
}
static inline unsigned
__ballot_sync(unsigned mask, int pred)
{
    uint64_t all[32];
    cudaemu_warp_exchange(mask, pred != 0, all, "__ballot_sync");
    unsigned r = 0;
    for (int l = 0; l < 32; l++)
        if ((mask >> l) & 1u && all[l])
            r |= 1u << l;
    return r;
}
static inline int
__any_sync(unsigned mask, int pred)
{
    return __ballot_sync(mask, pred) != 0;
}
static inline int
__all_sync(unsigned mask, int pred)
{
    return __ballot_sync(mask, pred) == mask;
}

// Fibers switch only at barriers and warp exchanges: atomics are plain read-modify-writes.
template <class T, class U>
static inline T
atomicAdd(T *p, U v)
{
    T o = *p;
    *p = (T)(o + (T)v);
    return o;
}
template <class T, class U>
static inline T
atomicExch(T *p, U v)
{
    T o = *p;
    *p = (T)v;
    return o;
}
template <class T, class U>
static inline T
atomicMin(T *p, U v)
{
    T o = *p;
    if ((T)v < o)
        *p = (T)v;
    return o;
}
template <class T, class U>
static inline T
atomicMax(T *p, U v)
{
    T o = *p;
    if ((T)v > o)
        *p = (T)v;
    return o;
}
template <class T, class U, class V>
static inline T
atomicCAS(T *p, U cmp, V v)
{
    T o = *p;
    if (o == (T)cmp)
        *p = (T)v;
    return o;
}

#define __expf(x) expf(x)
#define __logf(x) logf(x)
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
static inline int __float_as_int(float f) { int u; memcpy(&u, &f, 4); return u; }
static inline float __int_as_float(int u) { float f; memcpy(&f, &u, 4); return f; }
// the template nvcc's headers give device code
template <class T>
static inline cudaError_t
cudaFuncGetAttributes(cudaFuncAttributes *attr, T *fn)
{
    return cudaFuncGetAttributes(attr, (const void *)fn);
}
static inline float __fdividef(float a, float b) { return a / b; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
#ifndef CUDAEMU_HAVE_MINMAX
template <class T>
static inline T
min(T a, T b)
{
    return b < a ? b : a;
}
template <class T>
static inline T
max(T a, T b)
{
    return a < b ? b : a;
}
#endif

// A launch: where it is in the source, its shape, and a body each fiber runs.
struct cudaemu_launch_info {
    const char *file;
    int line;
    const char *kernel;
    dim3 grid, block;
    size_t shared_bytes;
    cudaStream_t stream;
};
void cudaemu_run(const cudaemu_launch_info &info, void (*body)(void *), void *ctx);
// Reports a kernel argument that is not a device pointer (nor NULL).
void cudaemu_check_pointer(const cudaemu_launch_info &info, int index, const void *p);

template <class T>
static inline void
cudaemu_check_param(const cudaemu_launch_info &, int, const T &)
{
}
template <class T>
static inline void
cudaemu_check_param(const cudaemu_launch_info &info, int index, T *p)
{
    cudaemu_check_pointer(info, index, (const void *)p);
}

template <class... P> struct cudaemu_bound {
    cudaemu_launch_info info;
    void (*fn)(P...);
    template <class Tuple, size_t... I>
    void check(const Tuple &t, std::index_sequence<I...>)
    {
        (cudaemu_check_param(info, (int)I + 1, std::get<I>(t)), ...);
    }
    template <class... A> void operator()(A &&...a)
    {
        struct ctx_t {
            void (*fn)(P...);
            std::tuple<P...> args;
        } ctx{fn, std::tuple<P...>(std::forward<A>(a)...)};
        check(ctx.args, std::index_sequence_for<P...>{});
        cudaemu_run(
            info, [](void *c) { auto *x = (ctx_t *)c; std::apply(x->fn, x->args); }, &ctx);
    }
};

struct cudaemu_launcher {
    cudaemu_launch_info info;
    template <class... P> cudaemu_bound<P...> go(void (*fn)(P...)) { return {info, fn}; }
};

static inline cudaemu_launcher
cudaemu_launch(const char *file, int line, const char *kernel, dim3 grid, dim3 block,
               size_t shared_bytes = 0, cudaStream_t stream = 0)
{
    return {{file, line, kernel, grid, block, shared_bytes, stream}};
}

// A __shared__ variable: one copy per block, filled with 0xff bytes (NaN, -1) when a block
// first touches it, as stale or uninitialised shared memory would read.
template <class T> struct cudaemu_shared {
    alignas(16) unsigned char bytes[sizeof(T)];
    unsigned long epoch = ~0ul;
    T &get()
    {
        if (epoch != cudaemu_block_epoch) {
            memset(bytes, 0xff, sizeof bytes);
            epoch = cudaemu_block_epoch;
        }
        return *reinterpret_cast<T *>(bytes);
    }
};

#endif
