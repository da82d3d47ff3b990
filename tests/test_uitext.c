#include "config.h"

#include <locale.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cells.h"
#include "input.h"
#include "pathcomplete.h"
#include "sanitize.h"
#include "testutil.h"
#include "textview.h"
#include "xmalloc.h"

/* ------------------------------------------------------------------ common checks */

static const char *
show(const char *s)
{
    return s != NULL ? s : "(null)";
}

/* Whether a character is one that must never reach the terminal raw. */
static int
test_is_dangerous(wchar_t wc)
{
    return wc < 0x20 || (wc >= 0x7F && wc <= 0x9F) || (wc >= 0x202A && wc <= 0x202E) ||
           (wc >= 0x2066 && wc <= 0x2069) || wc == 0x200E || wc == 0x200F || wc == 0x061C ||
           wc == 0x10EEEE || wc > 0x10FFFF || (wc >= 0xD800 && wc <= 0xDFFF);
}

/*
 * Check every cell of every line: printable characters only, NUL-terminated, a right half only
 * after a wide character, and no line wider than width (0: no limit). Returns 1 when all hold.
 */
static int
test_cells_safe(const char *what, const cell_lines *l, int width)
{
    for (int i = 0; i < l->n; i++) {
        const cell_line *line = &l->lines[i];
        if (width > 0 && line->n > width)
            return CHECK(0, "%s: line %d is %d columns, more than %d", what, i, line->n, width);
        for (int j = 0; j < line->n; j++) {
            const cell *c = &line->cells[j];
            if (c->ch[CELL_CHARS - 1] != 0)
                return CHECK(0, "%s: line %d cell %d not NUL-terminated", what, i, j);
            if (c->ch[0] == 0) {
                int wide = j > 0 && line->cells[j - 1].ch[0] != 0 &&
                           wcwidth(line->cells[j - 1].ch[0]) == 2;
                if (!wide)
                    return CHECK(0, "%s: line %d cell %d: a right half after no wide char", what, i,
                                 j);
                continue;
            }
            if (wcwidth(c->ch[0]) == 2 && (j + 1 >= line->n || line->cells[j + 1].ch[0] != 0))
                return CHECK(0, "%s: line %d cell %d: wide char U+%04X without its right half",
                             what, i, j, (unsigned)c->ch[0]);
            for (int k = 0; k < CELL_CHARS && c->ch[k] != 0; k++) {
                if (test_is_dangerous(c->ch[k]))
                    return CHECK(0, "%s: line %d cell %d holds U+%04X", what, i, j,
                                 (unsigned)c->ch[k]);
                if (k == 0 && wcwidth(c->ch[0]) < 1)
                    return CHECK(0, "%s: line %d cell %d starts with zero-width U+%04X", what, i, j,
                                 (unsigned)c->ch[0]);
            }
        }
    }
    return 1;
}

/* Compare the lines' text with want (n lines); prints the first difference. */
static int
test_lines_equal(const char *what, const cell_lines *got, const char *const *want, int n)
{
    for (int i = 0; i < n || i < got->n; i++) {
        char *g = i < got->n ? cell_line_text_new(&got->lines[i]) : NULL;
        const char *w = i < n ? want[i] : NULL;
        int same = g != NULL && w != NULL && strcmp(g, w) == 0;
        if (!same) {
            CHECK(0, "%s: line %d is \"%s\", want \"%s\" (%d lines, want %d)", what, i, show(g),
                  show(w), got->n, n);
            free(g);
            return 0;
        }
        free(g);
    }
    return CHECK(1, "%s", what);
}

/* Render text and compare with want. */
static void
test_render(const char *what, const char *text, const textview_style *st, const char *const *want,
            int n)
{
    cell_lines l;
    cell_lines_init(&l);
    textview_render(&l, text, strlen(text), st);
    test_lines_equal(what, &l, want, n);
    test_cells_safe(what, &l, st->width);
    CHECK(textview_count_lines(text, strlen(text), st) == l.n, "%s: count_lines differs", what);
    cell_lines_free(&l);
}

#define RENDER(what, text, st, ...)                                                                \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__};                                                 \
        test_render(what, text, st, want_, (int)(sizeof want_ / sizeof want_[0]));                 \
    } while (0)

static textview_style
test_style(int width, int flags)
{
    textview_style st;
    memset(&st, 0, sizeof st);
    st.width = width;
    st.role = ROLE_ASSISTANT;
    st.flags = flags;
    st.prefix_role = ROLE_BORDER;
    return st;
}

/* The glyphs of text with flags. */
static void
test_glyphs(sanitize_glyphs *gl, const char *text, size_t len, int flags)
{
    sanitize_glyphs_init(gl);
    sanitize_glyphs_append(gl, text, len, ROLE_ASSISTANT, 0, flags);
}

/* The glyphs of text as one string, each glyph's characters, for comparison. */
static char *
test_glyphs_text(const sanitize_glyphs *gl)
{
    cell_line line = {NULL, 0};
    for (int i = 0; i < gl->n; i++) {
        if (gl->g[i].width == 0) {
            cell c = gl->g[i].c;
            c.ch[0] = gl->g[i].c.ch[0] == '\n' ? L'⏎' : L'⇥';
            cell_line_push(&line, &c);
        } else {
            sanitize_line_push(&line, &gl->g[i]);
        }
    }
    char *s = cell_line_text_new(&line);
    free(line.cells);
    return s;
}

