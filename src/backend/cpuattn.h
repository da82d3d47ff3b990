/*
 * Attention of many query rows on the CPU (prefill over the KV cache, SigLIP's bidirectional
 * attention), in blocks: each thread takes 64 query rows of one head and walks the keys 64 at a
 * time, converting each block of keys and values to fp32 once for the 64 rows, with a running
 * softmax per row (its largest score, the sum of exponentials, the weighted values so far).
 */
#ifndef IMP_CPUATTN_H
#define IMP_CPUATTN_H

#include "threadpool.h"

typedef struct {
    float *out;     /* (rows, heads * hd) */
    const float *q; /* (rows, heads * hd) */
    const void *k;  /* (keys, heads * hd): floats, or fp16 when half is set */
    const void *v;  /* (keys, heads * hd), like k */
    int half;
    int rows;
    int pos0; /* causal: row r sees keys 0..pos0 + r; -1: every one of nkeys */
    int nkeys;
    int heads, hd;
    float scale;
} cpuattn_args;

/* out = softmax(q k^T * scale) v per head, with the threads of pool. */
void cpuattn_run(threadpool *pool, const cpuattn_args *a);

#endif
