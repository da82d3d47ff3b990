/*
 * The one sanitizer for bytes that reach a terminal from outside data (model text, file names,
 * tensor names, JSON strings, tokenizer entries). Locale-independent: UTF-8 in, UTF-8 out.
 *
 * What becomes of each code point:
 * - invalid UTF-8 (a byte that starts no valid sequence, an overlong form, a surrogate, beyond
 *   U+10FFFF): U+FFFD, one per byte that cannot start a sequence;
 * - C0 controls and DEL: caret notation ("^[" for ESC, "^G" for BEL, "^@" for NUL, "^?" for
 *   DEL), except \n and \t where the caller keeps them;
 * - C1 controls (U+0080-U+009F) and the bidirectional embeddings, overrides, isolates and marks
 *   (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C): "<U+XXXX>";
 * - U+10EEEE, the kitty image placeholder (text made of it shows an image in kitty): U+FFFD;
 * - everything else passes unchanged.
 * The terminal interface (ui/sanitize.h) builds its screen cells on the same rules.
 */
#ifndef IMP_SAFETEXT_H
#define IMP_SAFETEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SAFETEXT_REPLACEMENT 0xFFFD
/* Room for the longest escaped form, "<U+XXXX>", and its NUL. */
#define SAFETEXT_ESCAPE_MAX 12
/* Output room safetext_stream_feed needs for len bytes of input (each byte grows at most 4x). */
#define SAFETEXT_STREAM_OUT(len) (4 * (size_t)(len) + 16)

/* Flags: control characters the caller wants kept as they are. */
enum {
    SAFETEXT_KEEP_NEWLINE = 1 << 0,
    SAFETEXT_KEEP_TAB = 1 << 1,
};

/* What the sanitizer does with one code point. */
typedef enum {
    SAFETEXT_KEEP,    /* printable: passes unchanged */
    SAFETEXT_CARET,   /* a C0 control or DEL: "^X" */
    SAFETEXT_CODE,    /* a C1 or bidirectional control: "<U+XXXX>" */
    SAFETEXT_REPLACE, /* not a character, or one a terminal would act on: U+FFFD */
} safetext_kind;

/* A UTF-8 sanitizer over a stream of chunks: a sequence cut by a chunk's end is kept for the next. */
typedef struct {
    unsigned char pending[4];
    size_t npending;
    int flags;
} safetext_stream;

/* The sanitizer's rule for code point cp (flags are not applied: \n is SAFETEXT_CARET). */
safetext_kind safetext_classify(uint32_t cp);
/* Write the visible ASCII form of a CARET or CODE code point to out (NUL-terminated); its length. */
size_t safetext_escape(uint32_t cp, char out[SAFETEXT_ESCAPE_MAX]);
/*
 * Decode the code point at the start of len > 0 bytes of UTF-8 into *cp. Returns the bytes taken:
 * 1 with U+FFFD for a byte that starts no valid sequence, or 0 when s is the valid beginning of a
 * sequence that len cuts off (the caller decides: wait for more, or take it as one U+FFFD).
 */
size_t safetext_decode(const char *s, size_t len, uint32_t *cp);
/* Append the UTF-8 encoding of cp (<= U+10FFFF) to out; returns its length (1-4). */
size_t safetext_encode(uint32_t cp, char *out);
/* A sanitised copy of len bytes of text (the flags keep \n or \t). New string. */
char *safetext_new(const char *s, size_t len, int flags);
/* Start a stream sanitizer with the given flags. */
void safetext_stream_init(safetext_stream *st, int flags);
/*
 * Sanitise the next len bytes of the stream into out, which holds SAFETEXT_STREAM_OUT(len) bytes;
 * returns the bytes written (a cut-off sequence at the end waits for the next chunk).
 */
size_t safetext_stream_feed(safetext_stream *st, const char *in, size_t len, char *out);
/* End the stream: a sequence still waiting becomes U+FFFD in out (SAFETEXT_STREAM_OUT(0) bytes). */
size_t safetext_stream_finish(safetext_stream *st, char *out);
/*
 * A write-only stream that sanitises what is written to it (a stream sanitizer with flags) and
 * passes the result to `to`, which stays open when this one is closed. NULL with errno on failure.
 */
FILE *safetext_fopen(FILE *to, int flags);

#endif
