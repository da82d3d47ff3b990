// Attention: bidirectional over fp32 q, k, v (SigLIP), and causal over the fp16 KV cache (Phi-2
// prefill and single-query decode). Scores, softmax and the weighted sum are fp32.
//
// The cache of one layer is (positions, heads*head_dim) fp16. Row r of a call at pos0 reads
// positions 0..pos0+r only, and those were written by kv_write before, so truncating the
// conversation is only a shorter length on the host: stale positions past it are never read until
// they are written again, and nothing on the device needs clearing.
#include "common.cuh"

// Threads per block, which is also the keys per tile and the largest head_dim.
#define ATT_THREADS 128

__device__ __forceinline__ float
att_load(const float *p)
{
    return *p;
}

__device__ __forceinline__ float
att_load(const __half *p)
{
    return __half2float(*p);
}

// One block per (query row, head), an online softmax over tiles of ATT_THREADS keys: thread t
// scores key t of the tile, thread d < head_dim accumulates output dim d. nkeys for row r is
// pos0 + r + 1 (causal, pos0 >= 0) or n_full (pos0 < 0). q and out rows are heads*hd apart, k and
// v rows ld apart.
template <typename KV>
__global__ void __launch_bounds__(ATT_THREADS)
att_kernel(float *out, const float *q, const KV *k, const KV *v, size_t ld, int heads, int hd,
           float scale, int pos0, int n_full)
{
    __shared__ float qs[ATT_THREADS];
    __shared__ float ps[ATT_THREADS];
    __shared__ float red[32];
    int r = (int)(blockIdx.x / (unsigned int)heads);
    int h = (int)(blockIdx.x % (unsigned int)heads);
    int tid = (int)threadIdx.x;
    size_t qd = (size_t)heads * hd;
    int nkeys = pos0 >= 0 ? pos0 + r + 1 : n_full;
    const KV *kh = k + (size_t)h * hd;
    const KV *vh = v + (size_t)h * hd;

    if (tid < hd)
        qs[tid] = q[(size_t)r * qd + (size_t)h * hd + tid];
    __syncthreads();

    float m = -INFINITY; // running maximum score
    float l = 0.0f;      // running sum of exp(score - m)
    float acc = 0.0f;    // thread d < hd: running sum of exp(score - m) * v[d]
    for (int t0 = 0; t0 < nkeys; t0 += ATT_THREADS) {
        int nt = min(ATT_THREADS, nkeys - t0);
        int j = t0 + tid;
        float s = -INFINITY;
        if (tid < nt) {
            const KV *kr = kh + (size_t)j * ld;
            float dot = 0.0f;
            for (int d = 0; d < hd; d++)
                dot += qs[d] * att_load(kr + d);
            s = dot * scale;
        }
        // tile 0 has at least one key, so m_new is finite from the first tile on
        float m_new = fmaxf(m, gpu_block_max(s, red));
        float p = tid < nt ? expf(s - m_new) : 0.0f;
        ps[tid] = p;
        float tile_sum = gpu_block_sum(p, red); // its barriers also publish ps
        float alpha = expf(m - m_new);          // 0 on the first tile (m = -inf)
        l = l * alpha + tile_sum;
        if (tid < hd) {
            float o = 0.0f;
            for (int jj = 0; jj < nt; jj++)
                o += ps[jj] * att_load(vh + (size_t)(t0 + jj) * ld + tid);
            acc = acc * alpha + o;
        }
        m = m_new;
        __syncthreads(); // ps is rewritten by the next tile
    }
    if (tid < hd)
        out[(size_t)r * qd + (size_t)h * hd + tid] = acc / l;
}

__global__ void __launch_bounds__(256)
att_kv_write_kernel(__half *kc, __half *vc, const float *k, const float *v, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        kc[i] = __float2half_rn(k[i]);
        vc[i] = __float2half_rn(v[i]);
    }
}

static void
att_check_shape(int heads, int head_dim, size_t blocks)
{
    if (head_dim < 1 || head_dim > ATT_THREADS || heads < 1 || blocks > 0x7fffffffu)
        fatal("CUDA attention: %d heads of %d dims (%zu blocks) are not supported (head_dim at "
              "most %d)",
              heads, head_dim, blocks, ATT_THREADS);
}

extern "C" void
gpu_attention_full(gpu_ctx *g, float *out, const float *q, const float *k, const float *v, int n,
                   int heads, int head_dim, float scale)
{
    if (!gpu_begin(g, "attention over %d positions, %d heads of %d", n, heads, head_dim))
        return;
    size_t blocks = (size_t)n * heads;
    att_check_shape(heads, head_dim, blocks);
    if (blocks == 0)
        return;
    att_kernel<float><<<(unsigned int)blocks, ATT_THREADS, 0, g->stream>>>(
        out, q, k, v, (size_t)heads * head_dim, heads, head_dim, scale, -1, n);
    gpu_check_launch(g, "attention (bidirectional)");
}

extern "C" void
gpu_attention_cached(gpu_ctx *g, float *out, const float *q, int rows, int pos0,
                     const uint16_t *kc, const uint16_t *vc, int heads, int head_dim, float scale)
{
    if (!gpu_begin(g, "cached attention of %d rows from position %d, %d heads of %d", rows, pos0,
                   heads, head_dim))
        return;
    size_t blocks = (size_t)rows * heads;
    att_check_shape(heads, head_dim, blocks);
    if (blocks == 0)
        return;
    att_kernel<__half><<<(unsigned int)blocks, ATT_THREADS, 0, g->stream>>>(
        out, q, (const __half *)kc, (const __half *)vc, (size_t)heads * head_dim, heads, head_dim,
        scale, pos0, 0);
    gpu_check_launch(g, rows == 1 ? "attention (decode)" : "attention (causal prefill)");
}

extern "C" void
gpu_kv_write(gpu_ctx *g, uint16_t *kc, uint16_t *vc, const float *k, const float *v, size_t n)
{
    if (!gpu_begin(g, "KV cache write of %zu values", n))
        return;
    if (n == 0)
        return;
    att_kv_write_kernel<<<gpu_blocks(n, 256), 256, 0, g->stream>>>((__half *)kc, (__half *)vc, k,
                                                                   v, n);
    gpu_check_launch(g, "KV cache write");
}
