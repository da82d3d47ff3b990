#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include <utf8proc.h>

#include "input.h"
#include "sanitize.h"
#include "xmalloc.h"

#define INPUT_TAB 4

/* A piece of text: n characters (not NUL-terminated). */
typedef struct {
    wchar_t *s;
    size_t n;
} input_text;

struct input {
    wchar_t *buf; /* the text: buf[0..len), cursor at cur, which is a cluster boundary */
    size_t len, cap, cur;
    input_text kill;
    input_text *history; /* oldest first */
    int history_n;
    /*
     * Browsing: pos is the history entry shown (history_n: the text being written). edits has
     * history_n + 1 slots, the changed text of each entry left while browsing (s NULL: none).
     */
    int pos;
    input_text *edits;
    int goal; /* display column kept by vertical moves; -1: none */
    int top;  /* first layout row shown */
};

static void input_history_push(input *in, const wchar_t *s, size_t n);

/* Make room for n more characters. */
static void
input_reserve(input *in, size_t n)
{
    if (in->len + n <= in->cap)
        return;
    size_t cap = in->cap ? in->cap : 64;
    while (cap < in->len + n)
        cap *= 2;
    in->buf = xreallocarray(in->buf, cap, sizeof *in->buf);
    in->cap = cap;
}

input *
input_new(void)
{
    input *in = xcalloc(1, sizeof *in);
    in->goal = -1;
    input_reserve(in, 1); /* the buffer is never NULL, even when empty */
    return in;
}

/* Forget the changes made to history entries while browsing. */
static void
input_edits_clear(input *in)
{
    if (in->edits != NULL)
        for (int i = 0; i <= in->history_n; i++)
            free(in->edits[i].s);
    free(in->edits);
    in->edits = NULL;
}

void
input_free(input *in)
{
    if (in == NULL)
        return;
    input_edits_clear(in);
    for (int i = 0; i < in->history_n; i++)
        free(in->history[i].s);
    free(in->history);
    free(in->kill.s);
    free(in->buf);
    free(in);
}

/* The start of the line that holds i. */
static size_t
input_line_start(const input *in, size_t i)
{
    while (i > 0 && in->buf[i - 1] != '\n')
        i--;
    return i;
}

/*
 * The end of the grapheme cluster that starts at b (b < len): the next boundary. A newline, tab or
 * escaped character is a cluster of its own, as the drawing makes it (sanitize.h).
 */
static size_t
input_cluster_end(const input *in, size_t b)
{
    int32_t state = 0;
    size_t i = b + 1;
    if (sanitize_wchar_is_escaped(in->buf[b]))
        return i;
    while (i < in->len && !sanitize_wchar_is_escaped(in->buf[i]) &&
           !sanitize_cluster_break(in->buf[i - 1], in->buf[i], &state))
        i++;
    return i;
}

/* The start of the cluster that holds i (clusters are found from the start of the line). */
static size_t
input_boundary_left(const input *in, size_t i)
{
    if (i >= in->len)
        return in->len;
    size_t b = input_line_start(in, i);
    for (size_t e; (e = input_cluster_end(in, b)) <= i;)
        b = e;
    return b;
}

/* The first boundary at or after i. */
static size_t
input_boundary_right(const input *in, size_t i)
{
    size_t b = input_boundary_left(in, i);
    return b == i ? i : input_cluster_end(in, b);
}

/* Set the cursor; returns whether it moved. Horizontal moves forget the goal column. */
static int
input_set_cursor(input *in, size_t cur)
{
    in->goal = -1;
    if (cur == in->cur)
        return 0;
    in->cur = cur;
    return 1;
}

/* Replace [from, to) with n characters of s; the cursor goes after them. */
static void
input_replace(input *in, size_t from, size_t to, const wchar_t *s, size_t n)
{
    input_reserve(in, n);
    memmove(in->buf + from + n, in->buf + to, (in->len - to) * sizeof *in->buf);
    if (n > 0)
        memcpy(in->buf + from, s, n * sizeof *s);
    in->len = in->len - (to - from) + n;
    in->cur = input_boundary_right(in, from + n);
    in->goal = -1;
}

/* Remove [from, to) into the kill buffer. */
static int
input_kill(input *in, size_t from, size_t to)
{
    if (from >= to)
        return 0;
    free(in->kill.s);
    in->kill.n = to - from;
    in->kill.s = xreallocarray(NULL, in->kill.n, sizeof *in->kill.s);
    memcpy(in->kill.s, in->buf + from, in->kill.n * sizeof *in->buf);
    input_replace(in, from, to, NULL, 0);
    return 1;
}

/* Whether a character may be in the text (a typed or pasted control is not). */
static int
input_is_allowed(wchar_t wc)
{
    return wc == '\n' || wc == '\t' ||
           !(wc < 0x20 || (wc >= 0x7F && wc <= 0x9F) || wc < 0 || wc > 0x10FFFF);
}

