/*
 * Grapheme clusters in the sanitizer, the editor and wrapping: ZWJ sequences, flags, skin tones,
 * emoji variation selectors, combining marks, Hangul jamo and wide CJK. A cluster is one cursor
 * step and never split by a line break; what is drawn has the width every terminal agrees on.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input.h"
#include "sanitize.h"
#include "testutil.h"
#include "textview.h"

#define FAMILY "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7"
#define FLAG_FR "\xf0\x9f\x87\xab\xf0\x9f\x87\xb7"
#define THUMB_TONE "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"
#define HEART_VS16 "\xe2\x9d\xa4\xef\xb8\x8f"
#define E_ACUTE "e\xcc\x81"
#define HANGUL_JAMO "\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8"

/* The glyphs of text: their count, widths as "w.w.w" with '+' before a continuing glyph. */
static void
test_glyphs(const char *what, const char *text, int n, const char *widths)
{
    sanitize_glyphs gl;
    char got[128] = "";
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, text, strlen(text), ROLE_NORMAL, 0, 0);
    for (int i = 0; i < gl.n && strlen(got) < sizeof got - 8; i++) {
        char part[8];
        snprintf(part, sizeof part, "%s%s%d", i > 0 ? "." : "", gl.g[i].cont ? "+" : "",
                 gl.g[i].width);
        strcat(got, part);
        for (int k = 0; k < CELL_CHARS && gl.g[i].c.ch[k] != 0; k++)
            CHECK(!sanitize_wchar_is_joiner(gl.g[i].c.ch[k]), "%s: glyph %d draws a joiner U+%04X",
                  what, i, (unsigned)gl.g[i].c.ch[k]);
    }
    CHECK(gl.n == n && strcmp(got, widths) == 0, "%s: %d glyphs \"%s\", want %d \"%s\"", what,
          gl.n, got, n, widths);
    sanitize_glyphs_free(&gl);
}

static void
test_sanitize(void)
{
    test_glyphs("family (ZWJ)", "a" FAMILY "b", 5, "1.2.+2.+2.1");
    test_glyphs("flag", FLAG_FR, 2, "1.+1");
    test_glyphs("skin tone", THUMB_TONE, 1, "2");
    test_glyphs("emoji VS16", HEART_VS16, 1, "1");
    test_glyphs("combining accent", E_ACUTE "x", 2, "1.1");
    test_glyphs("Hangul jamo", HANGUL_JAMO, 1, "2");
    test_glyphs("CJK", "\xe4\xb8\xad\xe6\x96\x87", 2, "2.2");
    test_glyphs("two families", FAMILY FAMILY, 6, "2.+2.+2.2.+2.+2");
    /* a lone ZWJ after an escaped character starts nothing and joins nothing */
    test_glyphs("escape then ZWJ", "\x1b\xe2\x80\x8d" "a", 3, "1.1.1");
}

/* The editor's text and cursor (characters) after a step. */
static void
test_state(const char *what, input *in, const char *text, size_t cursor)
{
    char *got = input_text_new(in);
    CHECK(strcmp(got, text) == 0 && input_cursor(in) == cursor, "%s: \"%s\" at %zu, want \"%s\" at %zu",
          what, got, input_cursor(in), text, cursor);
    free(got);
}

/* The cursor's column in the editor's layout at width 40. */
static int
test_cursor_col(input *in)
{
    cell_lines out;
    int row, col;
    cell_lines_init(&out);
    input_layout(in, 40, 5, &out, &row, &col);
    cell_lines_free(&out);
    return col;
}

