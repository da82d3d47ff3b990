/* Memory-mapped safetensors files (one file or shards with an index), validated before use. */
#ifndef IMP_WEIGHTS_H
#define IMP_WEIGHTS_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "f16.h"

typedef enum {
    WEIGHTS_F16,
    WEIGHTS_BF16,
    WEIGHTS_F32,
    WEIGHTS_Q8, /* quantized at load (quant.h), never in a file */
    WEIGHTS_Q4,
} weights_dtype;

#define WEIGHTS_MAX_DIMS 4

/* A borrowed view of one tensor inside a mapped file (or a row range of one). */
typedef struct {
    const char *name;   /* tensor name as in the file */
    const char *file;   /* file name (without directory) holding it */
    weights_dtype dtype;
    int ndim;
    int64_t shape[WEIGHTS_MAX_DIMS]; /* outer to inner */
    int64_t nelem;
    const void *data;   /* row-major, in the mapping; read-only */
} weights_tensor;

typedef struct weights weights;

/*
 * Open the safetensors weights of a model folder: model.safetensors.index.json with its shards,
 * else model.safetensors. Every file is mapped read-only and its header fully validated
 * (header length, JSON, dtypes, offsets in range and consistent with dtype x shape, no overlaps).
 * Returns NULL with *cause naming the file, the tensor and what was expected.
 */
weights *weights_open(const char *dir, char **cause);
/* Unmap all files and free. */
void weights_free(weights *w);
/* Find a tensor by name; NULL when absent. */
const weights_tensor *weights_find(const weights *w, const char *name);
/*
 * Let the pages of a tensor read through w's mappings go (a tensor that was quantized): they
 * leave the process's memory and are read from the file again if ever touched. Tensors not in
 * w's files are left alone.
 */
void weights_drop_pages(const weights *w, const weights_tensor *t);
/* Number of tensors over all files. */
size_t weights_count(const weights *w);
/* The i-th tensor (order of files, then of header). */
const weights_tensor *weights_at(const weights *w, size_t i);
/* Size in bytes of one element of a file dtype (F16, BF16, F32). */
size_t weights_dtype_size(weights_dtype dtype);
/* Name of dtype as in safetensors headers ("F16", ...). */
const char *weights_dtype_name(weights_dtype dtype);
/* Total bytes of tensor data over all files. */
size_t weights_total_bytes(const weights *w);
/* Bytes of data a tensor (or a row view of one) holds, quantized ones included. */
size_t weights_tensor_bytes(const weights_tensor *t);

/* Element i of a tensor of a file dtype (F16, BF16, F32) as float; the data may be unaligned. */
static inline float
weights_tensor_value(const weights_tensor *t, int64_t i)
{
    const unsigned char *src = t->data;
    uint16_t h;
    float f;
    switch (t->dtype) {
    case WEIGHTS_F16:
        memcpy(&h, src + 2 * i, 2);
        return f16_to_f32(h);
    case WEIGHTS_BF16:
        memcpy(&h, src + 2 * i, 2);
        return bf16_to_f32(h);
    case WEIGHTS_F32:
        memcpy(&f, src + 4 * i, 4);
        return f;
    default:
        assert(!"a quantized tensor has no single values");
        return 0;
    }
}

/* What converting a tensor to fp16 loses: values that become inf, and those that already were. */
typedef struct {
    int64_t overflow;  /* finite values that round to inf in fp16 (|x| >= 65520) */
    int64_t nonfinite; /* inf and NaN values already in the file */
    float largest;     /* largest magnitude among the overflowing values (0 when none) */
} weights_f16_loss;

/*
 * Convert a tensor of a file dtype to fp16 bit patterns into dst (nelem values; NULL: only count),
 * rounding to nearest even, and count in *loss what does not fit.
 */
void weights_tensor_to_f16(const weights_tensor *t, uint16_t *dst, weights_f16_loss *loss);
/*
 * 0 when the loss is none; else -1 with *cause naming the tensor (sanitized), its dtype, the counts
 * and the largest magnitude.
 */
int weights_f16_loss_check(const weights_tensor *t, const weights_f16_loss *loss, char **cause);

/* Room for any shape formatted by weights_format_shape. */
#define WEIGHTS_SHAPE_STRLEN 128
/* Format a shape as "[a, b, ...]" into buf (cap >= WEIGHTS_SHAPE_STRLEN); returns buf. */
const char *weights_format_shape(char *buf, size_t cap, int ndim, const int64_t *shape);

#endif
