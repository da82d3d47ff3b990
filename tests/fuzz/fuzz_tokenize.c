/*
 * The tokenizer on arbitrary text, with the fixture model's vocabulary: encoding never fails, every
 * id is known, and decoding gives back the text exactly when the text is valid UTF-8 and names no
 * special token. The streaming decoder gives exactly what the whole-text decoder gives.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzztarget.h"
#include "tokenizer.h"
#include "xmalloc.h"

static tokenizer *
fuzz_tokenizer(void)
{
    static tokenizer *t;
    if (t == NULL) {
        char *dir = xasprintf("%s/imp-tiny", fuzzutil_fixtures_dir());
        char *cause = NULL;
        t = tokenizer_new(dir, &cause);
        if (t == NULL) {
            fprintf(stderr, "fuzz_tokenize: %s (set FIXTURES to the tests/fixtures folder)\n", cause);
            abort();
        }
        free(dir);
    }
    return t;
}

FUZZ_TARGET(tokenize, data, size)
{
    const tokenizer *t = fuzz_tokenizer();
    int32_t *ids = NULL;
    size_t n = 0;
    tokenizer_encode(t, (const char *)data, size, &ids, &n);
    int special = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < tokenizer_size(t));
        special |= tokenizer_is_special(t, ids[i]);
    }
    /* the whole-text decoder keeps NUL bytes: it returns the length */
    size_t wlen = 0;
    char *whole = tokenizer_decode_len_new(t, ids, n, &wlen);
    tokenizer_stream st;
    tokenizer_stream_init(&st);
    char buf[512];
    char *streamed = NULL;
    size_t slen = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t len = i < n ? tokenizer_stream_push(&st, t, ids[i], buf, sizeof buf)
                           : tokenizer_stream_flush(&st, buf, sizeof buf);
        FUZZ_CHECK(len < sizeof buf);
        streamed = xrealloc(streamed, slen + len + 1);
        memcpy(streamed + slen, buf, len);
        slen += len;
    }
    FUZZ_CHECK(slen == wlen && memcmp(streamed, whole, wlen) == 0);
    free(streamed);
    /* lossless on valid UTF-8, NUL bytes included */
    int plain = !special;
    for (size_t i = 0; plain && i < size;) {
        unsigned b = data[i];
        size_t need = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
        uint32_t cp = need == 1 ? b : need == 2 ? (b & 0x1f) : need == 3 ? (b & 0x0f) : (b & 0x07);
        if (need == 0 || i + need > size) {
            plain = 0;
            break;
        }
        for (size_t k = 1; k < need; k++) {
            if ((data[i + k] & 0xc0) != 0x80)
                plain = 0;
            cp = (cp << 6) | (data[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[need] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            plain = 0;
        i += need;
    }
    if (plain)
        FUZZ_CHECK(wlen == size && memcmp(whole, data, size) == 0);
    free(whole);
    free(ids);
    return 0;
}