int
input_insert_char(input *in, wchar_t wc)
{
    if (wc == '\r')
        wc = '\n';
    if (!input_is_allowed(wc))
        return 0;
    input_replace(in, in->cur, in->cur, &wc, 1);
    return 1;
}

/* Decode UTF-8 into allowed characters (\r\n and \r as \n; invalid bytes as U+FFFD). New array. */
static wchar_t *
input_decode(const char *s, size_t len, size_t *n)
{
    wchar_t *out = xreallocarray(NULL, len + 1, sizeof *out);
    mbstate_t ps;
    size_t i = 0, k = 0;
    memset(&ps, 0, sizeof ps);
    while (i < len) {
        wchar_t wc;
        size_t r = sanitize_decode(s + i, len - i, &ps, &wc);
        if (wc == '\r') {
            wc = '\n';
            if (i + 1 < len && s[i + 1] == '\n')
                r++;
        }
        if (input_is_allowed(wc))
            out[k++] = wc;
        i += r;
    }
    *n = k;
    return out;
}

int
input_insert_text(input *in, const char *utf8, size_t len)
{
    size_t n;
    wchar_t *ws = input_decode(utf8, len, &n);
    if (n > 0)
        input_replace(in, in->cur, in->cur, ws, n);
    free(ws);
    return n > 0;
}

int
input_insert_newline(input *in)
{
    return input_insert_char(in, '\n');
}

int
input_move_left(input *in)
{
    return in->cur > 0 && input_set_cursor(in, input_boundary_left(in, in->cur - 1));
}

int
input_move_right(input *in)
{
    return in->cur < in->len && input_set_cursor(in, input_boundary_right(in, in->cur + 1));
}

/* Whether a character belongs to a word. */
static int
input_is_word(wchar_t wc)
{
    return iswalnum((wint_t)wc) || sanitize_wchar_is_mark(wc);
}

/* The start of the word before i, past the non-word characters in between. */
static size_t
input_word_left(const input *in, size_t i)
{
    while (i > 0 && !input_is_word(in->buf[i - 1]))
        i--;
    while (i > 0 && input_is_word(in->buf[i - 1]))
        i--;
    return input_boundary_left(in, i);
}

int
input_move_word_left(input *in)
{
    return input_set_cursor(in, input_word_left(in, in->cur));
}

int
input_move_word_right(input *in)
{
    size_t i = in->cur;
    while (i < in->len && !input_is_word(in->buf[i]))
        i++;
    while (i < in->len && input_is_word(in->buf[i]))
        i++;
    return input_set_cursor(in, input_boundary_right(in, i));
}

/* The end of the line that holds i (the index of its newline, or len). */
static size_t
input_line_end(const input *in, size_t i)
{
    while (i < in->len && in->buf[i] != '\n')
        i++;
    return i;
}

int
input_move_line_start(input *in)
{
    return input_set_cursor(in, input_line_start(in, in->cur));
}

int
input_move_line_end(input *in)
{
    return input_set_cursor(in, input_line_end(in, in->cur));
}

int
input_move_start(input *in)
{
    return input_set_cursor(in, 0);
}

int
input_move_end(input *in)
{
    return input_set_cursor(in, in->len);
}

/* The display width of [from, to) on one line, as drawn, with tab stops from from. */
static int
input_columns(const input *in, size_t from, size_t to)
{
    sanitize_glyphs gl;
    int col = 0;
    sanitize_glyphs_init(&gl);
    for (size_t i = from; i < to; i++)
        sanitize_glyphs_append_wchar(&gl, in->buf[i], ROLE_INPUT, 0, SANITIZE_TABS);
    for (int g = 0; g < gl.n; g++)
        col += gl.g[g].c.ch[0] == '\t' ? INPUT_TAB - col % INPUT_TAB : gl.g[g].width;
    sanitize_glyphs_free(&gl);
    return col;
}

/* Move the cursor into the line starting at start, at the goal column or the line's end. */
static void
input_move_to_column(input *in, size_t start)
{
    size_t end = input_line_end(in, start), i = start;
    int col = 0;
    while (i < end) {
        size_t next = input_boundary_right(in, i + 1);
        int w = in->buf[i] == '\t' ? INPUT_TAB - col % INPUT_TAB : input_columns(in, i, next);
        if (col + w > in->goal)
            break;
        col += w;
        i = next;
    }
    in->cur = i;
}