/* Check that sanitising text (with flags) gives want and only safe cells. */
static void
test_sanitize_text(const char *what, const char *text, size_t len, int flags, const char *want)
{
    sanitize_glyphs gl;
    if (len == 0)
        len = strlen(text);
    test_glyphs(&gl, text, len, flags);
    char *got = test_glyphs_text(&gl);
    CHECK(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", what, got, want);
    cell_lines l;
    cell_lines_init(&l);
    cell_line *line = cell_lines_add(&l);
    for (int i = 0; i < gl.n; i++)
        if (gl.g[i].width > 0)
            sanitize_line_push(line, &gl.g[i]);
    test_cells_safe(what, &l, 0);
    cell_lines_free(&l);
    free(got);
    sanitize_glyphs_free(&gl);
}

/* ------------------------------------------------------------------ sanitize */

static void
test_sanitize_controls(void)
{
    /* every C0 control, DEL, each shown in caret notation in ROLE_ESCAPED */
    for (int c = 0; c < 0x20; c++) {
        char in[3] = {'a', (char)c, 'b'}, want[8];
        snprintf(want, sizeof want, "a^%cb", c + 0x40);
        test_sanitize_text("C0", in, 3, 0, want);
    }
    test_sanitize_text("DEL", "a\177b", 3, 0, "a^?b");
    test_sanitize_text("newline and tab kept as glyphs", "a\nb\tc", 5,
                       SANITIZE_BREAKS | SANITIZE_TABS, "a⏎b⇥c");
    test_sanitize_text("CSI", "x\x1b[2J\x1b[31mred", 0, 0, "x^[[2J^[[31mred");
    test_sanitize_text("OSC 52", "\x1b]52;c;aGk=\x07", 0, 0, "^[]52;c;aGk=^G");
    test_sanitize_text("OSC 8 link", "\x1b]8;;http://x\x1b\\t\x1b]8;;\x1b\\", 0, 0,
                       "^[]8;;http://x^[\\t^[]8;;^[\\");
    test_sanitize_text("kitty APC", "\x1b_Ga=T;AAAA\x1b\\", 0, 0, "^[_Ga=T;AAAA^[\\");
    test_sanitize_text("sixel DCS", "\x1bPq#0;2;0;0;0\x1b\\", 0, 0, "^[Pq#0;2;0;0;0^[\\");

    /* every C1 control as UTF-8, and the same bytes raw (invalid UTF-8) */
    for (int c = 0x80; c <= 0x9F; c++) {
        char in[2] = {(char)(0xC0 | (c >> 6)), (char)(0x80 | (c & 0x3F))}, want[16];
        snprintf(want, sizeof want, "<U+%04X>", c);
        test_sanitize_text("C1", in, 2, 0, want);
        char raw[1] = {(char)c};
        test_sanitize_text("raw C1 byte", raw, 1, 0, "\xEF\xBF\xBD");
    }

    /* bidirectional controls */
    static const unsigned bidi[] = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066,
                                    0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C};
    for (size_t i = 0; i < sizeof bidi / sizeof bidi[0]; i++) {
        char in[8], want[16];
        mbstate_t ps;
        memset(&ps, 0, sizeof ps);
        size_t n = wcrtomb(in, (wchar_t)bidi[i], &ps);
        snprintf(want, sizeof want, "<U+%04X>", bidi[i]);
        test_sanitize_text("bidi", in, n, 0, want);
    }

    /* the escaped forms are in ROLE_ESCAPED, the text around in its own role */
    sanitize_glyphs gl;
    test_glyphs(&gl, "a\033b", 3, 0);
    CHECK(gl.n == 4 && gl.g[0].c.role == ROLE_ASSISTANT && gl.g[1].c.role == ROLE_ESCAPED &&
              gl.g[2].c.role == ROLE_ESCAPED && gl.g[3].c.role == ROLE_ASSISTANT,
          "roles of an escaped ESC");
    sanitize_glyphs_free(&gl);
}

