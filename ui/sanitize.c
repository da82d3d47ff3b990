#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "sanitize.h"
#include "xmalloc.h"

#define SANITIZE_REPLACEMENT 0xFFFD
#define SANITIZE_NBSP 0x00A0
/* The kitty Unicode placeholder: text made of it would show an image in kitty terminals. */
#define SANITIZE_KITTY_PLACEHOLDER 0x10EEEE

void
sanitize_glyphs_init(sanitize_glyphs *gl)
{
    memset(gl, 0, sizeof *gl);
}

void
sanitize_glyphs_free(sanitize_glyphs *gl)
{
    free(gl->g);
    memset(gl, 0, sizeof *gl);
}

/* Append a glyph of one character and return it. */
static sanitize_glyph *
sanitize_glyphs_push(sanitize_glyphs *gl, wchar_t wc, int width, uint8_t text_role, uint8_t attr)
{
    if (gl->n == gl->cap) {
        gl->cap = gl->cap ? gl->cap * 2 : 64;
        gl->g = xreallocarray(gl->g, (size_t)gl->cap, sizeof *gl->g);
    }
    sanitize_glyph *g = &gl->g[gl->n++];
    memset(g, 0, sizeof *g);
    g->c.ch[0] = wc;
    g->c.role = text_role;
    g->c.attr = attr;
    g->c.fg = -1;
    g->c.bg = -1;
    g->width = (uint8_t)width;
    return g;
}

/* Append ASCII text as one-column glyphs in ROLE_ESCAPED. */
static void
sanitize_glyphs_push_escaped(sanitize_glyphs *gl, const char *text, uint8_t attr)
{
    for (const char *p = text; *p != '\0'; p++)
        sanitize_glyphs_push(gl, (wchar_t)(unsigned char)*p, 1, ROLE_ESCAPED, attr);
}

/* Characters that reorder text in terminals that implement bidirectional display. */
static int
sanitize_is_bidi(wchar_t wc)
{
    return (wc >= 0x202A && wc <= 0x202E) || (wc >= 0x2066 && wc <= 0x2069) || wc == 0x200E ||
           wc == 0x200F || wc == 0x061C;
}

/* Attach a zero-width character to the last glyph, or give it a base of its own. */
static void
sanitize_glyphs_attach(sanitize_glyphs *gl, wchar_t wc, uint8_t text_role, uint8_t attr)
{
    sanitize_glyph *prev = gl->n > 0 ? &gl->g[gl->n - 1] : NULL;
    if (prev == NULL || prev->width == 0 || prev->c.role == ROLE_ESCAPED) {
        sanitize_glyph *g = sanitize_glyphs_push(gl, SANITIZE_NBSP, 1, text_role, attr);
        g->c.ch[1] = wc;
        return;
    }
    /* the last slot stays 0: the cell's characters are a NUL-terminated string */
    for (int k = 1; k < CELL_CHARS - 1; k++)
        if (prev->c.ch[k] == 0) {
            prev->c.ch[k] = wc;
            return;
        }
}

/* Characters that would show nothing sensible: not Unicode, or drawn as an image by kitty. */
static int
sanitize_is_replaced(wchar_t wc)
{
    return wc < 0 || wc > 0x10FFFF || wc == SANITIZE_KITTY_PLACEHOLDER ||
           (!sanitize_wchar_is_escaped(wc) && wcwidth(wc) < 0);
}

int
sanitize_wchar_is_escaped(wchar_t wc)
{
    return (wc >= 0 && wc < 0x20) || (wc >= 0x7F && wc <= 0x9F) || sanitize_is_bidi(wc);
}

int
sanitize_wchar_is_mark(wchar_t wc)
{
    return !sanitize_wchar_is_escaped(wc) && !sanitize_is_replaced(wc) && wcwidth(wc) == 0;
}

int
sanitize_wchar_width(wchar_t wc)
{
    if (sanitize_is_replaced(wc))
        return 1;
    if (wc < 0x20 || wc == 0x7F)
        return 2; /* "^X" */
    if (sanitize_wchar_is_escaped(wc))
        return 8; /* "<U+XXXX>" */
    return wcwidth(wc);
}

