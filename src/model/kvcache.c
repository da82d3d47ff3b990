#include "config.h"

#include <assert.h>
#include <stdlib.h>

#include "kvcache.h"
#include "xmalloc.h"

struct kvcache {
    backend *be;
    backend_kv *kv;
    int ctx;
    int len;
};

kvcache *
kvcache_new(phi2 *m, backend *be, int ctx)
{
    kvcache *kv = xcalloc(1, sizeof *kv);
    kv->be = be;
    kv->ctx = ctx;
    kv->kv = phi2_kv_new(m, ctx);
    return kv;
}

void
kvcache_free(kvcache *kv)
{
    if (kv == NULL)
        return;
    kv->be->ops->kv_free(kv->be, kv->kv);
    free(kv);
}

int
kvcache_length(const kvcache *kv)
{
    return kv->len;
}

int
kvcache_capacity(const kvcache *kv)
{
    return kv->ctx;
}

void
kvcache_advance(kvcache *kv, int n)
{
    assert(n >= 0 && kv->len + n <= kv->ctx);
    kv->len += n;
}

void
kvcache_truncate(kvcache *kv, int n)
{
    assert(n >= 0 && n <= kv->len);
    kv->len = n;
}

backend_kv *
kvcache_borrow(kvcache *kv)
{
    return kv->kv;
}