static void
test_sanitize_unicode(void)
{
    /* invalid UTF-8: one U+FFFD per bad byte, one for a sequence cut off at the end */
    test_sanitize_text("stray byte", "a\377b", 3, 0, "a\357\277\275b");
    test_sanitize_text("overlong", "\xc0\xaf", 2, 0, "\xEF\xBF\xBD\xEF\xBF\xBD");
    test_sanitize_text("surrogate", "\xed\xa0\x80", 3, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    test_sanitize_text("cut off", "ok\xe4\xb8", 4, 0, "ok\xEF\xBF\xBD");
    test_sanitize_text("beyond U+10FFFF", "\xf4\x90\x80\x80", 4, 0,
                       "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    test_sanitize_text("NUL inside", "a\0b", 3, 0, "a^@b");
    /* unassigned (wcwidth -1) and the kitty placeholder become U+FFFD */
    test_sanitize_text("unassigned", "\xcd\xb8", 2, 0, "\xEF\xBF\xBD");
    test_sanitize_text("kitty placeholder", "\xf4\x8e\xbb\xae\xcc\x85", 6, 0,
                       "\xEF\xBF\xBD\xcc\x85");

    /* wide characters take two cells, the right half empty */
    sanitize_glyphs gl;
    test_glyphs(&gl, "中😀a", strlen("中😀a"), 0);
    CHECK(gl.n == 3 && gl.g[0].width == 2 && gl.g[1].width == 2 && gl.g[2].width == 1,
          "widths of CJK, emoji, ASCII");
    cell_line line = {NULL, 0};
    for (int i = 0; i < gl.n; i++)
        sanitize_line_push(&line, &gl.g[i]);
    CHECK(line.n == 5 && line.cells[1].ch[0] == 0 && line.cells[3].ch[0] == 0 &&
              line.cells[1].role == ROLE_ASSISTANT,
          "right halves: %d cells", line.n);
    free(line.cells);
    sanitize_glyphs_free(&gl);

    /* combining marks attach; at most two per cell; one with no base gets U+00A0 */
    test_glyphs(&gl, "e\xcc\x81x", 4, 0);
    CHECK(gl.n == 2 && gl.g[0].c.ch[0] == 'e' && gl.g[0].c.ch[1] == 0x301 && gl.g[0].c.ch[2] == 0 &&
              gl.g[0].width == 1,
          "e + U+0301 is one cell");
    sanitize_glyphs_free(&gl);
    test_glyphs(&gl, "a\xcc\x81\xcc\x82\xcc\x83\xcc\x84", 9, 0);
    CHECK(gl.n == 1 && gl.g[0].c.ch[1] == 0x301 && gl.g[0].c.ch[2] == 0x302 && gl.g[0].c.ch[3] == 0,
          "marks beyond two dropped");
    sanitize_glyphs_free(&gl);
    test_glyphs(&gl, "\314\201a\n\314\202", 6, SANITIZE_BREAKS);
    CHECK(gl.n == 4 && gl.g[0].c.ch[0] == 0xA0 && gl.g[0].c.ch[1] == 0x301 &&
              gl.g[3].c.ch[0] == 0xA0 && gl.g[3].c.ch[1] == 0x302,
          "marks with no base get U+00A0");
    sanitize_glyphs_free(&gl);
    test_glyphs(&gl, "\x1b\xcc\x81", 3, 0);
    CHECK(gl.n == 3 && gl.g[2].c.ch[0] == 0xA0 && gl.g[2].c.role == ROLE_ASSISTANT,
          "a mark after an escaped character gets its own base");
    sanitize_glyphs_free(&gl);
    test_glyphs(&gl, "中\xcc\x81", 5, 0);
    CHECK(gl.n == 1 && gl.g[0].width == 2 && gl.g[0].c.ch[1] == 0x301, "mark on a wide char");
    sanitize_glyphs_free(&gl);

    CHECK(sanitize_width("中a\x1b", 5, 0) == 5, "width of 中a^[: %d",
          sanitize_width("中a\x1b", 5, 0));
    CHECK(sanitize_wchar_width(0x9B) == 8 && sanitize_wchar_width(0x1B) == 2 &&
              sanitize_wchar_width(0x301) == 0 && sanitize_wchar_width(0x4E2D) == 2 &&
              sanitize_wchar_width(0x378) == 1,
          "sanitize_wchar_width");
    CHECK(sanitize_wchar_is_mark(0x301) && !sanitize_wchar_is_mark(0x202E) &&
              !sanitize_wchar_is_mark('a') && sanitize_wchar_is_escaped('\n') &&
              sanitize_wchar_is_escaped(0x2066) && !sanitize_wchar_is_escaped(0x301),
          "mark and escaped classes");
}

static void
test_sanitize_string(void)
{
    char *s = sanitize_string_new("photo\x1b[2J\x07\xc2\x9b\xe2\x80\xae.png\xff\n");
    CHECK(strcmp(s, "photo^[[2J^G<U+009B><U+202E>.png\xEF\xBF\xBD^J") == 0, "string: %s", s);
    free(s);
    s = sanitize_string_new("\314\201café 中");
    CHECK(strcmp(s, "\302\240\314\201café 中") == 0, "string keeps text: %s", s);
    free(s);

    cell_line line = {NULL, 0};
    int cols = sanitize_line_append(&line, "a\tb中", ROLE_STATUS, CELL_BOLD);
    char *t = cell_line_text_new(&line);
    CHECK(cols == 6 && line.n == 6 && strcmp(t, "a^Ib中") == 0 &&
              line.cells[0].role == ROLE_STATUS && line.cells[0].attr == CELL_BOLD &&
              line.cells[1].role == ROLE_ESCAPED,
          "line append: %d columns, \"%s\"", cols, t);
    free(t);
    free(line.cells);
}

/* Random bytes with many controls and high bytes through every renderer: nothing unsafe. */
static void
test_sanitize_fuzz(void)
{
    static const char pieces[][8] = {"\x1b",
                                     "[",
                                     "]",
                                     "\x07",
                                     "\xc2\x9b",
                                     "\xc2\x90",
                                     "\x9b",
                                     "\xe2\x80\xae",
                                     "\xe2\x81\xa6",
                                     "*",
                                     "**",
                                     "`",
                                     "```",
                                     "\n",
                                     "\t",
                                     " ",
                                     "中",
                                     "\xcc\x81",
                                     "- ",
                                     "# ",
                                     "\r",
                                     "\xf0\x9f\x98\x80",
                                     "\xff",
                                     "\xe4",
                                     "_",
                                     "\\",
                                     "1. "};
    int bad = 0;
    for (int iter = 0; iter < 1500 && !bad; iter++) {
        char text[400];
        size_t len = 0;
        int n = (int)(testutil_random() % 60);
        for (int k = 0; k < n; k++) {
            if (testutil_random() % 3 == 0) {
                text[len++] = (char)(testutil_random() & 0xFF);
            } else {
                const char *p = pieces[testutil_random() % (sizeof pieces / sizeof pieces[0])];
                memcpy(text + len, p, strlen(p));
                len += strlen(p);
            }
        }
        textview_style st =
            test_style(1 + (int)(testutil_random() % 30), iter % 2 ? TEXTVIEW_MARKDOWN : 0);
        st.prefix = iter % 3 == 0 ? "\x1b| " : NULL;
        cell_lines l;
        cell_lines_init(&l);
        textview_render(&l, text, len, &st);
        bad = !test_cells_safe("fuzzed text", &l, st.width);
        cell_lines_free(&l);

        char *z = xstrndup(text, len);
        char *s = sanitize_string_new(z);
        for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && !bad; p++)
            if (*p < 0x20 || *p == 0x7F)
                bad = !CHECK(0, "sanitize_string_new left byte 0x%02x", *p);
        if (!bad && (strstr(s, "\xc2\x9b") != NULL || strstr(s, "\xe2\x80\xae") != NULL))
            bad = !CHECK(0, "sanitize_string_new left a C1 CSI or a bidi override");
        free(s);

        input *in = input_new();
        input_insert_text(in, z, strlen(z));
        int row, col;
        cell_lines_init(&l);
        input_layout(in, st.width, 5, &l, &row, &col);
        if (!bad)
            bad = !test_cells_safe("fuzzed input", &l, st.width);
        cell_lines_free(&l);
        input_free(in);
        free(z);
    }
    CHECK(!bad, "fuzzed text stays safe");
}

/* ------------------------------------------------------------------ textview */

static void
test_wrap(void)
{
    textview_style st = test_style(10, 0);
    RENDER("words", "the quick brown fox jumps over the lazy dog", &st, "the quick", "brown fox",
           "jumps over", "the lazy", "dog");
    st.width = 6;
    RENDER("spaces at the wrap dropped", "aaaa    bbbb  ", &st, "aaaa", "bbbb");
    st.width = 20;
    RENDER("indentation kept", "  indented text", &st, "  indented text");
    st.width = 5;
    RENDER("long word broken", "abcdefghijkl", &st, "abcde", "fghij", "kl");
    RENDER("long word starts on the line", "xx abcdefghijkl", &st, "xx ab", "cdefg", "hijkl");
    RENDER("indentation wider than the line", "        word", &st, " word");
    RENDER("CJK at width 5", "中文字符测试", &st, "中文", "字符", "测试");
    st.width = 7;
    RENDER("CJK at width 7", "中文字符测试", &st, "中文字", "符测试");
    st.width = 5;
    RENDER("wide char at the last column moves", "abcd中", &st, "abcd", "中");
    st.width = 6;
    RENDER("emoji", "hi 😀😀😀", &st, "hi 😀", "😀😀");
    st.width = 4;
    RENDER("no break before 。", "中文。", &st, "中", "文。");
    st.width = 20;
    RENDER("tabs", "a\tb\nab\tc\n\tx\nabcd\te", &st, "a   b", "ab  c", "    x", "abcd    e");
    RENDER("newlines", "a\n\nb\n", &st, "a", "", "b", "");
    RENDER("CRLF", "a\r\nb\rc", &st, "a", "b^Mc");
    RENDER("combining", "cafe\xcc\x81 ok", &st, "cafe\xcc\x81 ok");
    st.width = 1;
    RENDER("width 1", "a中b", &st, "a", "\xEF\xBF\xBD", "b");
    st.width = 0;
    RENDER("width 0 is 1", "ab", &st, "a", "b");

    cell_lines l;
    cell_lines_init(&l);
    st = test_style(10, 0);
    textview_render(&l, "", 0, &st);
    CHECK(l.n == 0, "empty text has no lines (%d)", l.n);
    /* lines are appended after what out already holds */
    textview_render(&l, "a", 1, &st);
    textview_render(&l, "b", 1, &st);
    CHECK(l.n == 2, "appending: %d lines", l.n);
    cell_lines_free(&l);

    st = test_style(12, 0);
    st.first_prefix = "you: ";
    st.prefix = "     ";
    RENDER("prefixes", "hello there general kenobi", &st, "you: hello", "     there",
           "     general", "     kenobi");
    cell_lines_init(&l);
    textview_render(&l, "hi", 2, &st);
    CHECK(l.n == 1 && l.lines[0].cells[0].role == ROLE_BORDER &&
              l.lines[0].cells[5].role == ROLE_ASSISTANT,
          "prefix role");
    cell_lines_free(&l);
    st.width = 3;
    RENDER("prefix shortened to keep a column", "ab", &st, "yoa", "  b");

    /* no line is ever wider than the width */
    static const char *const samples[] = {
        "The bus is **red** and `white`; 中文字符 😀 emoji\tand tabs.\n- a list item that wraps",
        "```\nint main(void) { return 0; }\n```",
        "supercalifragilisticexpialidocious 中中中中中中中中中中",
    };
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++)
        for (int w = 1; w <= 40; w++) {
            st = test_style(w, TEXTVIEW_MARKDOWN);
            st.prefix = "| ";
            cell_lines_init(&l);
            textview_render(&l, samples[k], strlen(samples[k]), &st);
            int ok = test_cells_safe("sample widths", &l, w);
            cell_lines_free(&l);
            if (!ok) {
                CHECK(0, "sample %zu at width %d", k, w);
                break;
            }
        }
}