/* Show history entry pos (history_n: the text being written), keeping changes to the one left. */
static void
input_history_show(input *in, int pos)
{
    if (in->edits == NULL)
        in->edits = xcalloc((size_t)in->history_n + 1, sizeof *in->edits);
    input_text *left = &in->edits[in->pos];
    free(left->s);
    left->n = in->len;
    left->s = xreallocarray(NULL, in->len + 1, sizeof *left->s);
    memcpy(left->s, in->buf, in->len * sizeof *in->buf);

    const input_text *show = in->edits[pos].s != NULL ? &in->edits[pos] : &in->history[pos];
    in->len = 0;
    input_reserve(in, show->n);
    memcpy(in->buf, show->s, show->n * sizeof *in->buf);
    in->len = show->n;
    in->cur = in->len;
    in->pos = pos;
    in->goal = -1;
}

int
input_up(input *in)
{
    size_t start = input_line_start(in, in->cur);
    if (start == 0) {
        if (in->pos == 0)
            return 0;
        input_history_show(in, in->pos - 1);
        return 1;
    }
    if (in->goal < 0)
        in->goal = input_columns(in, start, in->cur);
    input_move_to_column(in, input_line_start(in, start - 1));
    return 1;
}

int
input_down(input *in)
{
    size_t end = input_line_end(in, in->cur);
    if (end == in->len) {
        if (in->pos == in->history_n)
            return 0;
        input_history_show(in, in->pos + 1);
        return 1;
    }
    if (in->goal < 0)
        in->goal = input_columns(in, input_line_start(in, in->cur), in->cur);
    input_move_to_column(in, end + 1);
    return 1;
}

/* Whether wc is a combining mark that Backspace takes alone (an accent, not an emoji's part). */
static int
input_is_accent(wchar_t wc)
{
    utf8proc_category_t cat = utf8proc_category(wc);
    return (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_ME) &&
           !sanitize_wchar_is_joiner(wc) && !(wc >= 0xFE00 && wc <= 0xFE0F) &&
           !(wc >= 0xE0100 && wc <= 0xE01EF);
}

int
input_delete_backward(input *in)
{
    if (in->cur == 0)
        return 0;
    /* an accent alone (so a wrong one can be fixed), else the whole cluster before the cursor */
    size_t from = input_is_accent(in->buf[in->cur - 1]) ? in->cur - 1
                                                         : input_boundary_left(in, in->cur - 1);
    input_replace(in, from, in->cur, NULL, 0);
    return 1;
}

int
input_delete_forward(input *in)
{
    if (in->cur >= in->len)
        return 0;
    size_t cur = in->cur;
    input_replace(in, cur, input_boundary_right(in, cur + 1), NULL, 0);
    return 1;
}

int
input_kill_line_end(input *in)
{
    size_t end = input_line_end(in, in->cur);
    if (end == in->cur && end < in->len)
        end++;
    return input_kill(in, in->cur, end);
}

int
input_kill_line_start(input *in)
{
    size_t start = input_line_start(in, in->cur);
    if (start == in->cur && start > 0)
        start--;
    return input_kill(in, start, in->cur);
}

int
input_kill_word_backward(input *in)
{
    return input_kill(in, input_word_left(in, in->cur), in->cur);
}

int
input_yank(input *in)
{
    if (in->kill.n == 0)
        return 0;
    input_replace(in, in->cur, in->cur, in->kill.s, in->kill.n);
    return 1;
}

/* [s, s + n) as UTF-8. New string. */
static char *
input_encode(const wchar_t *s, size_t n)
{
    char *out = xmalloc(n * MB_LEN_MAX + 1);
    size_t len = 0;
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    for (size_t i = 0; i < n; i++) {
        size_t r = wcrtomb(out + len, s[i], &ps);
        if (r != (size_t)-1)
            len += r;
    }
    out[len] = '\0';
    return out;
}

char *
input_text_new(const input *in)
{
    return input_encode(in->buf, in->len);
}

char *
input_take_new(input *in)
{
    char *text = input_encode(in->buf, in->len);
    input_edits_clear(in);
    input_history_push(in, in->buf, in->len);
    in->len = 0;
    in->cur = 0;
    in->pos = in->history_n;
    in->goal = -1;
    in->top = 0;
    return text;
}

int
input_set_text(input *in, const char *utf8)
{
    size_t n;
    wchar_t *ws = input_decode(utf8, strlen(utf8), &n);
    input_replace(in, 0, in->len, ws, n);
    free(ws);
    in->cur = in->len;
    return 1;
}

size_t
input_length(const input *in)
{
    return in->len;
}

size_t
input_cursor(const input *in)
{
    return in->cur;
}

int
input_history_count(const input *in)
{
    return in->history_n;
}

