#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <utf8proc.h>

#include "safetext.h"
#include "sanitize.h"
#include "xmalloc.h"

#define SANITIZE_NBSP 0x00A0

void
sanitize_glyphs_init(sanitize_glyphs *gl)
{
    memset(gl, 0, sizeof *gl);
    gl->last = -1;
}

void
sanitize_glyphs_free(sanitize_glyphs *gl)
{
    free(gl->g);
    memset(gl, 0, sizeof *gl);
    gl->last = -1;
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

/*
 * Characters that would show nothing sensible: the base sanitizer's replacements, and printable
 * ones the terminal has no width for (wcwidth < 0: unassigned here), which would break the layout.
 */
static int
sanitize_is_replaced(wchar_t wc)
{
    if (wc < 0)
        return 1;
    safetext_kind k = safetext_classify((uint32_t)wc);
    return k == SAFETEXT_REPLACE || (k == SAFETEXT_KEEP && wcwidth(wc) < 0);
}

int
sanitize_wchar_is_escaped(wchar_t wc)
{
    safetext_kind k = wc < 0 ? SAFETEXT_REPLACE : safetext_classify((uint32_t)wc);
    return k == SAFETEXT_CARET || k == SAFETEXT_CODE;
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
    if (sanitize_wchar_is_escaped(wc)) {
        char text[SAFETEXT_ESCAPE_MAX];
        return (int)safetext_escape((uint32_t)wc, text); /* "^X" or "<U+XXXX>" */
    }
    return wcwidth(wc);
}

int
sanitize_cluster_break(wchar_t a, wchar_t b, int32_t *state)
{
    utf8proc_int32_t st = *state;
    int brk = utf8proc_grapheme_break_stateful(a, b, &st);
    *state = st;
    return brk;
}

int
sanitize_wchar_is_joiner(wchar_t wc)
{
    return wc == 0x200D || wc == 0xFE0E || wc == 0xFE0F || (wc >= 0x1F3FB && wc <= 0x1F3FF);
}

int
sanitize_cluster_width(const sanitize_glyphs *gl, int i)
{
    int w = gl->g[i].width;
    for (int k = i + 1; k < gl->n && gl->g[k].cont; k++)
        w += gl->g[k].width;
    return w;
}

/*
 * Whether wc continues the cluster of the last glyph: it follows a drawable character without a
 * grapheme break (utf8proc), and the state moves on either way.
 */
static int
sanitize_glyphs_joins(sanitize_glyphs *gl, wchar_t wc)
{
    int32_t last = gl->last;
    gl->last = (int32_t)wc;
    if (last < 0 || gl->n == 0) {
        gl->state = 0;
        return 0;
    }
    const sanitize_glyph *prev = &gl->g[gl->n - 1];
    if (sanitize_cluster_break(last, wc, &gl->state)) {
        gl->state = 0; /* utf8proc: the state may start over after a break */
        return 0;
    }
    return prev->width > 0 && prev->c.role != ROLE_ESCAPED;
}

int
sanitize_glyphs_append_wchar(sanitize_glyphs *gl, wchar_t wc, uint8_t text_role, uint8_t attr,
                             int flags)
{
    int n0 = gl->n;
    char text[SAFETEXT_ESCAPE_MAX];

    if (sanitize_is_replaced(wc) || sanitize_wchar_is_escaped(wc) || wc == '\n' || wc == '\t')
        gl->last = -1; /* nothing joins these, and no cluster runs across them */
    else if (sanitize_glyphs_joins(gl, wc)) {
        /* the rest of a cluster: joiners left out, marks attached, other characters in cells */
        if (sanitize_wchar_is_joiner(wc))
            return 0;
        if (wcwidth(wc) == 0) {
            sanitize_glyphs_attach(gl, wc, text_role, attr);
            return 0;
        }
        sanitize_glyphs_push(gl, wc, wcwidth(wc), text_role, attr)->cont = 1;
        return 1;
    } else if (wcwidth(wc) == 0 && sanitize_wchar_is_joiner(wc)) {
        return 0; /* a ZWJ or emoji selector that joins nothing: nothing to draw */
    }

    if (sanitize_is_replaced(wc)) {
        sanitize_glyphs_push(gl, SAFETEXT_REPLACEMENT, 1, text_role, attr);
    } else if (wc == '\n' && (flags & SANITIZE_BREAKS)) {
        sanitize_glyphs_push(gl, '\n', 0, text_role, attr);
    } else if (wc == '\t' && (flags & SANITIZE_TABS)) {
        sanitize_glyphs_push(gl, '\t', 0, text_role, attr);
    } else if (sanitize_wchar_is_escaped(wc)) {
        safetext_escape((uint32_t)wc, text);
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
    uint32_t cp;
    size_t r = safetext_decode(s, len, &cp);
    (void)ps; /* UTF-8 needs no state between complete characters */
    if (r == 0) {
        /* a sequence cut off by the end of the text */
        *wc = SAFETEXT_REPLACEMENT;
        return len;
    }
    *wc = (wchar_t)cp;
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
    sub.c.ch[0] = SAFETEXT_REPLACEMENT;
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
    char *out = xmalloc((size_t)gl.n * CELL_CHARS * 4 + 1);
    size_t len = 0;
    for (int i = 0; i < gl.n; i++)
        for (int k = 0; k < CELL_CHARS && gl.g[i].c.ch[k] != 0; k++)
            len += safetext_encode((uint32_t)gl.g[i].c.ch[k], out + len);
    out[len] = '\0';
    sanitize_glyphs_free(&gl);
    return out;
}
