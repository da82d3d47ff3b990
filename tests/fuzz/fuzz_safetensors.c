/* A safetensors file's header (length, JSON, dtypes, shapes, offsets) through weights_open. */
#include "config.h"

#include <stdlib.h>

#include "fuzztarget.h"
#include "weights.h"

FUZZ_TARGET(safetensors, data, size)
{
    fuzzutil_remove("model.safetensors.index.json");
    fuzzutil_write("model.safetensors", data, size);
    char *cause = NULL;
    weights *w = weights_open(fuzzutil_scratch_dir(), &cause);
    if (w == NULL) {
        FUZZ_CHECK(cause != NULL);
        free(cause);
        return 0;
    }
    /* every accepted tensor lies inside the mapping: read its first and last elements */
    float sum = 0;
    for (size_t i = 0; i < weights_count(w); i++) {
        const weights_tensor *t = weights_at(w, i);
        FUZZ_CHECK(weights_find(w, t->name) != NULL);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= WEIGHTS_MAX_DIMS);
        if (t->nelem > 0)
            sum += weights_tensor_value(t, 0) + weights_tensor_value(t, t->nelem - 1);
        char shape[WEIGHTS_SHAPE_STRLEN];
        weights_format_shape(shape, sizeof shape, t->ndim, t->shape);
    }
    (void)sum;
    weights_free(w);
    return 0;
}
