// Sampling on the device: sampler_choose's rule (sampler.h) over the logits left by the last
// forward pass; only the chosen id comes back to the host. Greedy is one reduction; with a
// temperature the candidates are sorted (CUB radix sort), weighed with sampler_rule.h's integer
// weights and scanned in one block, so the sums are exact and the id is the CPU's.
#include <cub/block/block_scan.cuh>
#include <cub/device/device_radix_sort.cuh>

#include "common.cuh"
#include "sampler_rule.h"

#define SAMPLE_THREADS 256
// Threads of the one block that reduces or scans the whole vocabulary.
#define SAMPLE_BLOCK 1024
// Threads of the one block that draws (fewer than SAMPLE_BLOCK: the 64-bit sums need registers).
#define SAMPLE_PICK 512

// Apply the repetition penalty once to each distinct seen id: the first thread to mark an id
// penalises it, so duplicates in seen change nothing.
__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_penalty_kernel(float *work, int *marks, const int32_t *seen, int nseen, int n, float r)
{
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= nseen)
        return;
    int32_t id = seen[i];
    if (id < 0 || id >= n || atomicExch(&marks[id], 1) != 0)
        return;
    float l = work[id];
    work[id] = l > 0 ? l / r : l * r;
}

// The better of two (value, id) pairs: larger value, then lower id (the CPU's argmax).
__device__ __forceinline__ void
sample_better(float *v, int *i, float ov, int oi)
{
    if (ov > *v || (ov == *v && oi < *i)) {
        *v = ov;
        *i = oi;
    }
}

__global__ void __launch_bounds__(SAMPLE_BLOCK)
sample_argmax_kernel(int32_t *out, const float *work, int n)
{
    __shared__ float sv[SAMPLE_BLOCK / 32];
    __shared__ int si[SAMPLE_BLOCK / 32];
    float v = -INFINITY;
    int idx = 0x7fffffff;
    for (int i = (int)threadIdx.x; i < n; i += SAMPLE_BLOCK)
        sample_better(&v, &idx, work[i], i);
    for (int off = 16; off > 0; off >>= 1)
        sample_better(&v, &idx, __shfl_xor_sync(0xffffffffu, v, off),
                      __shfl_xor_sync(0xffffffffu, idx, off));
    if ((threadIdx.x & 31) == 0) {
        sv[threadIdx.x >> 5] = v;
        si[threadIdx.x >> 5] = idx;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < SAMPLE_BLOCK / 32; w++)
            sample_better(&v, &idx, sv[w], si[w]);
        // all -inf: every pair ties and the lowest id, 0, wins, as on the CPU; all NaN: 0 too
        *out = idx == 0x7fffffff ? 0 : idx;
    }
}

