/* Random fp16 weights at a model's real dimensions, for measuring speed without a download. */
#ifndef IMP_SYNTHETIC_H
#define IMP_SYNTHETIC_H

#include <stdint.h>

#include "checkpoint.h"
#include "quant.h"

typedef struct synthetic synthetic;

/* Allocate and fill every tensor cfg needs with seeded random values (uses threads threads). */
synthetic *synthetic_new(const imp_config *cfg, uint64_t seed, int threads);
/*
 * Like synthetic_new, with the matrices mode quantizes built quantized (each made in fp16 and
 * quantized at once, so the fp16 model never exists whole).
 */
synthetic *synthetic_new_weights(const imp_config *cfg, uint64_t seed, int threads, quant_mode mode);
/* Borrow the checkpoint whose tensors point into the synthetic weights. */
const checkpoint *synthetic_checkpoint_borrow(const synthetic *s);
/* The store of the quantized matrices (empty for fp16). */
const quant_store *synthetic_quant_borrow(const synthetic *s);
/* Bytes of weights held (quantized matrices at their quantized size). */
size_t synthetic_bytes(const synthetic *s);
/* Free the weights. */
void synthetic_free(synthetic *s);

#endif