static void
test_editor(void)
{
    input *in = input_new();
    input_set_text(in, "a" FAMILY "b"); /* a, 5 code points, b: 7 */
    test_state("family: end", in, "a" FAMILY "b", 7);
    CHECK(test_cursor_col(in) == 8, "family: cursor at the end in column 8 (%d)", test_cursor_col(in));
    input_move_left(in);
    test_state("family: left over b", in, "a" FAMILY "b", 6);
    CHECK(test_cursor_col(in) == 7, "family: cursor after the family in column 7 (%d)",
          test_cursor_col(in));
    input_move_left(in);
    test_state("family: one left step over the cluster", in, "a" FAMILY "b", 1);
    CHECK(test_cursor_col(in) == 1, "family: cursor before it in column 1 (%d)", test_cursor_col(in));
    input_move_right(in);
    test_state("family: one right step over the cluster", in, "a" FAMILY "b", 6);
    input_insert_char(in, 'X');
    test_state("family: typing after it", in, "a" FAMILY "Xb", 7);
    input_move_left(in);
    input_delete_backward(in);
    test_state("family: Backspace takes the cluster", in, "aXb", 1);
    input_move_start(in);
    input_delete_forward(in);
    test_state("Delete", in, "Xb", 0);

    input_set_text(in, FLAG_FR "x");
    input_move_left(in);
    input_move_left(in);
    test_state("flag: one step", in, FLAG_FR "x", 0);
    input_delete_forward(in);
    test_state("flag: Delete takes both letters", in, "x", 0);

    input_set_text(in, E_ACUTE);
    input_delete_backward(in);
    test_state("accent: Backspace takes the accent alone", in, "e", 1);

    input_set_text(in, THUMB_TONE HEART_VS16);
    input_delete_backward(in);
    test_state("VS16: Backspace takes the heart", in, THUMB_TONE, 2);
    CHECK(test_cursor_col(in) == 2, "skin tone: drawn in 2 columns (%d)", test_cursor_col(in));
    input_delete_backward(in);
    test_state("skin tone: Backspace takes the cluster", in, "", 0);

    /* vertical moves keep the display column across clusters */
    input_set_text(in, FAMILY "abc\nxxxxxxxxxx");
    input_up(in);
    test_state("up from column 10 lands after the family's line end", in,
               FAMILY "abc\nxxxxxxxxxx", 8);
    input_free(in);
}

/* Render text at width and join the lines with '|'. New string. */
static char *
test_wrap(const char *text, int width)
{
    textview_style st = {.width = width, .role = ROLE_ASSISTANT};
    cell_lines out;
    cell_lines_init(&out);
    textview_render(&out, text, strlen(text), &st);
    char *joined = calloc(1, 1);
    for (int i = 0; i < out.n; i++) {
        char *line = cell_line_text_new(&out.lines[i]);
        size_t n = strlen(joined) + strlen(line) + 2;
        joined = realloc(joined, n);
        if (i > 0)
            strcat(joined, "|");
        strcat(joined, line);
        free(line);
    }
    cell_lines_free(&out);
    return joined;
}

static void
test_wrapping(void)
{
    /* the drawn family (no joiners) */
    const char *drawn = "\xf0\x9f\x91\xa8\xf0\x9f\x91\xa9\xf0\x9f\x91\xa7";
    char want[128];
    char *got = test_wrap("ab " FAMILY, 7);
    snprintf(want, sizeof want, "ab|%s", drawn);
    CHECK(strcmp(got, want) == 0, "a cluster moves to the next line whole: \"%s\"", got);
    free(got);
    got = test_wrap("abcd" FAMILY, 7);
    snprintf(want, sizeof want, "abcd|%s", drawn);
    CHECK(strcmp(got, want) == 0, "a cluster is not split after a word: \"%s\"", got);
    free(got);
    got = test_wrap("ab" FLAG_FR "c", 3);
    CHECK(strcmp(got, "ab|" FLAG_FR "c") == 0, "a flag stays whole: \"%s\"", got);
    free(got);
    /* wider than the line: split where it must be, nothing lost */
    got = test_wrap(FAMILY, 4);
    CHECK(strstr(got, "\xf0\x9f\x91\xa7") != NULL && strchr(got, '|') != NULL,
          "a cluster wider than the line is split: \"%s\"", got);
    free(got);
}

int
main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL)
        return TEST_SKIP;
    test_sanitize();
    test_editor();
    test_wrapping();
    return testutil_finish("test_grapheme");
}
