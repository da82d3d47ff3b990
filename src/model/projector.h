/* The mlp2x_gelu projector from vision features to the language model's embedding space. */
#ifndef IMP_PROJECTOR_H
#define IMP_PROJECTOR_H

#include "backend.h"
#include "checkpoint.h"

typedef struct projector projector;

/* Upload the projector weights of ck to be. */
projector *projector_new(backend *be, const checkpoint *ck, const imp_config *cfg);
/* Free the projector. */
void projector_free(projector *p);
/* out (rows, hidden) = fc2(gelu_erf(fc0(in (rows, mm_hidden)))), both on the backend. */
void projector_apply(projector *p, float *out, const float *in, int rows);

#endif
