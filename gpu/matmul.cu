// Matrix products y = x W^T + b with fp16 weights as shipped and fp32 accumulation.
//
// The op table's activations are fp32, and cuBLAS multiplies two matrices of one type, so for
// rows > 1 the input is rounded to fp16 (as the reference model's activations are) and
// cublasGemmEx multiplies fp16 by fp16 into fp32 with fp32 accumulation. For one row (decoding) a
// warp per output row reads the weights once; it rounds the input to fp16 the same way, so a token
// gives the same values whether it is decoded or part of a prompt (up to summation order).
//
// Quantized weights (quant.h) take the same two paths. One row: a warp per output row streams the
// row's values once in 16-byte loads and dequantizes them in registers (d * v exactly in fp32).
// More rows: a tile of output rows at a time is dequantized into fp16 for the same cublasGemmEx.
// Rounding d * v to fp16 costs at most 2^-11 of the weight, a tenth or less of the quantization
// error (a q8 step is up to 1/127 of its block's largest weight, a q4 step 1/8), and it is the
// same rounding the f16 weights went through; the loader refuses a matrix whose d * v could
// exceed fp16's range (backend_cuda.c).
#include "common.cuh"

// Threads per block of the matrix-vector kernel: one warp per output row.
#define GEMV_THREADS 256
// Threads per block of the elementwise kernels here.
#define MM_THREADS 256
// Bytes of fp16 tile a quantized matrix is dequantized into at a time for rows > 1: Phi-2's fc1
// and fc2 fit whole, lm_head (51200 x 2560, 250 MiB in fp16) takes four tiles.
#define MM_TILE_BYTES ((size_t)64 << 20)

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

// g->act16 (n) = x (n) rounded to fp16: the input of a cuBLAS product.
static void
mm_input_f16(gpu_ctx *g, const float *x, size_t n)
{
    gpu_grow(g, (void **)&g->act16, &g->act16_bytes, n * sizeof(__half),
             "the fp16 copy of a matrix product's input");
    mm_to_f16_kernel<<<gpu_blocks(n, MM_THREADS), MM_THREADS, 0, g->stream>>>(g->act16, x, n);
    gpu_check_launch(g, "fp32 to fp16 conversion");
}

// y (rows, out) += b (out), when there is a bias.
static void
mm_bias(gpu_ctx *g, float *y, const float *b, int rows, int out)
{
    if (b == NULL)
        return;
    size_t ny = (size_t)rows * out;
    mm_bias_kernel<<<gpu_blocks(ny, MM_THREADS), MM_THREADS, 0, g->stream>>>(y, b, ny, out);
    gpu_check_launch(g, "bias");
}

void
gpu_gemm_f16(gpu_ctx *g, float *y, int ldy, const __half *x16, int rows, int in, int out,
             const __half *w)
{
    // row-major y (rows, ldy) is column-major y^T (ldy, rows) = W (out, in) . x^T (in, rows) in
    // its first out rows; row-major W (out, in) read as column-major is W^T, hence the transpose
    const float alpha = 1.0f, beta = 0.0f;
    char what[96];
    snprintf(what, sizeof what, "the matrix product %d x %d -> %d (cublasGemmEx)", rows, in, out);
    cublasStatus_t st = gpu_injected(g, GPUMSG_FAIL_CUBLAS)
                            ? CUBLAS_STATUS_EXECUTION_FAILED
                            : cublasGemmEx(g->blas, CUBLAS_OP_T, CUBLAS_OP_N, out, rows, in, &alpha,
                                           w, CUDA_R_16F, in, x16, CUDA_R_16F, in, &beta, y,
                                           CUDA_R_32F, ldy, CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT);
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
    mm_input_f16(g, x, (size_t)rows * in);
    gpu_gemm_f16(g, y, out, g->act16, rows, in, out, wh);
    mm_bias(g, y, b, rows, out);
}

