/* The CUDA side: C entry points into the device code (extern "C" in the .cu files). */
#ifndef IMP_GPU_H
#define IMP_GPU_H

#ifdef __cplusplus
extern "C" {
#endif

#include <stddef.h>

struct backend;

/*
 * Number of CUDA devices; on error returns -1 and writes a one-line reason (runtime's error
 * string and the operation) into why (size bytes).
 */
int gpu_device_count(char *why, int size);

/*
 * Create the CUDA backend when a device has need bytes free. The device op table is filled by a
 * later part of the project; until then this reports why it cannot be used, so --backend auto
 * falls back to the CPU.
 */
struct backend *backend_cuda_new(int threads, size_t need, char **why);

#ifdef __cplusplus
}
#endif

#endif
