#include "config.h"

#include <stdio.h>

#include "backend.h"
#include "gpu.h"
#include "log.h"

backend *
backend_cuda_new(int threads, size_t need, char **why)
{
    char reason[256];
    int n = gpu_device_count(reason, sizeof reason);
    if (n < 0) {
        log_cause(why, "%s", reason);
        return NULL;
    }
    if (n == 0) {
        log_cause(why, "no CUDA device found");
        return NULL;
    }
    /* The device op table is the subject of the CUDA backend work; until it lands the CPU runs. */
    log_cause(why, "%d CUDA device(s) found, but this build has no CUDA kernels yet", n);
    return NULL;
}
