// Small kernels, one correct and one per bug class the harness (tests/cudaemu) must catch; run by
// tests/test_cudaemu.sh as "cudaemu_bugs CASE". The correct case prints its result and exits 0;
// a caught bug exits 3 with the harness's one-line report on stderr.
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>

#define N 64

// Block sum through shuffles and shared memory with the barriers it needs.
__global__ void
good_sum(float *out, const float *in)
{
    __shared__ float part[2];
    float v = in[threadIdx.x];
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, off);
    if ((threadIdx.x & 31) == 0)
        part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x == 0)
        out[0] = part[0] + part[1];
}

// The second warp leaves before the barrier the first waits at.
__global__ void
partial_barrier(float *out, const float *in)
{
    if (threadIdx.x >= 32)
        return;
    __syncthreads();
    out[threadIdx.x] = in[threadIdx.x];
}

// Lanes 16..31 leave; the rest shuffle with a full mask.
__global__ void
shuffle_exited(float *out, const float *in)
{
    if ((threadIdx.x & 31) >= 16)
        return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, in[threadIdx.x], 1);
}

// Lanes 0..15 shuffle among themselves but read lane + 16, outside their mask.
__global__ void
shuffle_outside_mask(float *out, const float *in)
{
    if ((threadIdx.x & 31) < 16)
        out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, in[threadIdx.x], 16);
}

// Warp 1 reads what warp 0 wrote to shared memory without a barrier in between.
__global__ void
shared_race(float *out, const float *in)
{
    __shared__ float s[1];
    if (threadIdx.x == 0)
        s[0] = in[5];
    if (threadIdx.x == 32)
        out[0] = s[0];
}

// Reads one element past the end of in.
__global__ void
read_past_end(float *out, const float *in)
{
    if (threadIdx.x == 7)
        out[0] = in[N];
}

// Writes one element past the end of out.
__global__ void
write_past_end(float *out, const float *in)
{
    if (threadIdx.x == 9)
        out[N] = in[0];
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cudaemu_bugs CASE\n");
        return 2;
    }
    const char *c = argv[1];
    float host[N], result[N];
    for (int i = 0; i < N; i++)
        host[i] = (float)i;
    float *in = NULL, *out = NULL;
    cudaMalloc((void **)&in, sizeof host);
    cudaMalloc((void **)&out, sizeof host);
    cudaMemcpy(in, host, sizeof host, cudaMemcpyHostToDevice);
    cudaMemset(out, 0, sizeof host);
    if (strcmp(c, "good") == 0)
        good_sum<<<1, N>>>(out, in);
    else if (strcmp(c, "partial-barrier") == 0)
        partial_barrier<<<1, N>>>(out, in);
    else if (strcmp(c, "shuffle-exited") == 0)
        shuffle_exited<<<1, N>>>(out, in);
    else if (strcmp(c, "shuffle-mask") == 0)
        shuffle_outside_mask<<<1, N>>>(out, in);
    else if (strcmp(c, "shared-race") == 0)
        shared_race<<<1, N>>>(out, in);
    else if (strcmp(c, "read-oob") == 0)
        read_past_end<<<2, N>>>(out, in);
    else if (strcmp(c, "write-oob") == 0)
        write_past_end<<<2, N>>>(out, in);
    else if (strcmp(c, "host-pointer") == 0)
        good_sum<<<1, N>>>(out, host);
    else if (strcmp(c, "copy-direction") == 0) {
        // the source is device memory: this is a download written as an upload
        cudaMemcpy(result, in, sizeof result, cudaMemcpyHostToDevice);
    } else {
        fprintf(stderr, "cudaemu_bugs: unknown case %s\n", c);
        return 2;
    }
    cudaDeviceSynchronize();
    cudaMemcpy(result, out, sizeof result, cudaMemcpyDeviceToHost);
    printf("%g\n", result[0]);
    return 0;
}
