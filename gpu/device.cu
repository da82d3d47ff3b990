// Device discovery for the CUDA backend.
#include <cstdio>
#include <cuda_runtime.h>

#include "gpu.h"

extern "C" int
gpu_device_count(char *why, int size)
{
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
        snprintf(why, (size_t)size, "cudaGetDeviceCount: %s", cudaGetErrorString(err));
        return -1;
    }
    return n;
}
