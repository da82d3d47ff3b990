/*
 * Untrusted text on its way to the terminal: the base sanitizer (whole and streamed in pieces), the
 * glyph sanitizer, and the message layout (wrapping, Markdown) at a width taken from the first
 * byte. No escape byte may reach the output, and no laid-out line may be wider than asked.
 */
#include "config.h"

#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "fuzztarget.h"
#include "safetext.h"
#include "sanitize.h"
#include "textview.h"
#include "xmalloc.h"

static void
fuzz_text_locale(void)
{
    static int done;
    if (!done && setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "fuzz_text: the C.UTF-8 locale is missing\n");
        abort();
    }
    done = 1;
}

static void
fuzz_text_safetext(const char *s, size_t len, size_t piece)
{
    char *whole = safetext_new(s, len, 0);
    FUZZ_CHECK(strchr(whole, '\033') == NULL && strchr(whole, '\a') == NULL);
    /* the streamed form, fed in pieces of piece bytes, matches */
    safetext_stream st;
    safetext_stream_init(&st, 0);
    size_t cap = len * SAFETEXT_ESCAPE_MAX + SAFETEXT_ESCAPE_MAX + 1, at = 0;
    char *out = xmalloc(cap);
    for (size_t i = 0; i < len; i += piece) {
        size_t n = len - i < piece ? len - i : piece;
        at += safetext_stream_feed(&st, s + i, n, out + at);
        FUZZ_CHECK(at < cap);
    }
    at += safetext_stream_finish(&st, out + at);
    FUZZ_CHECK(at < cap);
    out[at] = '\0';
    FUZZ_CHECK(strcmp(out, whole) == 0);
    free(out);
    free(whole);
}

static void
fuzz_text_cells(const cell_lines *lines, int width)
{
    for (int i = 0; i < lines->n; i++) {
        const cell_line *l = &lines->lines[i];
        FUZZ_CHECK(l->n <= width);
        for (int k = 0; k < l->n; k++)
            for (int c = 0; c < CELL_CHARS && l->cells[k].ch[c] != 0; c++)
                FUZZ_CHECK(l->cells[k].ch[c] >= 0x20 && l->cells[k].ch[c] != 0x7f
                           && !(l->cells[k].ch[c] >= 0x80 && l->cells[k].ch[c] < 0xa0));
    }
}

FUZZ_TARGET(text, data, size)
{
    fuzz_text_locale();
    if (size < 2)
        return 0;
    int width = 1 + data[0] % 100;
    int flags = data[1];
    const char *s = (const char *)data + 2;
    size_t len = size - 2;

    fuzz_text_safetext(s, len, 1 + (size_t)(flags & 7));

    sanitize_glyphs gl;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, s, len, ROLE_ASSISTANT, 0, flags & (SANITIZE_BREAKS | SANITIZE_TABS));
    for (int i = 0; i < gl.n; i++)
        FUZZ_CHECK(gl.g[i].width <= 2);
    sanitize_glyphs_free(&gl);

    char *line_text = fuzzutil_strndup((const uint8_t *)s, len);
    char *safe = sanitize_string_new(line_text);
    FUZZ_CHECK(strchr(safe, '\033') == NULL);
    cell_lines one;
    cell_lines_init(&one);
    sanitize_line_append(cell_lines_add(&one), line_text, ROLE_NORMAL, 0);
    fuzz_text_cells(&one, INT32_MAX);
    cell_lines_free(&one);
    free(safe);
    free(line_text);

    textview_style st = {
        .width = width,
        .role = ROLE_ASSISTANT,
        .flags = (flags & 8) ? TEXTVIEW_MARKDOWN : 0,
        .first_prefix = (flags & 16) ? "> " : NULL,
        .prefix = (flags & 32) ? "  " : NULL,
        .prefix_role = ROLE_NORMAL,
    };
    cell_lines lines;
    cell_lines_init(&lines);
    textview_render(&lines, s, len, &st);
    FUZZ_CHECK(lines.n == textview_count_lines(s, len, &st));
    fuzz_text_cells(&lines, width);
    cell_lines_free(&lines);
    free(textview_last_code_new(s, len));
    return 0;
}