// Sort key of candidate i: descending order of the key is logit descending (-0 equal to +0), then
// id ascending, so the order is total and needs no stable sort.
__global__ void __launch_bounds__(SAMPLE_THREADS)
sample_keys_kernel(unsigned long long *keys, const float *work, int n)
{
    int i = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    if (i >= n)
        return;
    unsigned int bits = __float_as_uint(work[i]);
    if (bits == 0x80000000u)
        bits = 0;
    unsigned int ord = (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
    keys[i] = ((unsigned long long)ord << 32) | (unsigned long long)(0xffffffffu - (unsigned int)i);
}

__device__ __forceinline__ int
sample_key_id(unsigned long long key)
{
    return (int)(0xffffffffu - (unsigned int)(key & 0xffffffffu));
}

// Steps 4 to 6 of the rule over the first ncand sorted candidates, in one block.
__global__ void __launch_bounds__(SAMPLE_PICK)
sample_pick_kernel(int32_t *out, const unsigned long long *sorted, const float *work, int ncand,
                   float temp, float top_p, unsigned long long rnd, unsigned long long *cum)
{
    typedef cub::BlockScan<unsigned long long, SAMPLE_PICK> scan_t;
    __shared__ typename scan_t::TempStorage scan_tmp;
    __shared__ int cut;    // last candidate kept by top-p
    __shared__ int chosen; // the drawn candidate
    int tid = (int)threadIdx.x;
    float best = work[sample_key_id(sorted[0])];

    // running sums of the weights, in sorted order; integers, so exact whatever the order
    unsigned long long carry = 0;
    for (int base = 0; base < ncand; base += SAMPLE_PICK) {
        int i = base + tid;
        unsigned long long w = 0, incl, total;
        if (i < ncand)
            w = sampler_rule_weight(work[sample_key_id(sorted[i])], best, temp);
        scan_t(scan_tmp).InclusiveSum(w, incl, total);
        if (i < ncand)
            cum[i] = carry + incl;
        carry += total; // the same in every thread
        __syncthreads(); // scan_tmp is reused by the next round; cum is visible to the block
    }

    // top-p: the first candidate whose running sum reaches top_p of the whole (cum is monotone)
    if (tid == 0)
        cut = ncand - 1;
    __syncthreads();
    if (top_p > 0.0f && top_p < 1.0f) {
        for (int i = tid; i < ncand; i += SAMPLE_PICK)
            if (sampler_rule_reaches(cum[i], carry, top_p)) {
                atomicMin(&cut, i);
                break;
            }
    }
    if (tid == 0)
        chosen = 0x7fffffff;
    __syncthreads();

    // the draw: the first candidate whose running sum exceeds u, which is below cum[cut]
    unsigned long long u = sampler_rule_mulhi(rnd, cum[cut]);
    for (int i = tid; i <= cut; i += SAMPLE_PICK)
        if (cum[i] > u) {
            atomicMin(&chosen, i);
            break;
        }
    __syncthreads();
    // no sum exceeds u only when every weight is 0 (NaN logits): the CPU then takes the last kept
    if (tid == 0)
        *out = sample_key_id(sorted[chosen == 0x7fffffff ? cut : chosen]);
}

extern "C" int32_t
gpu_sample(gpu_ctx *g, const float *logits, int n, float temp, int top_k, float top_p,
           float repeat_penalty, uint64_t rnd, const int32_t *seen, size_t nseen)
{
    g->samples++;
    if (!gpu_begin(g, "sampling from %d logits, %zu seen ids", n, nseen))
        return 0;
    if (n < 1 || n > SAMPLER_RULE_MAX_N || nseen > 0x7fffffff)
        fatal("CUDA sampling: %d logits and %zu seen ids are not supported", n, nseen);
    size_t nb = (size_t)n;
    gpu_grow(g, (void **)&g->s_work, &g->s_work_bytes, nb * sizeof(float), "sampling logits");
    gpu_grow(g, (void **)&g->s_out, &g->s_out_bytes, sizeof(int32_t), "the sampled id");
    gpu_copy(g, g->s_work, logits, nb * sizeof(float), "the logits for sampling");

    if (repeat_penalty > 0.0f && repeat_penalty != 1.0f && nseen > 0) {
        gpu_grow(g, (void **)&g->s_marks, &g->s_marks_bytes, nb * sizeof(int), "penalty marks");
        gpu_grow(g, (void **)&g->ids, &g->ids_bytes, nseen * sizeof(int32_t), "seen ids");
        gpu_upload(g, g->ids, seen, nseen * sizeof(int32_t), "the seen ids");
        gpu_check(g, cudaMemsetAsync(g->s_marks, 0, nb * sizeof(int), g->stream),
                  "clearing the penalty marks");
        unsigned int blocks = (unsigned int)((nseen + SAMPLE_THREADS - 1) / SAMPLE_THREADS);
        sample_penalty_kernel<<<blocks, SAMPLE_THREADS, 0, g->stream>>>(
            g->s_work, g->s_marks, g->ids, (int)nseen, n, repeat_penalty);
        gpu_check_launch(g, "repetition penalty");
    }

    if (temp <= 0.0f) {
        sample_argmax_kernel<<<1, SAMPLE_BLOCK, 0, g->stream>>>(g->s_out, g->s_work, n);
        gpu_check_launch(g, "argmax");
    } else {
        int ncand = top_k > 0 && top_k < n ? top_k : n;
        gpu_grow(g, (void **)&g->s_keys, &g->s_keys_bytes, nb * 8, "sampling sort keys");
        gpu_grow(g, (void **)&g->s_sorted, &g->s_sorted_bytes, nb * 8, "sorted sampling keys");
        gpu_grow(g, (void **)&g->s_cum, &g->s_cum_bytes, nb * 8, "sampling sums");
        size_t tmp_bytes = 0;
        gpu_check(g,
                  cub::DeviceRadixSort::SortKeysDescending(
                      (void *)NULL, tmp_bytes, g->s_keys, g->s_sorted, n, 0, 64, g->stream),
                  "sizing the sampling sort (cub::DeviceRadixSort)");
        gpu_grow(g, &g->s_sort_tmp, &g->s_sort_tmp_bytes, tmp_bytes, "the sampling sort");
        unsigned int blocks = (unsigned int)((nb + SAMPLE_THREADS - 1) / SAMPLE_THREADS);
        sample_keys_kernel<<<blocks, SAMPLE_THREADS, 0, g->stream>>>(g->s_keys, g->s_work, n);
        gpu_check_launch(g, "sampling sort keys");
        size_t have = g->s_sort_tmp_bytes;
        gpu_check(g,
                  cub::DeviceRadixSort::SortKeysDescending(g->s_sort_tmp, have, g->s_keys,
                                                           g->s_sorted, n, 0, 64, g->stream),
                  "sorting the sampling candidates (cub::DeviceRadixSort)");
        gpu_check_launch(g, "sampling sort");
        sample_pick_kernel<<<1, SAMPLE_PICK, 0, g->stream>>>(g->s_out, g->s_sorted, g->s_work,
                                                              ncand, temp, top_p, rnd, g->s_cum);
        gpu_check_launch(g, "sampling draw");
    }
    int32_t id = -1;
    gpu_download(g, &id, g->s_out, sizeof id, "the sampled id");
    return id;
}
