// What the .cu files share: the device context, error checks, scratch buffers and block reductions.
#ifndef IMP_COMMON_CUH
#define IMP_COMMON_CUH

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpu.h"

extern "C" {
#include "gpumsg.h"
#include "log.h"
}

struct gpu_ctx {
    int device;
    char name[256];
    cudaStream_t stream;
    cublasHandle_t blas;
    int sync_each; // IMP_CUDA_SYNC set: wait after every launch, so a fault names its kernel
    gpumsg_fail inject; // IMP_CHAT_CUDA_FAIL: the failure to report instead of calling the device
    long inject_from;   // ... from this sampled token on (0: from the start)
    long samples;       // sampling calls so far (the one running included)
    char sizes[160];    // the sizes of the op running, for the failure message
    // between gpu_load_begin and gpu_load_end, a failure is kept here (the first one) instead of
    // ending the program, so that --backend auto can go on with the CPU
    int loading;
    // gpu_keep_failures: failures after loading are kept too, for --backend auto to go on with
    // the CPU in the middle of a conversation
    int keep;
    char *failure;

    // scratch, grown on demand; contents are not kept between ops
    __half *act16; // fp16 copy of a matrix product's input
    size_t act16_bytes;
    __half *deq16; // fp16 tile of a quantized matrix (gpu_linear_q)
    size_t deq16_bytes;
    int dequant_rows; // IMP_CUDA_DEQUANT_ROWS: rows per tile (0: 64 MiB worth)
    int32_t *ids; // token ids of an embedding lookup, seen ids of a sampling step
    size_t ids_bytes;
    float *s_work; // (n) penalised logits
    size_t s_work_bytes;
    int *s_marks; // (n) ids already penalised
    size_t s_marks_bytes;
    unsigned long long *s_keys; // (n) sort keys, then sorted
    size_t s_keys_bytes;
    unsigned long long *s_sorted;
    size_t s_sorted_bytes;
    unsigned long long *s_cum; // (n) running sums of the weights
    size_t s_cum_bytes;
    void *s_sort_tmp; // the sort's workspace
    size_t s_sort_tmp_bytes;
    int32_t *s_out; // the chosen id
    size_t s_out_bytes;
};

// Whether IMP_CHAT_CUDA_FAIL asks for a failure of this kind now.
static inline bool
gpu_injected(const gpu_ctx *g, gpumsg_fail kind)
{
    return g->inject == kind && g->samples >= g->inject_from;
}

// Report a failure of the operation what (with the op's sizes and the card): fatal, or kept
// while loading. error says what went wrong, hint (or NULL) what to do.
void gpu_report(gpu_ctx *g, const char *what, const char *error, const char *hint);
// Report a CUDA error in the operation what, with the runtime's error name and text.
void gpu_fail(gpu_ctx *g, cudaError_t err, const char *what);
// Record the sizes of the op that starts, for its failure message; 0 when the device already
// failed while loading (the op is then skipped).
int gpu_begin(gpu_ctx *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Check a CUDA call's result.
static inline void
gpu_check(gpu_ctx *g, cudaError_t err, const char *what)
{
    if (err != cudaSuccess)
        gpu_fail(g, err, what);
}
// Check a cuBLAS call's result.
void gpu_check_blas(gpu_ctx *g, cublasStatus_t st, const char *what);
// Check a kernel launch (and wait for it under IMP_CUDA_SYNC).
void gpu_check_launch(gpu_ctx *g, const char *kernel);
// Make *buf hold at least bytes (old contents dropped).
void gpu_grow(gpu_ctx *g, void **buf, size_t *cap, size_t bytes, const char *what);
// Blocks for a grid-stride loop over n elements with threads per block.
unsigned int gpu_blocks(size_t n, int threads);
// y (rows, out) = x16 (rows, in) . W^T in fp32 through cuBLAS (no bias), y's rows ldy apart.
void gpu_gemm_f16(gpu_ctx *g, float *y, int ldy, const __half *x16, int rows, int in, int out,
                  const __half *w);

// Round a float to fp16 and back: what a matrix product sees of an activation.
__device__ __forceinline__ float
gpu_round16(float v)
{
    return __half2float(__float2half_rn(v));
}

// Sum of v over the block, the same value in every thread (blockDim.x a multiple of 32).
// red holds 32 floats of shared memory; the call begins with a barrier, so red can be reused.
__device__ __forceinline__ float
gpu_block_sum(float v, float *red)
{
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        red[threadIdx.x >> 5] = v;
    __syncthreads();
    // every thread adds the warps' sums in the same order: identical results everywhere
    float s = red[0];
    for (unsigned int w = 1; w < (blockDim.x >> 5); w++)
        s += red[w];
    return s;
}

// Maximum of v over the block, the same value in every thread (see gpu_block_sum).
__device__ __forceinline__ float
gpu_block_max(float v, float *red)
{
    for (int off = 16; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    __syncthreads();
    if ((threadIdx.x & 31) == 0)
        red[threadIdx.x >> 5] = v;
    __syncthreads();
    float m = red[0];
    for (unsigned int w = 1; w < (blockDim.x >> 5); w++)
        m = fmaxf(m, red[w]);
    return m;
}

#endif
