// Partial rotary position embedding (rotate-half) on the first rot_dim dims of every head.
#include "common.cuh"

#define ROPE_THREADS 128

// One thread per (row, head, pair): pair i rotates dims i and i + rot_dim/2. The angle is
// computed in double, like the CPU backend, so both round cos and sin to the same floats.
__global__ void __launch_bounds__(ROPE_THREADS)
rope_kernel(float *x, int rows, int heads, int head_dim, int rot_dim, int pos0, float theta)
{
    int half = rot_dim / 2;
    size_t total = (size_t)rows * heads * half;
    for (size_t t = blockIdx.x * (size_t)blockDim.x + threadIdx.x; t < total;
         t += (size_t)gridDim.x * blockDim.x) {
        int i = (int)(t % (size_t)half);
        size_t rh = t / (size_t)half; // row * heads + head
        int r = (int)(rh / (size_t)heads);
        double inv_freq = 1.0 / pow((double)theta, (double)(2 * i) / rot_dim);
        double s, c;
        sincos((double)(pos0 + r) * inv_freq, &s, &c);
        float cf = (float)c, sf = (float)s;
        float *xh = x + rh * head_dim;
        float a = xh[i], b = xh[i + half];
        xh[i] = a * cf - b * sf;
        xh[i + half] = b * cf + a * sf;
    }
}

extern "C" void
gpu_rope(gpu_ctx *g, float *x, int rows, int heads, int head_dim, int rot_dim, int pos0,
         float theta)
{
    if (!gpu_begin(g, "rope on %d rows, %d heads of %d, %d rotated, from position %d", rows, heads,
                   head_dim, rot_dim, pos0))
        return;
    size_t total = (size_t)rows * heads * (rot_dim / 2);
    if (total == 0)
        return;
    rope_kernel<<<gpu_blocks(total, ROPE_THREADS), ROPE_THREADS, 0, g->stream>>>(
        x, rows, heads, head_dim, rot_dim, pos0, theta);
    gpu_check_launch(g, "rotary embedding");
}