/* The cell of the first occurrence of character wc in the lines. */
static const cell *
test_find(const cell_lines *l, wchar_t wc)
{
    for (int i = 0; i < l->n; i++)
        for (int j = 0; j < l->lines[i].n; j++)
            if (l->lines[i].cells[j].ch[0] == wc)
                return &l->lines[i].cells[j];
    return NULL;
}

static void
test_markdown(void)
{
    textview_style st = test_style(40, TEXTVIEW_MARKDOWN);
    cell_lines l;
    const cell *c;
    const char *text = "**B** and *I* and `C` and __D__ and ***E*** x";
    RENDER("inline", text, &st, "B and I and C and D and E x");
    cell_lines_init(&l);
    textview_render(&l, text, strlen(text), &st);
    c = test_find(&l, 'B');
    CHECK(c != NULL && c->role == ROLE_BOLD && c->attr == CELL_BOLD, "**bold**");
    c = test_find(&l, 'I');
    CHECK(c != NULL && c->role == ROLE_ASSISTANT && c->attr == CELL_ITALIC, "*italic*");
    c = test_find(&l, 'C');
    CHECK(c != NULL && c->role == ROLE_CODE && c->attr == 0, "`code`");
    c = test_find(&l, 'D');
    CHECK(c != NULL && c->role == ROLE_BOLD && c->attr == CELL_BOLD, "__bold__");
    c = test_find(&l, 'E');
    CHECK(c != NULL && c->attr == (CELL_BOLD | CELL_ITALIC), "***bold italic***");
    c = test_find(&l, 'x');
    CHECK(c != NULL && c->role == ROLE_ASSISTANT && c->attr == 0, "plain after markup");
    cell_lines_free(&l);

    cell_lines_init(&l);
    text = "**a *b* `c`**";
    textview_render(&l, text, strlen(text), &st);
    c = test_find(&l, 'b');
    CHECK(c != NULL && c->attr == (CELL_BOLD | CELL_ITALIC), "italic inside bold");
    c = test_find(&l, 'c');
    CHECK(c != NULL && c->role == ROLE_CODE && c->attr == CELL_BOLD, "code inside bold");
    cell_lines_free(&l);

    RENDER("literal stars", "2 * 3 * 4 and a ** b", &st, "2 * 3 * 4 and a ** b");
    RENDER("unclosed bold", "**unclosed text", &st, "**unclosed text");
    RENDER("unclosed code", "a `b c", &st, "a `b c");
    RENDER("snake_case", "snake_case_name and __init__", &st, "snake_case_name and init");
    RENDER("escapes", "\\*not\\* \\`x\\` C:\\path", &st, "*not* `x` C:\\path");
    RENDER("markup inside code", "`a**b**` ``x ` y``", &st, "a**b** x ` y");
    RENDER("star run", "**a*", &st, "*a");
    RENDER("heading", "# Title\n## Sub ##\n#hashtag\n# C#", &st, "Title", "Sub", "#hashtag", "C#");
    cell_lines_init(&l);
    textview_render(&l, "# Title", 7, &st);
    c = test_find(&l, 'T');
    CHECK(c != NULL && (c->attr & CELL_BOLD), "heading is bold");
    cell_lines_free(&l);

    RENDER("lists", "- one\n* two\n+ three\n1. first\n12) twelfth\n  - nested\n-no", &st, "• one",
           "• two", "• three", "1. first", "12) twelfth", "  • nested", "-no");
    cell_lines_init(&l);
    textview_render(&l, "- one\n3. x", 10, &st);
    CHECK(l.lines[0].cells[0].role == ROLE_BULLET && l.lines[0].cells[2].role == ROLE_ASSISTANT &&
              l.lines[1].cells[0].role == ROLE_BULLET && l.lines[1].cells[1].role == ROLE_BULLET,
          "bullet roles");
    cell_lines_free(&l);
    st.width = 10;
    RENDER("hanging indent", "- alpha beta gamma\n10. alpha beta", &st, "• alpha", "  beta",
           "  gamma", "10. alpha", "    beta");
    RENDER("rule", "---\n* * *\n--", &st, "──────────", "──────────", "--");

    st.width = 20;
    RENDER("fence", "```python\nx = 1\n```\nafter", &st, "```python", "x = 1", "```", "after");
    cell_lines_init(&l);
    text = "```python\nx = 1\n```";
    textview_render(&l, text, strlen(text), &st);
    CHECK(l.lines[0].cells[0].role == ROLE_CODE_BLOCK && (l.lines[0].cells[0].attr & CELL_DIM) &&
              l.lines[1].cells[0].role == ROLE_CODE_BLOCK &&
              !(l.lines[1].cells[0].attr & CELL_DIM) && (l.lines[2].cells[0].attr & CELL_DIM),
          "fence and code roles");
    cell_lines_free(&l);
    st.width = 4;
    RENDER("code hard-broken", "```\nabcdefghij klm\n```", &st, "```", "abcd", "efgh", "ij k", "lm",
           "```");
    st.width = 20;
    RENDER("no markup in code", "```\n**x** `y`\n# z\n```", &st, "```", "**x** `y`", "# z", "```");
    RENDER("unclosed fence is code", "```\ncode *x*\n- y", &st, "```", "code *x*", "- y");
    RENDER("indented fence", "  ```\n  x\n    y\n  ```\n*a*", &st, "  ```", "x", "  y", "  ```",
           "a");
    RENDER("longer closing fence", "````\n```\n````", &st, "````", "```", "````");
    RENDER("tabs in code", "```\n\tx\n```", &st, "```", "    x", "```");
    RENDER("inline triple backticks", "use ```x``` here", &st, "use x here");

    st = test_style(20, 0);
    RENDER("no markdown without the flag", "**x** `y`\n# z", &st, "**x** `y`", "# z");
}