/* Remember n characters as the newest history entry (the oldest goes at the limit). */
static void
input_history_push(input *in, const wchar_t *s, size_t n)
{
    const input_text *last = in->history_n > 0 ? &in->history[in->history_n - 1] : NULL;
    if (n == 0 || (last != NULL && last->n == n && memcmp(last->s, s, n * sizeof *s) == 0))
        return;
    if (in->history_n == INPUT_HISTORY_MAX) {
        free(in->history[0].s);
        memmove(in->history, in->history + 1, (size_t)(in->history_n - 1) * sizeof *in->history);
        in->history_n--;
    }
    in->history = xreallocarray(in->history, (size_t)in->history_n + 1, sizeof *in->history);
    input_text *e = &in->history[in->history_n++];
    e->n = n;
    e->s = xreallocarray(NULL, n + 1, sizeof *e->s);
    memcpy(e->s, s, n * sizeof *s);
}

void
input_history_add(input *in, const char *utf8)
{
    size_t n;
    wchar_t *ws = input_decode(utf8, strlen(utf8), &n);
    input_edits_clear(in);
    input_history_push(in, ws, n);
    in->pos = in->history_n;
    free(ws);
}

char *
input_history_entry_new(const input *in, int i)
{
    return input_encode(in->history[i].s, in->history[i].n);
}

/* Layout state: all rows, the row being filled and its column. */
typedef struct {
    cell_lines rows;
    cell_line *row;
    int col, width;
} input_rows;

static void
input_rows_next(input_rows *r)
{
    r->row = cell_lines_add(&r->rows);
    r->col = 0;
}

/*
 * Put a character glyph in the current row, or the next when its cluster (cluster_width columns
 * from it) does not fit; a cluster wider than a row is split where it must be.
 */
static void
input_rows_put(input_rows *r, const sanitize_glyph *g, int cluster_width)
{
    int need = g->cont ? g->width : cluster_width;
    if (r->col > 0 && r->col + need > r->width && (!g->cont || r->col + g->width > r->width))
        input_rows_next(r);
    r->col += sanitize_line_push_fit(r->row, g, r->width);
}

void
input_layout(input *in, int width, int max_rows, cell_lines *out, int *row, int *col)
{
    sanitize_glyphs gl;
    input_rows r;
    size_t *first = xreallocarray(NULL, in->len + 1, sizeof *first);
    int cursor_glyph, cursor_row = 0, cursor_col = 0;

    /* each character's first glyph; a mark adds none and belongs to the glyph before */
    sanitize_glyphs_init(&gl);
    for (size_t i = 0; i < in->len; i++) {
        first[i] = (size_t)gl.n;
        sanitize_glyphs_append_wchar(&gl, in->buf[i], ROLE_INPUT, 0,
                                     SANITIZE_BREAKS | SANITIZE_TABS);
    }
    cursor_glyph = in->cur < in->len ? (int)first[in->cur] : gl.n;
    free(first);

    memset(&r, 0, sizeof r);
    r.width = width < 1 ? 1 : width;
    input_rows_next(&r);
    for (int g = 0; g <= gl.n; g++) {
        if (g == cursor_glyph) {
            /* the cursor goes where the cluster under it will be drawn */
            int cw = g < gl.n ? sanitize_cluster_width(&gl, g) : 1;
            int need = cw > 1 ? cw : 1;
            if (r.col > 0 && r.col + need > r.width)
                input_rows_next(&r);
            cursor_row = r.rows.n - 1;
            cursor_col = r.col;
        }
        if (g == gl.n)
            break;
        const sanitize_glyph *gp = &gl.g[g];
        if (gp->c.ch[0] == '\n') {
            input_rows_next(&r);
        } else if (gp->c.ch[0] == '\t') {
            sanitize_glyph sp = *gp;
            sp.c.ch[0] = ' ';
            sp.width = 1;
            int n = INPUT_TAB - r.col % INPUT_TAB;
            for (int k = 0; k < n; k++)
                input_rows_put(&r, &sp, 1);
        } else {
            input_rows_put(&r, gp, sanitize_cluster_width(&gl, g));
        }
    }
    sanitize_glyphs_free(&gl);

    /* scroll as little as possible to keep the cursor's row in view */
    int rows = max_rows < 1 ? 1 : max_rows;
    if (r.rows.n <= rows) {
        in->top = 0;
    } else {
        if (cursor_row < in->top)
            in->top = cursor_row;
        if (cursor_row >= in->top + rows)
            in->top = cursor_row - rows + 1;
        if (in->top > r.rows.n - rows)
            in->top = r.rows.n - rows;
    }
    int shown = r.rows.n < rows ? r.rows.n : rows;
    for (int i = 0; i < r.rows.n; i++) {
        if (i >= in->top && i < in->top + shown) {
            *cell_lines_add(out) = r.rows.lines[i];
        } else {
            free(r.rows.lines[i].cells);
        }
    }
    free(r.rows.lines);
    *row = cursor_row - in->top;
    *col = cursor_col;
}
