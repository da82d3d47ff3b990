// Elementwise ops on fp32 activations: the GELU variants and the residual add.
#include "common.cuh"

#define EW_THREADS 256

__global__ void __launch_bounds__(EW_THREADS)
ew_gelu_tanh_kernel(float *x, size_t n)
{
    const float k = 0.7978845608028654f; // sqrt(2/pi)
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + tanhf(k * (u + 0.044715f * u * u * u)));
    }
}

__global__ void __launch_bounds__(EW_THREADS)
ew_gelu_erf_kernel(float *x, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + erff(u * 0.70710678118654752f));
    }
}

__global__ void __launch_bounds__(EW_THREADS)
ew_add_kernel(float *y, const float *a, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] += a[i];
}

extern "C" void
gpu_gelu_tanh(gpu_ctx *g, float *x, size_t n)
{
    if (!gpu_begin(g, "gelu_tanh of %zu values", n))
        return;
    ew_gelu_tanh_kernel<<<gpu_blocks(n, EW_THREADS), EW_THREADS, 0, g->stream>>>(x, n);
    gpu_check_launch(g, "gelu (tanh)");
}

extern "C" void
gpu_gelu_erf(gpu_ctx *g, float *x, size_t n)
{
    if (!gpu_begin(g, "gelu_erf of %zu values", n))
        return;
    ew_gelu_erf_kernel<<<gpu_blocks(n, EW_THREADS), EW_THREADS, 0, g->stream>>>(x, n);
    gpu_check_launch(g, "gelu (erf)");
}

extern "C" void
gpu_add(gpu_ctx *g, float *y, const float *a, size_t n)
{
    if (!gpu_begin(g, "add of %zu values", n))
        return;
    ew_add_kernel<<<gpu_blocks(n, EW_THREADS), EW_THREADS, 0, g->stream>>>(y, a, n);
    gpu_check_launch(g, "add");
}