static void
test_last_code(void)
{
    const char *text = "a\n```c\nint x;\n```\nb\n```sh\n  ls -l\necho hi\n```\nc";
    char *code = textview_last_code_new(text, strlen(text));
    CHECK(code != NULL && strcmp(code, "  ls -l\necho hi") == 0, "last block: \"%s\"", show(code));
    free(code);
    text = "```py\nprint(1)\nprint(2";
    code = textview_last_code_new(text, strlen(text));
    CHECK(code != NULL && strcmp(code, "print(1)\nprint(2") == 0, "unclosed: \"%s\"", show(code));
    free(code);
    text = "  ```\n    x\n  ```";
    code = textview_last_code_new(text, strlen(text));
    CHECK(code != NULL && strcmp(code, "  x") == 0, "indented: \"%s\"", show(code));
    free(code);
    code = textview_last_code_new("```\n```", 7);
    CHECK(code != NULL && *code == '\0', "empty block: \"%s\"", show(code));
    free(code);
    code = textview_last_code_new("no code `here`", 14);
    CHECK(code == NULL, "no block");
}

static void
test_streaming(void)
{
    static const char reply[] = "# Buses\n\nThe bus is **red** and *white*, see `bus.jpg`.\n\n"
                                "- first point with ***emphasis***\n- second 中文 point 😀\n\n"
                                "```python\ndef f(x):\n\treturn x * 2  # **not bold**\n```\n"
                                "1. done \xe2\x80\xae and \x1b[31m colours\n";
    textview_style st = test_style(24, TEXTVIEW_MARKDOWN);
    st.prefix = "  ";
    size_t len = strlen(reply);
    int ok = 1;
    for (size_t n = 0; n <= len && ok; n++) {
        cell_lines l;
        cell_lines_init(&l);
        textview_render(&l, reply, n, &st);
        ok = test_cells_safe("streamed prefix", &l, st.width);
        if (!ok)
            CHECK(0, "prefix of %zu bytes", n);
        cell_lines_free(&l);
    }
    CHECK(ok, "every prefix renders safely");

    /* partial markup mid-stream */
    st.prefix = NULL;
    RENDER("stream: open bold", "The bus is **re", &st, "The bus is **re");
    RENDER("stream: open fence", "Code:\n```py\ndef f(", &st, "Code:", "```py", "def f(");
    RENDER("stream: cut UTF-8", "中\xe6\x96", &st, "中\xEF\xBF\xBD");

    st.prefix = "  ";
    RENDER("final", reply, &st, "  Buses", "  ", "  The bus is red and", "  white, see bus.jpg.",
           "  ", "  • first point with", "    emphasis", "  • second 中文 point 😀", "  ",
           "  ```python", "  def f(x):", "      return x * 2  # **", "  not bold**", "  ```",
           "  1. done <U+202E> and", "     ^[[31m colours", "  ");
    cell_lines a, b;
    cell_lines_init(&a);
    cell_lines_init(&b);
    textview_render(&a, reply, len, &st);
    textview_render(&b, reply, len, &st);
    int same = a.n == b.n;
    for (int i = 0; same && i < a.n; i++)
        same = a.lines[i].n == b.lines[i].n &&
               memcmp(a.lines[i].cells, b.lines[i].cells, (size_t)a.lines[i].n * sizeof(cell)) == 0;
    CHECK(same, "rendering the same text twice gives the same cells");
    cell_lines_free(&a);
    cell_lines_free(&b);
}

/* ------------------------------------------------------------------ input */

static void
test_input_text(input *in, const char *what, const char *want, size_t cursor)
{
    char *t = input_text_new(in);
    CHECK(strcmp(t, want) == 0 && input_cursor(in) == cursor,
          "%s: text \"%s\" cursor %zu, want \"%s\" cursor %zu", what, t, input_cursor(in), want,
          cursor);
    free(t);
}

