#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "backend_cpu.h"
#include "log.h"
#include "xmalloc.h"
#ifdef HAVE_CUDA
#include "../gpu/gpu.h"
#endif

int
backend_parse_choice(const char *s, backend_choice *choice)
{
    if (strcmp(s, "auto") == 0)
        *choice = BACKEND_AUTO;
    else if (strcmp(s, "cpu") == 0)
        *choice = BACKEND_CPU;
    else if (strcmp(s, "cuda") == 0)
        *choice = BACKEND_CUDA;
    else
        return -1;
    return 0;
}

backend *
backend_new(backend_choice choice, int threads, char **note, char **cause)
{
    if (note != NULL)
        *note = NULL;
    if (choice == BACKEND_CPU)
        return backend_cpu_new(threads);
#ifdef HAVE_CUDA
    char *why = NULL;
    backend *be = backend_cuda_new(threads, &why);
    if (be != NULL)
        return be;
    if (choice == BACKEND_CUDA) {
        log_cause(cause, "CUDA backend unavailable: %s", why);
        free(why);
        return NULL;
    }
    if (note != NULL)
        *note = xasprintf("using the CPU backend: %s", why);
    free(why);
    return backend_cpu_new(threads);
#else
    if (choice == BACKEND_CUDA) {
        log_cause(cause, "this imp-chat was built without CUDA (configure --with-cuda)");
        return NULL;
    }
    return backend_cpu_new(threads);
#endif
}

void
backend_free(backend *be)
{
    if (be != NULL)
        be->ops->free(be);
}

backend_pair
backend_pair_upload(backend *be, const weights_tensor *w, const weights_tensor *b)
{
    backend_pair p = {be->ops->weight_new(be, w), be->ops->weight_new(be, b)};
    return p;
}

void
backend_pair_free(backend *be, backend_pair *p)
{
    be->ops->weight_free(be, p->w);
    be->ops->weight_free(be, p->b);
    p->w = p->b = NULL;
}

void
backend_buf_reserve(backend *be, float **buf, size_t *cap, size_t n)
{
    if (*buf != NULL && *cap >= n)
        return;
    if (*buf != NULL)
        be->ops->buf_free(be, *buf);
    *buf = be->ops->buf_new(be, n);
    *cap = n;
}
