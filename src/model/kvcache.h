/* The KV cache of the conversation: how many positions are filled, kept across turns. */
#ifndef IMP_KVCACHE_H
#define IMP_KVCACHE_H

#include "backend.h"
#include "phi2.h"

typedef struct kvcache kvcache;

/* Create an empty cache of ctx positions for model m on its backend. */
kvcache *kvcache_new(phi2 *m, backend *be, int ctx);
/* Free the cache. */
void kvcache_free(kvcache *kv);
/* Positions filled. */
int kvcache_length(const kvcache *kv);
/* Positions in all (the context). */
int kvcache_capacity(const kvcache *kv);
/* Mark n more positions as filled (after a forward pass wrote them). */
void kvcache_advance(kvcache *kv, int n);
/* Forget every position from n on (stop, regenerate, clear); nothing is re-uploaded. */
void kvcache_truncate(kvcache *kv, int n);
/* Borrow the backend's storage for the forward pass. */
backend_kv *kvcache_borrow(kvcache *kv);

#endif
