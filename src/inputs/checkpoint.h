/* The model's tensors by role, for both checkpoint layouts (MODEL.md B0, B3), shape-checked. */
#ifndef IMP_CHECKPOINT_H
#define IMP_CHECKPOINT_H

#include "model_config.h"
#include "weights.h"

/* A Linear layer: weight (out, in), bias (out). */
typedef struct {
    weights_tensor w;
    weights_tensor b;
} checkpoint_linear;

/* A LayerNorm: weight (dim), bias (dim). */
typedef struct {
    weights_tensor w;
    weights_tensor b;
} checkpoint_norm;

typedef struct {
    checkpoint_norm ln1, ln2;
    checkpoint_linear q, k, v, out; /* (vis_hidden, vis_hidden) */
    checkpoint_linear fc1;          /* (vis_inner, vis_hidden) */
    checkpoint_linear fc2;          /* (vis_hidden, vis_inner) */
} checkpoint_vision_layer;

typedef struct {
    checkpoint_norm ln;
    checkpoint_linear q, k, v, dense; /* (hidden, hidden) */
    checkpoint_linear fc1;            /* (inner, hidden) */
    checkpoint_linear fc2;            /* (hidden, inner) */
} checkpoint_lm_layer;

typedef struct {
    int old_layout;                    /* 1: transformer.h.N.mixer.Wqkv names */
    weights_tensor patch_w;            /* (vis_hidden, 3, patch, patch) */
    weights_tensor patch_b;            /* (vis_hidden) */
    weights_tensor pos_emb;            /* (vis_patches, vis_hidden) */
    checkpoint_vision_layer *vision;   /* vis_layers entries */
    checkpoint_linear proj0;           /* (hidden, mm_hidden) */
    checkpoint_linear proj2;           /* (hidden, hidden) */
    weights_tensor embed;              /* (vocab, hidden) */
    checkpoint_lm_layer *lm;           /* layers entries */
    checkpoint_norm final_ln;          /* (hidden) */
    checkpoint_linear lm_head;         /* (vocab, hidden) with bias */
} checkpoint;

/*
 * Resolve every tensor the model needs from w for cfg, detecting the layout by the embedding's
 * name and splitting a fused Wqkv into row views. -1 with *cause naming the file, the tensor and
 * the expected shape when one is missing or misshaped.
 */
int checkpoint_init(checkpoint *ck, const weights *w, const imp_config *cfg, char **cause);
/* Free what checkpoint_init allocated (not the weights). */
void checkpoint_free(checkpoint *ck);

#endif