int
sanitize_glyphs_append_wchar(sanitize_glyphs *gl, wchar_t wc, uint8_t text_role, uint8_t attr,
                             int flags)
{
    int n0 = gl->n;
    char text[16];

    if (sanitize_is_replaced(wc)) {
        sanitize_glyphs_push(gl, SANITIZE_REPLACEMENT, 1, text_role, attr);
    } else if (wc == '\n' && (flags & SANITIZE_BREAKS)) {
        sanitize_glyphs_push(gl, '\n', 0, text_role, attr);
    } else if (wc == '\t' && (flags & SANITIZE_TABS)) {
        sanitize_glyphs_push(gl, '\t', 0, text_role, attr);
    } else if (wc < 0x20 || wc == 0x7F) {
        text[0] = '^';
        text[1] = wc == 0x7F ? '?' : (char)(wc + 0x40);
        text[2] = '\0';
        sanitize_glyphs_push_escaped(gl, text, attr);
    } else if (sanitize_wchar_is_escaped(wc)) {
        snprintf(text, sizeof text, "<U+%04X>", (unsigned)wc);
        sanitize_glyphs_push_escaped(gl, text, attr);
    } else if (wcwidth(wc) == 0) {
        sanitize_glyphs_attach(gl, wc, text_role, attr);
    } else {
        sanitize_glyphs_push(gl, wc, wcwidth(wc), text_role, attr);
    }
    return gl->n - n0;
}

size_t
sanitize_decode(const char *s, size_t len, mbstate_t *ps, wchar_t *wc)
{
    if ((unsigned char)s[0] < 0x80) {
        *wc = (unsigned char)s[0];
        return 1;
    }
    size_t r = mbrtowc(wc, s, len, ps);
    if (r == (size_t)-1 || r == (size_t)-2) {
        /* -2: a sequence cut off by the end of the text */
        *wc = SANITIZE_REPLACEMENT;
        memset(ps, 0, sizeof *ps);
        return r == (size_t)-1 ? 1 : len;
    }
    return r;
}

void
sanitize_glyphs_append(sanitize_glyphs *gl, const char *s, size_t len, uint8_t text_role,
                       uint8_t attr, int flags)
{
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    size_t i = 0;
    while (i < len) {
        wchar_t wc;
        i += sanitize_decode(s + i, len - i, &ps, &wc);
        sanitize_glyphs_append_wchar(gl, wc, text_role, attr, flags);
    }
}

int
sanitize_glyph_is_space(const sanitize_glyph *g)
{
    return g->c.ch[0] == ' ' && g->c.ch[1] == 0;
}

void
sanitize_line_push(cell_line *line, const sanitize_glyph *g)
{
    cell_line_push(line, &g->c);
    if (g->width == 2) {
        cell half = g->c;
        memset(half.ch, 0, sizeof half.ch);
        cell_line_push(line, &half);
    }
}

int
sanitize_line_push_fit(cell_line *line, const sanitize_glyph *g, int avail)
{
    if (g->width <= avail) {
        sanitize_line_push(line, g);
        return g->width;
    }
    sanitize_glyph sub = *g;
    memset(sub.c.ch, 0, sizeof sub.c.ch);
    sub.c.ch[0] = 0xFFFD;
    sub.width = 1;
    sanitize_line_push(line, &sub);
    return 1;
}

int
sanitize_line_append(cell_line *line, const char *s, uint8_t text_role, uint8_t attr)
{
    sanitize_glyphs gl;
    int cols = 0;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, s, strlen(s), text_role, attr, 0);
    for (int i = 0; i < gl.n; i++) {
        sanitize_line_push(line, &gl.g[i]);
        cols += gl.g[i].width;
    }
    sanitize_glyphs_free(&gl);
    return cols;
}

int
sanitize_width(const char *s, size_t len, int flags)
{
    sanitize_glyphs gl;
    int cols = 0;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, s, len, ROLE_NORMAL, 0, flags);
    for (int i = 0; i < gl.n; i++)
        cols += gl.g[i].width;
    sanitize_glyphs_free(&gl);
    return cols;
}

char *
sanitize_string_new(const char *s)
{
    sanitize_glyphs gl;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, s, strlen(s), ROLE_NORMAL, 0, 0);
    char *out = xmalloc((size_t)gl.n * CELL_CHARS * MB_LEN_MAX + 1);
    size_t len = 0;
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    for (int i = 0; i < gl.n; i++)
        for (int k = 0; k < CELL_CHARS && gl.g[i].c.ch[k] != 0; k++) {
            size_t r = wcrtomb(out + len, gl.g[i].c.ch[k], &ps);
            if (r != (size_t)-1)
                len += r;
        }
    out[len] = '\0';
    sanitize_glyphs_free(&gl);
    return out;
}
