// LayerNorm over the last dimension, one block per row, statistics in fp32.
#include "common.cuh"

#define NORM_THREADS 256

__global__ void __launch_bounds__(NORM_THREADS)
norm_layernorm_kernel(float *y, const float *x, int dim, const float *gain, const float *bias,
                      float eps)
{
    __shared__ float red[32];
    const float *xr = x + (size_t)blockIdx.x * dim;
    float *yr = y + (size_t)blockIdx.x * dim;
    // two passes (mean, then squared deviations) as the CPU does, for the same accuracy
    float s = 0.0f;
    for (int i = threadIdx.x; i < dim; i += NORM_THREADS)
        s += xr[i];
    float mean = gpu_block_sum(s, red) / (float)dim;
    float q = 0.0f;
    for (int i = threadIdx.x; i < dim; i += NORM_THREADS) {
        float d = xr[i] - mean;
        q += d * d;
    }
    float var = gpu_block_sum(q, red) / (float)dim;
    float rstd = 1.0f / sqrtf(var + eps);
    // each element is read and written by the same thread, so y may be x
    for (int i = threadIdx.x; i < dim; i += NORM_THREADS)
        yr[i] = (xr[i] - mean) * rstd * gain[i] + bias[i];
}

extern "C" void
gpu_layernorm(gpu_ctx *g, float *y, const float *x, int rows, int dim, const float *gain,
              const float *bias, float eps)
{
    if (!gpu_begin(g, "layernorm of %d rows of %d", rows, dim))
        return;
    if (rows <= 0)
        return;
    norm_layernorm_kernel<<<(unsigned int)rows, NORM_THREADS, 0, g->stream>>>(y, x, dim, gain, bias,
                                                                              eps);
    gpu_check_launch(g, "layernorm");
}
