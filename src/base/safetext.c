#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetext.h"
#include "xmalloc.h"

/* The kitty Unicode placeholder: text made of it would show an image in kitty terminals. */
#define SAFETEXT_KITTY_PLACEHOLDER 0x10EEEE

/* Characters that reorder text in terminals that implement bidirectional display. */
static int
safetext_is_bidi(uint32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
           cp == 0x200F || cp == 0x061C;
}

safetext_kind
safetext_classify(uint32_t cp)
{
    if (cp < 0x20 || cp == 0x7F)
        return SAFETEXT_CARET;
    if ((cp >= 0x80 && cp <= 0x9F) || safetext_is_bidi(cp))
        return SAFETEXT_CODE;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == SAFETEXT_KITTY_PLACEHOLDER)
        return SAFETEXT_REPLACE;
    return SAFETEXT_KEEP;
}

size_t
safetext_escape(uint32_t cp, char out[SAFETEXT_ESCAPE_MAX])
{
    if (cp < 0x20 || cp == 0x7F) {
        out[0] = '^';
        out[1] = cp == 0x7F ? '?' : (char)(cp + 0x40);
        out[2] = '\0';
        return 2;
    }
    return (size_t)snprintf(out, SAFETEXT_ESCAPE_MAX, "<U+%04X>", (unsigned)cp & 0x1FFFFFu);
}

size_t
safetext_decode(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    size_t need;
    uint32_t v;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xC2 && u[0] <= 0xDF) {
        need = 2;
        v = u[0] & 0x1F;
    } else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
        need = 3;
        v = u[0] & 0x0F;
        if (u[0] == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (u[0] == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
        need = 4;
        v = u[0] & 0x07;
        if (u[0] == 0xF0)
            lo = 0x90;
        else if (u[0] == 0xF4)
            hi = 0x8F; /* nothing beyond U+10FFFF */
    } else {
        *cp = SAFETEXT_REPLACEMENT;
        return 1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= len)
            return 0;
        unsigned char min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
        if (u[i] < min || u[i] > max) {
            *cp = SAFETEXT_REPLACEMENT;
            return 1;
        }
        v = v << 6 | (u[i] & 0x3F);
    }
    *cp = v;
    return need;
}

size_t
safetext_encode(uint32_t cp, char *out)
{
    unsigned char *u = (unsigned char *)out;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | cp >> 6);
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | cp >> 12);
        u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | cp >> 18);
    u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Write the safe form of one decoded code point to out; returns its length (at most 8). */
static size_t
safetext_put(uint32_t cp, int flags, char *out)
{
    if ((cp == '\n' && (flags & SAFETEXT_KEEP_NEWLINE)) ||
        (cp == '\t' && (flags & SAFETEXT_KEEP_TAB))) {
        out[0] = (char)cp;
        return 1;
    }
    char esc[SAFETEXT_ESCAPE_MAX];
    switch (safetext_classify(cp)) {
    case SAFETEXT_KEEP:
        return safetext_encode(cp, out);
    case SAFETEXT_REPLACE:
        return safetext_encode(SAFETEXT_REPLACEMENT, out);
    case SAFETEXT_CARET:
    case SAFETEXT_CODE:
        break;
    }
    size_t n = safetext_escape(cp, esc);
    memcpy(out, esc, n);
    return n;
}

/* Sanitise complete text; a cut-off sequence at the end waits when `wait`, else becomes U+FFFD. */
static size_t
safetext_run(const char *s, size_t len, int flags, int wait, size_t *used, char *out)
{
    size_t i = 0, n = 0;
    while (i < len) {
        uint32_t cp;
        size_t r = safetext_decode(s + i, len - i, &cp);
        if (r == 0) {
            if (wait)
                break;
            cp = SAFETEXT_REPLACEMENT;
            r = len - i;
        }
        n += safetext_put(cp, flags, out + n);
        i += r;
    }
    *used = i;
    return n;
}

char *
safetext_new(const char *s, size_t len, int flags)
{
    char *out = xmalloc(SAFETEXT_STREAM_OUT(len));
    size_t used;
    size_t n = safetext_run(s, len, flags, 0, &used, out);
    out[n] = '\0';
    return out;
}

void
safetext_stream_init(safetext_stream *st, int flags)
{
    memset(st, 0, sizeof *st);
    st->flags = flags;
}

size_t
safetext_stream_feed(safetext_stream *st, const char *in, size_t len, char *out)
{
    size_t n = 0, used;
    /* first complete the sequence left by the last chunk, a byte at a time */
    while (st->npending > 0 && len > 0) {
        st->pending[st->npending++] = (unsigned char)*in++;
        len--;
        n += safetext_run((const char *)st->pending, st->npending, st->flags, 1, &used, out + n);
        memmove(st->pending, st->pending + used, st->npending - used);
        st->npending -= used;
    }
    if (len == 0)
        return n;
    n += safetext_run(in, len, st->flags, 1, &used, out + n);
    /* a cut-off sequence is at most 3 bytes: a 4th would have completed or broken it */
    memcpy(st->pending, in + used, len - used);
    st->npending = len - used;
    return n;
}

size_t
safetext_stream_finish(safetext_stream *st, char *out)
{
    size_t used;
    size_t n = safetext_run((const char *)st->pending, st->npending, st->flags, 0, &used, out);
    st->npending = 0;
    return n;
}

/* The state behind a safetext_fopen stream. */
typedef struct {
    safetext_stream st;
    FILE *to;
} safetext_cookie;

static ssize_t
safetext_cookie_write(void *ctx, const char *buf, size_t len)
{
    safetext_cookie *c = ctx;
    char *out = xmalloc(SAFETEXT_STREAM_OUT(len));
    size_t n = safetext_stream_feed(&c->st, buf, len, out);
    size_t wrote = fwrite(out, 1, n, c->to);
    free(out);
    if (wrote != n || fflush(c->to) != 0) {
        errno = EIO;
        return -1;
    }
    return (ssize_t)len;
}

static int
safetext_cookie_close(void *ctx)
{
    safetext_cookie *c = ctx;
    char out[SAFETEXT_STREAM_OUT(0)];
    size_t n = safetext_stream_finish(&c->st, out);
    int rc = fwrite(out, 1, n, c->to) == n && fflush(c->to) == 0 ? 0 : -1;
    free(c);
    return rc;
}

FILE *
safetext_fopen(FILE *to, int flags)
{
    safetext_cookie *c = xmalloc(sizeof *c);
    safetext_stream_init(&c->st, flags);
    c->to = to;
    cookie_io_functions_t io = {.write = safetext_cookie_write, .close = safetext_cookie_close};
    FILE *f = fopencookie(c, "w", io);
    if (f == NULL)
        free(c);
    return f;
}
