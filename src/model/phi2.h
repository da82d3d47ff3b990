/* The Phi-2 decoder: parallel attention + MLP blocks, partial rotary, KV cache per layer. */
#ifndef IMP_PHI2_H
#define IMP_PHI2_H

#include <stdint.h>

#include "backend.h"
#include "checkpoint.h"

typedef struct phi2 phi2;

/* Upload the language model's weights of ck to be. */
phi2 *phi2_new(backend *be, const checkpoint *ck, const imp_config *cfg);
/* Free the uploaded weights and scratch. */
void phi2_free(phi2 *m);
/* Embed n token ids into y (n, hidden) on the backend. */
void phi2_embed(phi2 *m, float *y, const int32_t *ids, int n);
/*
 * Run rows positions pos0.. whose input embeddings are x (rows, hidden) on the backend (x is
 * overwritten), storing their K and V in kv. When logits is not NULL, writes the vocab logits of the
 * last row there (host memory).
 */
void phi2_forward(phi2 *m, backend_kv *kv, float *x, int rows, int pos0, float *logits);
/*
 * Like phi2_forward, but the last row's logits (vocab) stay on the backend: the returned buffer is
 * the model's and holds them until the next call.
 */
const float *phi2_forward_logits(phi2 *m, backend_kv *kv, float *x, int rows, int pos0);
/* Create a KV cache for ctx positions of this model on its backend. */
backend_kv *phi2_kv_new(phi2 *m, int ctx);

#endif
