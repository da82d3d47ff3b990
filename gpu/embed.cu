// Embedding lookup (token ids to rows of the fp16 table) and SigLIP's patch embedding.
#include "common.cuh"

#define EMBED_THREADS 256

__global__ void __launch_bounds__(EMBED_THREADS)
embed_rows_kernel(float *y, const int32_t *ids, const __half *table, int n, int dim)
{
    size_t total = (size_t)n * dim;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        size_t i = t / (size_t)dim, d = t % (size_t)dim;
        y[t] = __half2float(table[(size_t)ids[i] * dim + d]);
    }
}

// patches (grid*grid, 3*patch*patch) in fp16, each row ordered (channel, ky, kx) like the conv
// weight; pixels past grid*patch are never read.
__global__ void __launch_bounds__(EMBED_THREADS)
embed_im2col_kernel(__half *patches, const float *pixels, int image, int patch)
{
    int grid = image / patch;
    int plen = 3 * patch * patch;
    size_t total = (size_t)grid * grid * plen;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int p = (int)(t / (size_t)plen), e = (int)(t % (size_t)plen);
        int c = e / (patch * patch), ky = (e / patch) % patch, kx = e % patch;
        int pr = p / grid, pc = p % grid;
        size_t src = ((size_t)c * image + (size_t)(pr * patch + ky)) * image + (size_t)(pc * patch + kx);
        patches[t] = __float2half_rn(pixels[src]);
    }
}

// y (npatch, dim) = (y + b) + pos, in the CPU's order.
__global__ void __launch_bounds__(EMBED_THREADS)
embed_bias_pos_kernel(float *y, const float *b, const __half *pos, size_t n, int dim)
{
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < n;
         t += (size_t)gridDim.x * blockDim.x)
        y[t] = (y[t] + b[t % (size_t)dim]) + __half2float(pos[t]);
}

extern "C" void
gpu_embed(gpu_ctx *g, float *y, const int32_t *ids, int n, const uint16_t *table, int dim)
{
    if (!gpu_begin(g, "embedding of %d ids, dim %d", n, dim))
        return;
    if (n <= 0)
        return;
    gpu_grow(g, (void **)&g->ids, &g->ids_bytes, (size_t)n * sizeof(int32_t), "token ids");
    gpu_upload(g, g->ids, ids, (size_t)n * sizeof(int32_t), "token ids");
    size_t total = (size_t)n * dim;
    embed_rows_kernel<<<gpu_blocks(total, EMBED_THREADS), EMBED_THREADS, 0, g->stream>>>(
        y, g->ids, (const __half *)table, n, dim);
    gpu_check_launch(g, "embedding lookup");
}

extern "C" void
gpu_patch_embed(gpu_ctx *g, float *y, const float *pixels, int image, int patch, int dim,
                const uint16_t *w, const float *b, const uint16_t *pos)
{
    if (!gpu_begin(g, "patch embedding of a %dx%d image, patch %d, dim %d", image, image, patch,
                   dim))
        return;
    int grid = image / patch;
    int npatch = grid * grid, plen = 3 * patch * patch;
    size_t n = (size_t)npatch * plen;
    // the reference casts the pixels to fp16 before the convolution, as this does
    gpu_grow(g, (void **)&g->act16, &g->act16_bytes, n * sizeof(__half),
             "the fp16 image patches");
    embed_im2col_kernel<<<gpu_blocks(n, EMBED_THREADS), EMBED_THREADS, 0, g->stream>>>(
        g->act16, pixels, image, patch);
    gpu_check_launch(g, "patch extraction");
    gpu_gemm_f16(g, y, dim, g->act16, npatch, plen, dim, (const __half *)w);
    size_t ny = (size_t)npatch * dim;
    embed_bias_pos_kernel<<<gpu_blocks(ny, EMBED_THREADS), EMBED_THREADS, 0, g->stream>>>(
        y, b, (const __half *)pos, ny, dim);
    gpu_check_launch(g, "patch bias and position embedding");
}
