/*
 * model.safetensors.index.json through weights_open, beside one small valid shard
 * (shard.safetensors: a.weight F16 [2, 2] and b.bias F32 [2]) that an index may name.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzztarget.h"
#include "weights.h"

static const char fuzz_shard_header[] =
    "{\"a.weight\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [0, 8]}, "
    "\"b.bias\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}";
static const unsigned char fuzz_shard_data[16] = {0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c,
                                                  0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40};

static void
fuzz_write_shard(void)
{
    static int written;
    if (written)
        return;
    size_t hlen = sizeof fuzz_shard_header - 1;
    unsigned char buf[8 + sizeof fuzz_shard_header + sizeof fuzz_shard_data];
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, fuzz_shard_header, hlen);
    memcpy(buf + 8 + hlen, fuzz_shard_data, sizeof fuzz_shard_data);
    fuzzutil_write("shard.safetensors", buf, 8 + hlen + sizeof fuzz_shard_data);
    written = 1;
}

FUZZ_TARGET(shardindex, data, size)
{
    fuzz_write_shard();
    fuzzutil_write("model.safetensors.index.json", data, size);
    char *cause = NULL;
    weights *w = weights_open(fuzzutil_scratch_dir(), &cause);
    if (w == NULL) {
        FUZZ_CHECK(cause != NULL);
        free(cause);
        return 0;
    }
    /* only the shard's two tensors can have been found */
    FUZZ_CHECK(weights_count(w) == 2);
    const weights_tensor *t = weights_find(w, "b.bias");
    FUZZ_CHECK(t != NULL && weights_tensor_value(t, 1) == 2.0f);
    weights_free(w);
    return 0;
}