// 16-byte groups of values and the weights in each: q8 group i holds elements 16i..16i+15 of a
// row (block i / 2); q4 group i is block i, byte j holding elements 32i+j and 32i+j+16.
#define MM_GROUP(bits) ((bits) == 8 ? 16 : 32)
#define MM_GROUP_BLOCK(bits, i) ((bits) == 8 ? (i) / 2 : (i))

// The weights of one group: the values times their block's scale d, exactly in fp32.
template <int BITS>
__device__ __forceinline__ void
mm_dequant_group(float *wq, uint4 pack, float d)
{
    uint8_t v[16];
    memcpy(v, &pack, sizeof v);
    for (int t = 0; t < 16; t++) {
        if constexpr (BITS == 8) {
            wq[t] = d * (float)(int8_t)v[t];
        } else {
            wq[t] = d * (float)((int)(v[t] & 15) - 8);
            wq[t + 16] = d * (float)((int)(v[t] >> 4) - 8);
        }
    }
}

// y (out) = x (in) . W^T + b for a quantized W: warp w of the grid computes output row w, each
// lane a group at a time. Groups wholly past in hold only padding and are not read; x is read
// only below in. XVEC: x is 16-byte aligned and read 4 floats at a time (the same sums).
template <int BITS, bool XVEC>
__global__ void __launch_bounds__(GEMV_THREADS)
mm_gemv_q_kernel(float *y, const float *x, const uint8_t *qs, const __half *d, const float *b,
                 int in, int out, size_t row_bytes, int blocks)
{
    const int G = MM_GROUP(BITS);
    int row = (int)((blockIdx.x * (unsigned int)GEMV_THREADS + threadIdx.x) >> 5);
    int lane = (int)(threadIdx.x & 31);
    if (row >= out)
        return; // the whole warp leaves together: no shuffle below misses a lane
    const uint4 *wr = (const uint4 *)(qs + (size_t)row * row_bytes);
    const __half *dr = d + (size_t)row * blocks;
    int groups = (in + G - 1) / G;
    float s = 0.0f;
    for (int i = lane; i < groups; i += 32) {
        float wq[G];
        mm_dequant_group<BITS>(wq, wr[i], __half2float(dr[MM_GROUP_BLOCK(BITS, i)]));
        const float *xs = x + (size_t)i * G;
        int n = in - i * G < G ? in - i * G : G;
        if (XVEC && n == G) {
            for (int t = 0; t < G; t += 4) {
                float4 v = *(const float4 *)(xs + t);
                s += wq[t] * gpu_round16(v.x);
                s += wq[t + 1] * gpu_round16(v.y);
                s += wq[t + 2] * gpu_round16(v.z);
                s += wq[t + 3] * gpu_round16(v.w);
            }
        } else {
            // a fixed count keeps wq's indices constant, so it stays in registers
            for (int t = 0; t < G; t++)
                if (t < n)
                    s += wq[t] * gpu_round16(xs[t]);
        }
    }
    for (int off = 16; off > 0; off >>= 1)
        s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0)
        y[row] = b != NULL ? s + b[row] : s;
}

// tile (n, in) fp16 = rows r0..r0+n-1 of a quantized W, each weight d * v rounded to fp16; a thread
// per group, written 16 bytes at a time where the tile's rows allow it.
template <int BITS>
__global__ void __launch_bounds__(MM_THREADS)
mm_dequant_kernel(__half *tile, const uint8_t *qs, const __half *d, int r0, int n, int in,
                  size_t row_bytes, int blocks)
{
    const int G = MM_GROUP(BITS);
    int groups = (in + G - 1) / G;
    size_t total = (size_t)n * groups;
    for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < total;
         k += (size_t)gridDim.x * blockDim.x) {
        int r = (int)(k / groups), i = (int)(k % groups);
        size_t row = (size_t)r0 + r;
        float wq[G];
        mm_dequant_group<BITS>(wq, ((const uint4 *)(qs + row * row_bytes))[i],
                               __half2float(d[row * blocks + MM_GROUP_BLOCK(BITS, i)]));
        __half *dst = tile + (size_t)r * in + (size_t)i * G;
        int m = in - i * G < G ? in - i * G : G;
        if (m == G && in % 8 == 0) {
            for (int t = 0; t < G; t += 8) {
                __half h[8];
                for (int u = 0; u < 8; u++)
                    h[u] = __float2half_rn(wq[t + u]);
                uint4 pack;
                memcpy(&pack, h, sizeof pack);
                *(uint4 *)(dst + t) = pack;
            }
        } else {
            for (int t = 0; t < G; t++)
                if (t < m)
                    dst[t] = __float2half_rn(wq[t]);
        }
    }
}

