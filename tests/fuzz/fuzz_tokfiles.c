/*
 * The tokenizer's files through tokenizer_new. The input is the four files in the order
 * vocab.json, merges.txt, added_tokens.json, tokenizer_config.json, separated by lines
 * "----" (a missing part is a missing file); a tokenizer that loads encodes and decodes a
 * fixed text, so odd vocabularies and merges reach the BPE too.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "fuzztarget.h"
#include "tokenizer.h"

static const char *const fuzz_tok_names[] = {"vocab.json", "merges.txt", "added_tokens.json",
                                             "tokenizer_config.json"};
#define FUZZ_TOK_SEP "\n----\n"

FUZZ_TARGET(tokfiles, data, size)
{
    const char *p = (const char *)data, *end = p + size;
    for (int i = 0; i < 4; i++) {
        if (p == NULL) {
            fuzzutil_remove(fuzz_tok_names[i]);
            continue;
        }
        const char *sep = memmem(p, (size_t)(end - p), FUZZ_TOK_SEP, strlen(FUZZ_TOK_SEP));
        const char *stop = sep != NULL ? sep : end;
        fuzzutil_write(fuzz_tok_names[i], p, (size_t)(stop - p));
        p = sep != NULL ? sep + strlen(FUZZ_TOK_SEP) : NULL;
    }
    char *cause = NULL;
    tokenizer *t = tokenizer_new(fuzzutil_scratch_dir(), &cause);
    if (t == NULL) {
        FUZZ_CHECK(cause != NULL);
        free(cause);
        return 0;
    }
    static const char text[] = "Hello world!  \t\tIt's 2026 <|endoftext|><image> caf\xc3\xa9 \xe6\x97\xa5\xf0\x9f\x98\x80\xff";
    int32_t *ids = NULL;
    size_t n = 0;
    tokenizer_encode(t, text, sizeof text - 1, &ids, &n);
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < tokenizer_size(t));
    free(tokenizer_decode_new(t, ids, n));
    free(ids);
    tokenizer_free(t);
    return 0;
}
