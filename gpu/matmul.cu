// Matrix products y = x W^T + b with fp16 weights as shipped and fp32 accumulation.
//
// The op table's activations are fp32, and cuBLAS multiplies two matrices of one type, so for
// rows > 1 the input is rounded to fp16 (as the reference model's activations are) and
// cublasGemmEx multiplies fp16 by fp16 into fp32 with fp32 accumulation. For one row (decoding) a
// warp per output row reads the weights once; it rounds the input to fp16 the same way, so a token
// gives the same values whether it is decoded or part of a prompt (up to summation order).
#include "common.cuh"

// Threads per block of the matrix-vector kernel: one warp per output row.
#define GEMV_THREADS 256
// Threads per block of the elementwise kernels here.
#define MM_THREADS 256

__global__ void __launch_bounds__(MM_THREADS)
mm_to_f16_kernel(__half *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2half_rn(src[i]);
}

__global__ void __launch_bounds__(MM_THREADS)
mm_bias_kernel(float *y, const float *b, size_t n, int out)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += b[i % (size_t)out];
}

// y (out) = x (in) . W^T + b: warp w of the grid computes output row w. VEC: rows are read 8 fp16
// values (16 bytes) at a time, which needs in % 8 == 0 and a 16-byte aligned W.
template <bool VEC>
__global__ void __launch_bounds__(GEMV_THREADS)
mm_gemv_kernel(float *y, const float *x, const __half *w, const float *b, int in, int out)
{
    int row = (int)((blockIdx.x * (unsigned int)GEMV_THREADS + threadIdx.x) >> 5);
    int lane = (int)(threadIdx.x & 31);
    if (row >= out)
        return; // the whole warp leaves together: no shuffle below misses a lane
    const __half *wr = w + (size_t)row * in;
    float s = 0.0f;
    if (VEC) {
        const uint4 *w8 = (const uint4 *)wr;
        int n8 = in / 8;
        for (int i = lane; i < n8; i += 32) {
            uint4 pack = w8[i];
            __half2 h[4];
            memcpy(h, &pack, sizeof h);
            const float *xs = x + (size_t)i * 8;
            for (int t = 0; t < 4; t++) {
                float2 wf = __half22float2(h[t]);
                s += wf.x * gpu_round16(xs[2 * t]);
                s += wf.y * gpu_round16(xs[2 * t + 1]);
            }
        }
    } else {
        for (int i = lane; i < in; i += 32)
            s += __half2float(wr[i]) * gpu_round16(x[i]);
    }
    for (int off = 16; off > 0; off >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0)
        y[row] = b != NULL ? s + b[row] : s;
}

void
gpu_gemm_f16(gpu_ctx *g, float *y, const __half *x16, int rows, int in, int out, const __half *w)
{
    // row-major y (rows, out) is column-major y^T (out, rows) = W (out, in) . x^T (in, rows);
    // row-major W (out, in) read as column-major is W^T, hence the transpose on A
    const float alpha = 1.0f, beta = 0.0f;
    char what[96];
    snprintf(what, sizeof what, "the matrix product %d x %d -> %d (cublasGemmEx)", rows, in, out);
    cublasStatus_t st = gpu_injected(g, GPUMSG_FAIL_CUBLAS)
                            ? CUBLAS_STATUS_EXECUTION_FAILED
                            : cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &alpha,
                                           w, CUDA_R_16F, in, x16, CUDA_R_16F, in, &beta, y,
                                           CUDA_R_32F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    gpu_check_blas(g, st, what);
    if (g->sync_each)
        gpu_check(g, cudaStreamSynchronize(g->stream), what);
}

extern "C" void
gpu_linear(gpu_ctx *g, float *y, const float *x, int rows, int in, int out, const uint16_t *w,
           const float *b)
{
    const __half *wh = (const __half *)w;
    if (rows <= 0 || out <= 0 ||
        !gpu_begin(g, "rows %d, in %d, out %d%s", rows, in, out, b != NULL ? ", bias" : ""))
        return;
    if (rows == 1) {
        unsigned int blocks = (unsigned int)(((size_t)out * 32 + GEMV_THREADS - 1) / GEMV_THREADS);
        if (in % 8 == 0 && ((uintptr_t)w & 15) == 0)
            mm_gemv_kernel<true><<<blocks, GEMV_THREADS, 0, g->stream>>>(y, x, wh, b, in, out);
        else
            mm_gemv_kernel<false><<<blocks, GEMV_THREADS, 0, g->stream>>>(y, x, wh, b, in, out);
        gpu_check_launch(g, "matrix-vector product");
        return;
    }
    size_t n = (size_t)rows * in;
    gpu_grow(g, (void **)&g->act16, &g->act16_bytes, n * sizeof(__half),
             "the fp16 copy of a matrix product's input");
    mm_to_f16_kernel<<<gpu_blocks(n, MM_THREADS), MM_THREADS, 0, g->stream>>>(g->act16, x, n);
    gpu_check_launch(g, "fp32 to fp16 conversion");
    gpu_gemm_f16(g, y, g->act16, rows, in, out, wh);
    if (b != NULL) {
        size_t ny = (size_t)rows * out;
        mm_bias_kernel<<<gpu_blocks(ny, MM_THREADS), MM_THREADS, 0, g->stream>>>(y, b, ny, out);
        gpu_check_launch(g, "bias");
    }
}