static void
test_input_editing(void)
{
    input *in = input_new();
    const wchar_t typed[] = L"héllo";
    for (size_t i = 0; i < wcslen(typed); i++)
        input_insert_char(in, typed[i]);
    test_input_text(in, "typed", "héllo", 5);
    CHECK(input_insert_char(in, 0x1b) == 0 && input_insert_char(in, 0x9b) == 0 &&
              input_insert_char(in, 0x07) == 0,
          "controls are not inserted");
    input_insert_char(in, '\r');
    test_input_text(in, "\\r is a newline", "héllo\n", 6);
    input_delete_backward(in);

    input_set_text(in, "foo bar-baz qux");
    input_move_word_left(in);
    test_input_text(in, "word left", "foo bar-baz qux", 12);
    input_move_word_left(in);
    test_input_text(in, "word left over -", "foo bar-baz qux", 8);
    input_move_start(in);
    CHECK(input_move_left(in) == 0, "left at the start does nothing");
    input_move_word_right(in);
    test_input_text(in, "word right", "foo bar-baz qux", 3);
    input_move_word_right(in);
    test_input_text(in, "word right again", "foo bar-baz qux", 7);
    input_move_right(in);
    test_input_text(in, "right", "foo bar-baz qux", 8);
    input_move_end(in);
    CHECK(input_move_right(in) == 0, "right at the end does nothing");

    input_set_text(in, "ab\ncd");
    input_move_line_start(in);
    test_input_text(in, "home of line", "ab\ncd", 3);
    input_move_start(in);
    input_move_line_end(in);
    test_input_text(in, "end of line", "ab\ncd", 2);
    input_move_end(in);
    test_input_text(in, "end", "ab\ncd", 5);

    /* combining marks travel with their character */
    input_set_text(in, "e\xcc\x81x");
    input_move_left(in);
    test_input_text(in, "left over x", "e\xcc\x81x", 2);
    input_move_left(in);
    test_input_text(in, "left over e+mark", "e\xcc\x81x", 0);
    input_move_right(in);
    test_input_text(in, "right over e+mark", "e\xcc\x81x", 2);
    input_move_start(in);
    input_delete_forward(in);
    test_input_text(in, "delete forward takes the mark", "x", 0);
    input_set_text(in, "e\xcc\x81");
    input_delete_backward(in);
    test_input_text(in, "delete backward takes the mark only", "e", 1);
    CHECK(input_delete_forward(in) == 0, "delete forward at the end does nothing");
    input_set_text(in, "a\n\xcc\x81");
    input_move_left(in);
    test_input_text(in, "a mark after a newline is its own character", "a\n\xcc\x81", 2);
    input_delete_backward(in);
    test_input_text(in, "joining puts the cursor after the mark", "a\xcc\x81", 2);

    /* wide characters */
    input_set_text(in, "中文x");
    input_move_left(in);
    input_move_left(in);
    input_delete_backward(in);
    test_input_text(in, "wide delete", "文x", 0);
    input_move_word_right(in);
    test_input_text(in, "CJK is a word", "文x", 2);

    /* kill and yank */
    input_set_text(in, "hello world");
    input_move_start(in);
    for (int i = 0; i < 6; i++)
        input_move_right(in);
    input_kill_line_end(in);
    test_input_text(in, "Ctrl-K", "hello ", 6);
    input_move_start(in);
    input_yank(in);
    test_input_text(in, "Ctrl-Y", "worldhello ", 5);
    input_set_text(in, "ab\ncd");
    input_move_start(in);
    input_move_line_end(in);
    input_kill_line_end(in);
    test_input_text(in, "Ctrl-K at the line end joins", "abcd", 2);
    input_set_text(in, "abc\ndef");
    input_move_left(in);
    input_move_left(in);
    input_kill_line_start(in);
    test_input_text(in, "Ctrl-U", "abc\nef", 4);
    input_kill_line_start(in);
    test_input_text(in, "Ctrl-U at the line start joins", "abcef", 3);
    input_set_text(in, "foo bar  ");
    input_kill_word_backward(in);
    test_input_text(in, "Ctrl-W", "foo ", 4);
    input_yank(in);
    input_yank(in);
    test_input_text(in, "yank twice", "foo bar  bar  ", 14);
    input_move_start(in);
    CHECK(input_kill_word_backward(in) == 0 && input_kill_line_start(in) == 0,
          "nothing to kill at the start");

    /* paste */
    input_set_text(in, "");
    input_insert_text(in, "a\r\nb\rc\x1b[31m\007d\te\xff", 16);
    test_input_text(in, "paste", "a\nb\nc[31md\te\xEF\xBF\xBD", 13);
    size_t big = 1 << 20;
    char *text = xmalloc(big + 1);
    for (size_t i = 0; i < big; i++)
        text[i] = i % 64 == 63 ? '\n' : (char)('a' + i % 26);
    text[big] = '\0';
    input_set_text(in, "<>");
    input_move_left(in);
    input_insert_text(in, text, big);
    CHECK(input_length(in) == big + 2 && input_cursor(in) == big + 1, "big paste: %zu",
          input_length(in));
    free(text);
    char *taken = input_take_new(in);
    CHECK(strlen(taken) == big + 2 && taken[0] == '<' && taken[big + 1] == '>' &&
              input_length(in) == 0,
          "take after a big paste");
    free(taken);
    input_free(in);
}

static void
test_input_vertical(void)
{
    input *in = input_new();
    input_set_text(in, "abcdef\nxy\nabcdef");
    input_up(in);
    test_input_text(in, "up to a short line", "abcdef\nxy\nabcdef", 9);
    input_up(in);
    test_input_text(in, "up keeps the column", "abcdef\nxy\nabcdef", 6);
    input_down(in);
    input_down(in);
    test_input_text(in, "down twice", "abcdef\nxy\nabcdef", 16);
    CHECK(input_down(in) == 0, "down on the last line with no history does nothing");

    /* columns are display columns: a wide character counts two */
    input_set_text(in, "中文\nabcd");
    input_move_left(in);
    input_up(in);
    test_input_text(in, "up by display column", "中文\nabcd", 1);
    input_free(in);
}

static void
test_input_history(void)
{
    input *in = input_new();
    const char *sent[] = {"one", "two", "two", ""};
    for (int i = 0; i < 4; i++) {
        input_set_text(in, sent[i]);
        free(input_take_new(in));
    }
    CHECK(input_history_count(in) == 2, "history without repeats and empties: %d",
          input_history_count(in));

    input_set_text(in, "draft");
    input_up(in);
    test_input_text(in, "up", "two", 3);
    input_up(in);
    test_input_text(in, "up again", "one", 3);
    CHECK(input_up(in) == 0, "up at the oldest entry does nothing");
    input_down(in);
    test_input_text(in, "down", "two", 3);
    input_down(in);
    test_input_text(in, "draft comes back", "draft", 5);
    CHECK(input_down(in) == 0, "down past the draft does nothing");

    input_up(in);
    input_insert_char(in, '!');
    input_up(in);
    test_input_text(in, "browsing past an edited entry", "one", 3);
    input_down(in);
    test_input_text(in, "the edit is kept", "two!", 4);
    input_down(in);
    test_input_text(in, "draft still there", "draft", 5);
    char *t = input_take_new(in);
    CHECK(strcmp(t, "draft") == 0 && input_length(in) == 0, "take: %s", t);
    free(t);
    input_up(in);
    input_up(in);
    test_input_text(in, "history entry unchanged after the edit", "two", 3);
    input_down(in);
    input_down(in);
    test_input_text(in, "empty draft", "", 0);

    /* a multi-line entry: up moves inside it before going further back */
    input_set_text(in, "l1\nl2");
    free(input_take_new(in));
    input_up(in);
    test_input_text(in, "multi-line entry", "l1\nl2", 5);
    input_up(in);
    test_input_text(in, "up inside the entry", "l1\nl2", 2);
    input_up(in);
    test_input_text(in, "then the entry before", "draft", 5);

    for (int i = 0; i < INPUT_HISTORY_MAX + 5; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "m%d", i);
        input_set_text(in, buf);
        free(input_take_new(in));
    }
    CHECK(input_history_count(in) == INPUT_HISTORY_MAX, "history capped: %d",
          input_history_count(in));
    for (int i = 0; i < INPUT_HISTORY_MAX; i++)
        input_up(in);
    test_input_text(in, "oldest kept entry", "m5", 2);
    input_free(in);
}

