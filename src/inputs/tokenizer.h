/* GPT-2 byte-level BPE with added tokens (MODEL.md B7): encoding and lossless, streamable decoding. */
#ifndef IMP_TOKENIZER_H
#define IMP_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

/*
 * Load vocab.json, merges.txt, added_tokens.json and tokenizer_config.json from dir.
 * Returns NULL with *cause naming the file (and line or key) on failure.
 */
tokenizer *tokenizer_new(const char *dir, char **cause);
/* Free the tokenizer. */
void tokenizer_free(tokenizer *t);
/*
 * Encode len bytes of UTF-8 text (no template, no BOS): added tokens split first (leftmost-longest),
 * the rest through the GPT-2 pre-tokenizer regex and BPE. Appends to *ids (xrealloc'd, *n updated).
 * Invalid UTF-8 in text is encoded byte by byte and never fails.
 */
void tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n);
/* Number of ids the tokenizer knows (50297 for imp); ids at or above decode to nothing. */
int tokenizer_size(const tokenizer *t);
/* Whether id is a special token (skipped when decoding): <|endoftext|>, </s>, <image>. */
int tokenizer_is_special(const tokenizer *t, int32_t id);
/* Borrow the raw bytes of id (empty for special and unknown ids). */
const char *tokenizer_piece_borrow(const tokenizer *t, int32_t id, size_t *len);
/* Decode n ids into a new NUL-terminated UTF-8 string (invalid sequences become U+FFFD). */
char *tokenizer_decode_new(const tokenizer *t, const int32_t *ids, size_t n);
/*
 * Decode as tokenizer_decode_new and store the length in *len: the text may hold NUL bytes (the
 * model can produce them), and the length keeps what follows them.
 */
char *tokenizer_decode_len_new(const tokenizer *t, const int32_t *ids, size_t n, size_t *len);

/* Streaming decoder: holds back an incomplete UTF-8 sequence until it completes. */
typedef struct {
    unsigned char held[4];
    int nheld;
} tokenizer_stream;

/* Reset a stream. */
void tokenizer_stream_init(tokenizer_stream *s);
/*
 * Push one id; writes the completed UTF-8 text to out (NUL-terminated, cap >= 64 + piece length
 * is always enough; 256 suffices for every vocabulary piece) and returns its length.
 */
size_t tokenizer_stream_push(tokenizer_stream *s, const tokenizer *t, int32_t id, char *out, size_t cap);
/* Flush what is held at the end of a reply (an incomplete sequence becomes U+FFFD). */
size_t tokenizer_stream_flush(tokenizer_stream *s, char *out, size_t cap);

#endif
