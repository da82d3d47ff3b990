/* The SigLIP vision tower as Imp uses it: patch embedding and the first vis_layers encoder layers. */
#ifndef IMP_SIGLIP_H
#define IMP_SIGLIP_H

#include "backend.h"
#include "checkpoint.h"

typedef struct siglip siglip;

/* Upload the vision weights of ck to be. */
siglip *siglip_new(backend *be, const checkpoint *ck, const imp_config *cfg);
/* Free the uploaded weights and scratch. */
void siglip_free(siglip *s);
/* Encode pixels (3, image, image) from host memory into out (patches, vis_hidden) on the backend. */
void siglip_encode(siglip *s, float *out, const float *pixels);

#endif