/* Lay out and compare the rows and the cursor. */
static void
test_layout(input *in, const char *what, int width, int max_rows, const char *const *want, int n,
            int row, int col)
{
    cell_lines l;
    int r, c;
    cell_lines_init(&l);
    input_layout(in, width, max_rows, &l, &r, &c);
    test_lines_equal(what, &l, want, n);
    test_cells_safe(what, &l, width);
    CHECK(r == row && c == col, "%s: cursor at %d,%d, want %d,%d", what, r, c, row, col);
    cell_lines_free(&l);
}

#define LAYOUT(in, what, width, max_rows, row, col, ...)                                           \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__};                                                 \
        test_layout(in, what, width, max_rows, want_, (int)(sizeof want_ / sizeof want_[0]), row,  \
                    col);                                                                          \
    } while (0)

static void
test_input_layout(void)
{
    input *in = input_new();
    LAYOUT(in, "empty", 10, 3, 0, 0, "");
    input_set_text(in, "abcdefgh");
    LAYOUT(in, "wrapped", 5, 3, 1, 3, "abcde", "fgh");
    input_set_text(in, "abcde");
    LAYOUT(in, "cursor after a full row", 5, 3, 1, 0, "abcde", "");
    input_move_left(in);
    LAYOUT(in, "cursor inside a full row", 5, 3, 0, 4, "abcde");
    input_set_text(in, "abcd中");
    LAYOUT(in, "wide char never split", 5, 3, 1, 2, "abcd", "中");
    input_move_left(in);
    LAYOUT(in, "cursor on the moved wide char", 5, 3, 1, 0, "abcd", "中");
    input_set_text(in, "a\tb\nc");
    LAYOUT(in, "tab and newline", 10, 3, 1, 1, "a   b", "c");
    input_set_text(in, "a\xe2\x80\256b\xcc\x81");
    LAYOUT(in, "bidi shown, mark attached", 20, 3, 0, 10, "a<U+202E>b\xcc\x81");
    input_set_text(in, "中");
    LAYOUT(in, "wide char in one column", 1, 3, 1, 0, "\xEF\xBF\xBD", "");

    input_set_text(in, "1\n2\n3\n4\n5\n6");
    LAYOUT(in, "scrolled to the cursor", 5, 3, 2, 1, "4", "5", "6");
    input_up(in);
    input_up(in);
    LAYOUT(in, "no scroll while the cursor is visible", 5, 3, 0, 1, "4", "5", "6");
    input_up(in);
    LAYOUT(in, "scroll up one row", 5, 3, 0, 1, "3", "4", "5");
    input_move_start(in);
    LAYOUT(in, "scroll to the top", 5, 3, 0, 0, "1", "2", "3");
    LAYOUT(in, "max_rows 0 is 1", 5, 0, 0, 0, "1");
    input_free(in);
}

/* ------------------------------------------------------------------ paths */

/* Parse arg and compare with want. */
static void
test_parse(const char *arg, const char *want)
{
    char *path = NULL, *cause = NULL;
    int r = pathcomplete_parse(arg, &path, &cause);
    CHECK(r == 0 && strcmp(path, want) == 0, "parse [%s]: [%s] (%s), want [%s]", arg, show(path),
          show(cause), want);
    free(path);
    free(cause);
}

/* Parse arg, expecting an error whose message contains want. */
static void
test_parse_error(const char *arg, const char *want)
{
    char *path = NULL, *cause = NULL;
    int r = pathcomplete_parse(arg, &path, &cause);
    CHECK(r == -1 && path == NULL && cause != NULL && strstr(cause, want) != NULL,
          "parse [%s]: %d [%s], want an error with [%s]", arg, r, show(cause), want);
    free(path);
    free(cause);
}

static void
test_paths_parse(const char *home)
{
    test_parse("  /tmp/x.png  ", "/tmp/x.png");
    test_parse("'my photo.png'", "my photo.png");
    test_parse("\"my photo.png\"", "my photo.png");
    test_parse("my\\ photo.png", "my photo.png");
    test_parse("my photo.png", "my photo.png");
    test_parse("\"a\\\"q\\\\.png\"", "a\"q\\.png");
    test_parse("\"a\\b\"", "a\\b");
    test_parse("'it'\\''s.png'", "it's.png");
    test_parse("\"my dir\"/'a b'.png", "my dir/a b.png");
    test_parse("a\\ ", "a ");
    test_parse("'a '", "a ");
    test_parse("a\\", "a\\");
    char *want = xasprintf("%s/x y.png", home);
    test_parse("~/x\\ y.png", want);
    free(want);
    test_parse("~", home);
    test_parse("~  ", home);
    test_parse("'~/x'", "~/x");
    test_parse("\\~/x", "~/x");
    test_parse("~'x'/y", "~x/y");
    test_parse("a~/x", "a~/x");

    const struct passwd *pw = getpwnam("root");
    if (pw != NULL) {
        char *path = NULL, *wantroot = xasprintf("%s/x", pw->pw_dir);
        CHECK(pathcomplete_parse("~root/x", &path, NULL) == 0 && strcmp(path, wantroot) == 0,
              "~root/x: %s, want %s", show(path), wantroot);
        free(path);
        free(wantroot);
    }

    test_parse_error("'abc", "unclosed '");
    test_parse_error("\"abc", "unclosed \"");
    test_parse_error("   ", "no path given");
    test_parse_error("''x'", "unclosed '");
    test_parse_error("~no-such-user-imp/x", "no user \"no-such-user-imp\"");

    /* without HOME the password database gives the home folder */
    char *saved = xstrdup(home);
    unsetenv("HOME");
    char *path = NULL, *cause = NULL;
    CHECK(pathcomplete_parse("~/x", &path, &cause) == 0 && path[0] == '/' &&
              strcmp(path + strlen(path) - 2, "/x") == 0,
          "~ without HOME: %s (%s)", show(path), show(cause));
    free(path);
    free(cause);
    setenv("HOME", saved, 1);
    free(saved);
}

