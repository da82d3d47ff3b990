/* Random fp16 weights at a model's real dimensions, for measuring speed without a download. */
#ifndef IMP_SYNTHETIC_H
#define IMP_SYNTHETIC_H

#include <stdint.h>

#include "checkpoint.h"

typedef struct synthetic synthetic;

/* Allocate and fill every tensor cfg needs with seeded random values (uses threads threads). */
synthetic *synthetic_new(const imp_config *cfg, uint64_t seed, int threads);
/* Borrow the checkpoint whose tensors point into the synthetic weights. */
const checkpoint *synthetic_checkpoint_borrow(const synthetic *s);
/* Bytes of weights allocated. */
size_t synthetic_bytes(const synthetic *s);
/* Free the weights. */
void synthetic_free(synthetic *s);

#endif