// Launch the matrix-vector kernel of a quantized W, with x's reads as its alignment allows.
template <int BITS>
static void
mm_gemv_q(gpu_ctx *g, float *y, const float *x, const gpu_qmatrix *w, const float *b)
{
    unsigned int blocks = (unsigned int)(((size_t)w->rows * 32 + GEMV_THREADS - 1) / GEMV_THREADS);
    const __half *d = (const __half *)w->d;
    if (((uintptr_t)x & 15) == 0)
        mm_gemv_q_kernel<BITS, true><<<blocks, GEMV_THREADS, 0, g->stream>>>(
            y, x, w->qs, d, b, w->cols, w->rows, w->row_bytes, w->blocks);
    else
        mm_gemv_q_kernel<BITS, false><<<blocks, GEMV_THREADS, 0, g->stream>>>(
            y, x, w->qs, d, b, w->cols, w->rows, w->row_bytes, w->blocks);
}

// Output rows of a quantized matrix with in columns dequantized at a time.
static int
mm_tile_rows(const gpu_ctx *g, int in, int out)
{
    size_t rows = g->dequant_rows > 0 ? (size_t)g->dequant_rows
                                      : MM_TILE_BYTES / ((size_t)in * sizeof(__half));
    if (rows >= 128 && g->dequant_rows <= 0)
        rows -= rows % 128; // whole tiles of the GEMM
    if (rows < 1)
        rows = 1;
    return rows < (size_t)out ? (int)rows : out;
}

extern "C" void
gpu_linear_q(gpu_ctx *g, float *y, const float *x, int rows, const gpu_qmatrix *w, const float *b)
{
    int in = w->cols, out = w->rows;
    const __half *d = (const __half *)w->d;
    if (rows <= 0 || out <= 0 ||
        !gpu_begin(g, "rows %d, in %d, out %d, q%d%s", rows, in, out, w->bits,
                   b != NULL ? ", bias" : ""))
        return;
    if (rows == 1) {
        if (w->bits == 8)
            mm_gemv_q<8>(g, y, x, w, b);
        else
            mm_gemv_q<4>(g, y, x, w, b);
        gpu_check_launch(g, "quantized matrix-vector product");
        return;
    }
    mm_input_f16(g, x, (size_t)rows * in);
    int tile = mm_tile_rows(g, in, out);
    gpu_grow(g, (void **)&g->deq16, &g->deq16_bytes, (size_t)tile * in * sizeof(__half),
             "the fp16 tile of a quantized matrix");
    for (int r0 = 0; r0 < out; r0 += tile) {
        int n = out - r0 < tile ? out - r0 : tile;
        size_t groups = (size_t)n * ((in + MM_GROUP(w->bits) - 1) / MM_GROUP(w->bits));
        if (w->bits == 8)
            mm_dequant_kernel<8><<<gpu_blocks(groups, MM_THREADS), MM_THREADS, 0, g->stream>>>(
                g->deq16, w->qs, d, r0, n, in, w->row_bytes, w->blocks);
        else
            mm_dequant_kernel<4><<<gpu_blocks(groups, MM_THREADS), MM_THREADS, 0, g->stream>>>(
                g->deq16, w->qs, d, r0, n, in, w->row_bytes, w->blocks);
        gpu_check_launch(g, "dequantization");
        // the tile's products are rows r0.. of column-major y^T: y + r0 with y's row length
        gpu_gemm_f16(g, y + r0, out, g->act16, rows, in, n, g->deq16);
    }
    mm_bias(g, y, b, rows, out);
}