/* Complete typed and compare the insertion and the candidates (n of them). */
static void
test_complete(const char *typed, const char *insert, const char *const *names, int n)
{
    pathcomplete_result res;
    char *cause = NULL;
    int r = pathcomplete_complete(typed, &res, &cause);
    if (!CHECK(r == 0, "complete [%s]: %s", typed, show(cause))) {
        free(cause);
        return;
    }
    CHECK(strcmp(res.insert, insert) == 0, "complete [%s]: insert [%s], want [%s]", typed,
          res.insert, insert);
    int same = res.n == n;
    for (int i = 0; same && i < n; i++)
        same = strcmp(res.names[i], names[i]) == 0;
    if (!same) {
        int i = 0;
        while (i < n && i < res.n && strcmp(res.names[i], names[i]) == 0)
            i++;
        CHECK(0, "complete [%s]: %d names, want %d; first difference at %d: [%s], want [%s]", typed,
              res.n, n, i, i < res.n ? res.names[i] : "(none)", i < n ? names[i] : "(none)");
    }
    pathcomplete_result_free(&res);
}

#define COMPLETE(typed, insert, ...)                                                               \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__};                                                 \
        int n_ = (int)(sizeof want_ / sizeof want_[0]);                                            \
        test_complete(typed, insert, want_[0] == NULL ? NULL : want_, want_[0] == NULL ? 0 : n_);  \
    } while (0)

/* Completing typed must give a single match whose argument parses to a path that exists. */
static void
test_complete_reaches(const char *typed, const char *base)
{
    pathcomplete_result res;
    char *path = NULL, *cause = NULL;
    if (!CHECK(pathcomplete_complete(typed, &res, &cause) == 0 && res.n == 1, "[%s]: one match",
               typed)) {
        free(cause);
        return;
    }
    char *arg = xasprintf("%s%s", typed, res.insert);
    struct stat st;
    int ok = pathcomplete_parse(arg, &path, &cause) == 0;
    char *full = ok && path[0] != '/' ? xasprintf("%s/%s", base, path) : xstrdup(ok ? path : "");
    CHECK(ok && stat(full, &st) == 0, "[%s] completed to [%s] = [%s], which does not exist (%s)",
          typed, arg, show(path), show(cause));
    free(full);
    free(arg);
    free(path);
    free(cause);
    pathcomplete_result_free(&res);
}

static void
test_paths_complete(const char *dir)
{
    static const char *const files[] = {"my photo.png", "notes.txt",   ".hidden.png", "it's.png",
                                        "a\"q.png",     "u/\303\251a", "u/\303\250b", "~tilde"};
    char *p;
    p = xasprintf("%s/my pics", dir);
    mkdir(p, 0755);
    free(p);
    p = xasprintf("%s/u", dir);
    mkdir(p, 0755);
    free(p);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        p = xasprintf("%s/%s", dir, files[i]);
        testutil_write_file(p, "x", 1);
        free(p);
    }
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == NULL || chdir(dir) != 0) {
        CHECK(0, "cannot enter %s", dir);
        return;
    }

    COMPLETE("my", "\\ p", "my photo.png", "my pics/");
    COMPLETE("  my", "\\ p", "my photo.png", "my pics/");
    COMPLETE("'my", " p", "my photo.png", "my pics/");
    COMPLETE("my\\ ph", "oto.png", "my photo.png");
    COMPLETE("my ph", "oto.png", "my photo.png");
    COMPLETE("\"my ph", "oto.png\"", "my photo.png");
    COMPLETE("my\\ pi", "cs/", "my pics/");
    COMPLETE("'my pi", "cs/", "my pics/");
    COMPLETE("my\\", " p", "my photo.png", "my pics/");
    COMPLETE("no", "tes.txt", "notes.txt");
    COMPLETE(".", "hidden.png", ".hidden.png");
    COMPLETE("", "", "a\"q.png", "it's.png", "my photo.png", "my pics/", "notes.txt", "u/",
             "~tilde");
    COMPLETE("it", "\\'s.png", "it's.png");
    COMPLETE("'it", "'\\''s.png'", "it's.png");
    COMPLETE("\"it", "'s.png\"", "it's.png");
    COMPLETE("a", "\\\"q.png", "a\"q.png");
    COMPLETE("\"a", "\\\"q.png\"", "a\"q.png");
    COMPLETE("\\~", "tilde", "~tilde");
    COMPLETE("zzz", "", NULL);
    COMPLETE("u/", "", "\303\250b", "\303\251a");
    COMPLETE("nodir/x", "", NULL);
    COMPLETE("notes.txt/x", "", NULL);
    COMPLETE("~no-such-user-im", "", NULL);

    char *abs = xasprintf("%s/no", dir);
    COMPLETE(abs, "tes.txt", "notes.txt");
    free(abs);
    abs = xasprintf("'%s/my p", dir);
    COMPLETE(abs, "", "my photo.png", "my pics/");
    free(abs);

    char *saved = xstrdup(getenv("HOME"));
    setenv("HOME", dir, 1);
    COMPLETE("~/no", "tes.txt", "notes.txt");
    COMPLETE("~", "/", NULL);
    COMPLETE("~/my\\ pi", "cs/", "my pics/");
    setenv("HOME", saved, 1);
    free(saved);

    static const char *const reach[] = {"my\\ ph", "\"my ph", "'it",   "it",  "\"a",
                                        "a",       "no",      "my ph", "\\~", "my\\ pi"};
    for (size_t i = 0; i < sizeof reach / sizeof reach[0]; i++)
        test_complete_reaches(reach[i], dir);

    /* errors: an unknown user before a '/', a folder that cannot be read */
    pathcomplete_result res;
    char *cause = NULL;
    CHECK(pathcomplete_complete("~no-such-user-imp/x", &res, &cause) == -1 && cause != NULL &&
              strstr(cause, "no user \"no-such-user-imp\"") != NULL,
          "unknown user: %s", show(cause));
    free(cause);
    cause = NULL;
    char longname[400];
    memset(longname, 'a', 300);
    strcpy(longname + 300, "/x");
    CHECK(pathcomplete_complete(longname, &res, &cause) == -1 && cause != NULL &&
              strstr(cause, "cannot read the folder aaaa") != NULL &&
              strstr(cause, "too long") != NULL,
          "unreadable folder: %s", show(cause));
    free(cause);

    if (chdir(cwd) != 0)
        CHECK(0, "cannot go back to %s", cwd);
}

int
main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "test_uitext: no C.UTF-8 locale\n");
        return TEST_SKIP;
    }
    test_sanitize_controls();
    test_sanitize_unicode();
    test_sanitize_string();
    test_sanitize_fuzz();
    test_wrap();
    test_markdown();
    test_last_code();
    test_streaming();
    test_input_editing();
    test_input_vertical();
    test_input_history();
    test_input_layout();

    const char *dir = testutil_tmpdir("uitext");
    char *home = xstrdup(dir);
    setenv("HOME", home, 1);
    test_paths_parse(home);
    test_paths_complete(dir);
    free(home);
    return testutil_finish("test_uitext");
}
