#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sanitize.h"
#include "textview.h"
#include "xmalloc.h"

#define TEXTVIEW_TAB 4
#define TEXTVIEW_MAX_NEST 8
#define TEXTVIEW_BULLET 0x2022 /* • */
#define TEXTVIEW_RULE 0x2500   /* ─ */

/* One rendering in progress. */
typedef struct {
    cell_lines *out;
    const textview_style *st;
    int width;
    sanitize_glyphs first_prefix, prefix;
    /* the display line being filled and the columns of text on it */
    cell_line *line;
    int col, avail;
} textview_ctx;

/* One source line: [s, s + n). */
typedef struct {
    const char *s;
    size_t n;
} textview_span;

/* Push glyphs of gl onto the line while they fit in max columns; returns the columns used. */
static int
textview_push_clipped(cell_line *line, const sanitize_glyphs *gl, int max)
{
    int used = 0;
    for (int i = 0; i < gl->n && used + gl->g[i].width <= max; i++) {
        sanitize_line_push(line, &gl->g[i]);
        used += gl->g[i].width;
    }
    return used;
}

/* Start a display line: the prefix, then head (bullet or hanging indent), keeping a text column. */
static void
textview_line_start(textview_ctx *ctx, const sanitize_glyphs *head)
{
    const sanitize_glyphs *prefix =
        ctx->out->n == 0 && ctx->st->first_prefix != NULL ? &ctx->first_prefix : &ctx->prefix;
    ctx->line = cell_lines_add(ctx->out);
    int used = textview_push_clipped(ctx->line, prefix, ctx->width - 1);
    if (head != NULL)
        used += textview_push_clipped(ctx->line, head, ctx->width - 1 - used);
    ctx->col = 0;
    ctx->avail = ctx->width - used;
}

/*
 * Put one character glyph at the end of the line, moving to a new line when its cluster
 * (cluster_width columns from it) does not fit; a cluster wider than a line is split.
 */
static void
textview_put(textview_ctx *ctx, const sanitize_glyph *g, int cluster_width,
             const sanitize_glyphs *hang)
{
    int need = g->cont ? g->width : cluster_width;
    if (ctx->col + need > ctx->avail && ctx->col > 0 &&
        (!g->cont || ctx->col + g->width > ctx->avail))
        textview_line_start(ctx, hang);
    ctx->col += sanitize_line_push_fit(ctx->line, g, ctx->avail);
}

/* A space glyph in the look of g (for tabs turned into spaces). */
static sanitize_glyph
textview_space_like(const sanitize_glyph *g)
{
    sanitize_glyph sp = *g;
    memset(sp.c.ch, 0, sizeof sp.c.ch);
    sp.c.ch[0] = ' ';
    sp.width = 1;
    return sp;
}

/* Lay out glyphs without word wrapping (code): broken wherever the width ends. */
static void
textview_wrap_hard(textview_ctx *ctx, const sanitize_glyphs *gl)
{
    textview_line_start(ctx, NULL);
    for (int i = 0; i < gl->n; i++) {
        const sanitize_glyph *g = &gl->g[i];
        if (g->c.ch[0] == '\t') {
            sanitize_glyph sp = textview_space_like(g);
            int n = TEXTVIEW_TAB - ctx->col % TEXTVIEW_TAB;
            for (int k = 0; k < n; k++)
                textview_put(ctx, &sp, 1, NULL);
        } else {
            textview_put(ctx, g, sanitize_cluster_width(gl, i), NULL);
        }
    }
}

/* Whether a glyph separates words (a plain space or a tab). */
static int
textview_is_blank(const sanitize_glyph *g)
{
    return sanitize_glyph_is_space(g) || g->c.ch[0] == '\t';
}

/* CJK punctuation that must not start a line. */
static int
textview_no_break_before(wchar_t wc)
{
    static const wchar_t closing[] = {0x3001, 0x3002, 0x3009, 0x300B, 0x300D,
                                      0x300F, 0x3011, 0x3015, 0xFF01, 0xFF09,
                                      0xFF0C, 0xFF0E, 0xFF1A, 0xFF1B, 0xFF1F};
    for (size_t i = 0; i < sizeof closing / sizeof closing[0]; i++)
        if (wc == closing[i])
            return 1;
    return 0;
}

/*
 * Whether a line may break between two adjacent non-blank glyphs: around wide characters, never
 * inside a grapheme cluster.
 */
static int
textview_can_break(const sanitize_glyph *a, const sanitize_glyph *b)
{
    return !b->cont && (a->width == 2 || b->width == 2) && !textview_no_break_before(b->c.ch[0]);
}

/* Columns the blanks [from, to) take when placed at column col. */
static int
textview_blank_width(const sanitize_glyphs *gl, int from, int to, int col)
{
    int c = col;
    for (int i = from; i < to; i++)
        c += gl->g[i].c.ch[0] == '\t' ? TEXTVIEW_TAB - c % TEXTVIEW_TAB : 1;
    return c - col;
}

/* Place the blanks [from, to) as spaces, at most max columns of them. */
static void
textview_put_blanks(textview_ctx *ctx, const sanitize_glyphs *gl, int from, int to, int max)
{
    for (int i = from; i < to; i++) {
        sanitize_glyph sp = textview_space_like(&gl->g[i]);
        int n = gl->g[i].c.ch[0] == '\t' ? TEXTVIEW_TAB - ctx->col % TEXTVIEW_TAB : 1;
        for (int k = 0; k < n && max > 0; k++, max--) {
            sanitize_line_push(ctx->line, &sp);
            ctx->col++;
        }
    }
}

/* Lay out glyphs (one source line) with word wrapping; head starts the line, hang continues it. */
static void
textview_wrap(textview_ctx *ctx, const sanitize_glyphs *gl, const sanitize_glyphs *head,
              const sanitize_glyphs *hang)
{
    int i = 0, blank = 0; /* blanks waiting before the next word: [blank, i) */
    textview_line_start(ctx, head);
    while (i < gl->n) {
        if (textview_is_blank(&gl->g[i])) {
            i++;
            continue;
        }
        int j = i + 1, ww = gl->g[i].width;
        while (j < gl->n && !textview_is_blank(&gl->g[j]) &&
               !textview_can_break(&gl->g[j - 1], &gl->g[j]))
            ww += gl->g[j++].width;
        int bw = textview_blank_width(gl, blank, i, ctx->col);

        if (ctx->col + bw + ww <= ctx->avail) {
            textview_put_blanks(ctx, gl, blank, i, bw);
        } else if (ww <= ctx->avail && ctx->col > 0) {
            textview_line_start(ctx, hang);
        } else if (ww <= ctx->avail) {
            /* col 0: indentation at the start of the line, shortened to leave room */
            textview_put_blanks(ctx, gl, blank, i, ctx->avail - ww);
        } else if (ctx->col + bw < ctx->avail) {
            /* a word wider than any line: start it here and break it */
            textview_put_blanks(ctx, gl, blank, i, bw);
        } else if (ctx->col > 0) {
            textview_line_start(ctx, hang);
        } else {
            textview_put_blanks(ctx, gl, blank, i, ctx->avail - 1);
        }
        for (; i < j; i++)
            textview_put(ctx, &gl->g[i], sanitize_cluster_width(gl, i), hang);
        blank = i;
    }
}

/* Length of the run of byte c at s[i]. */
static size_t
textview_run(const char *s, size_t n, size_t i, char c)
{
    size_t j = i;
    while (j < n && s[j] == c)
        j++;
    return j - i;
}

/* Start of the closing run of exactly `run` backticks at or after from; n when none. */
static size_t
textview_code_close(const char *s, size_t n, size_t from, size_t run)
{
    size_t j = from;
    while (j < n) {
        if (s[j] != '`') {
            j++;
            continue;
        }
        size_t r = textview_run(s, n, j, '`');
        if (r == run)
            return j;
        j += r;
    }
    return n;
}

static int
textview_is_ws(const char *s, size_t n, size_t i)
{
    return i >= n || s[i] == ' ' || s[i] == '\t';
}

/* Whether s[i] continues a word (ASCII letters and digits, and any non-ASCII byte). */
static int
textview_is_wordchar(const char *s, size_t n, size_t i)
{
    if (i >= n)
        return 0;
    unsigned char c = (unsigned char)s[i];
    return c >= 0x80 || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int
textview_is_punct(char c)
{
    return c > ' ' && c < 0x7F &&
           !((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'));
}

/*
 * The closing delimiter for an opener of d characters c that ends at from: the position of its
 * first character, or n when the line has none (the opener is then literal).
 */
static size_t
textview_emph_close(const char *s, size_t n, size_t from, char c, size_t d)
{
    size_t j = from;
    while (j < n) {
        if (s[j] == '\\' && j + 1 < n && textview_is_punct(s[j + 1])) {
            j += 2;
        } else if (s[j] == '`') {
            size_t r = textview_run(s, n, j, '`');
            size_t close = textview_code_close(s, n, j + r, r);
            j = close < n ? close + r : j + r;
        } else if (s[j] == c) {
            size_t r = textview_run(s, n, j, c);
            /* a run of two inside *italic* is bold of its own, not the closer */
            int fits = d == 2 ? r >= 2 : r != 2;
            if (fits && j > from && !textview_is_ws(s, n, j - 1) &&
                (c != '_' || !textview_is_wordchar(s, n, j + r)))
                return j + r - d;
            j += r;
        } else {
            j++;
        }
    }
    return n;
}

/* Append the glyphs of one line of inline Markdown in text_role and attr. */
static void
textview_inline(sanitize_glyphs *gl, const char *s, size_t n, uint8_t text_role, uint8_t attr,
                int depth)
{
    size_t i = 0, lit = 0; /* literal text waiting: [lit, i) */
    while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n && textview_is_punct(s[i + 1])) {
            sanitize_glyphs_append(gl, s + lit, i - lit, text_role, attr, SANITIZE_TABS);
            lit = i + 1;
            i += 2;
        } else if (c == '`') {
            size_t run = textview_run(s, n, i, '`');
            size_t close = textview_code_close(s, n, i + run, run);
            if (close == n) {
                i += run;
                continue;
            }
            size_t a = i + run, b = close;
            /* one space on both sides is padding (so code can start or end with a backtick) */
            if (b - a >= 2 && s[a] == ' ' && s[b - 1] == ' ' &&
                textview_run(s, b, a, ' ') < b - a) {
                a++;
                b--;
            }
            sanitize_glyphs_append(gl, s + lit, i - lit, text_role, attr, SANITIZE_TABS);
            sanitize_glyphs_append(gl, s + a, b - a, ROLE_CODE, attr, SANITIZE_TABS);
            i = close + run;
            lit = i;
        } else if (c == '*' || c == '_') {
            size_t run = textview_run(s, n, i, c);
            size_t d = run >= 2 ? 2 : 1;
            size_t close = n;
            int opens = depth < TEXTVIEW_MAX_NEST && !textview_is_ws(s, n, i + d) &&
                        (c != '_' || i == 0 || !textview_is_wordchar(s, n, i - 1));
            if (opens)
                close = textview_emph_close(s, n, i + d, c, d);
            if (close == n) {
                /* not an opener: one literal character, the rest of the run is tried again */
                i++;
                continue;
            }
            sanitize_glyphs_append(gl, s + lit, i - lit, text_role, attr, SANITIZE_TABS);
            if (d == 2)
                textview_inline(gl, s + i + 2, close - i - 2, ROLE_BOLD, attr | CELL_BOLD,
                                depth + 1);
            else
                textview_inline(gl, s + i + 1, close - i - 1, text_role, attr | CELL_ITALIC,
                                depth + 1);
            i = close + d;
            lit = i;
        } else {
            i++;
        }
    }
    sanitize_glyphs_append(gl, s + lit, n - lit, text_role, attr, SANITIZE_TABS);
}

/* Leading spaces of a line. */
static size_t
textview_indent(textview_span l)
{
    return textview_run(l.s, l.n, 0, ' ');
}

/* Whether the line is an opening fence; sets its character, length and indentation. */
static int
textview_fence_open(textview_span l, char *fc, size_t *flen, size_t *indent)
{
    size_t k = textview_indent(l);
    if (k >= l.n || (l.s[k] != '`' && l.s[k] != '~'))
        return 0;
    size_t r = textview_run(l.s, l.n, k, l.s[k]);
    if (r < 3)
        return 0;
    /* a backtick fence's language may not contain backticks (that is inline code) */
    if (l.s[k] == '`' && memchr(l.s + k + r, '`', l.n - k - r) != NULL)
        return 0;
    *fc = l.s[k];
    *flen = r;
    *indent = k;
    return 1;
}

/* Whether the line closes a fence of character fc and length flen. */
static int
textview_fence_close(textview_span l, char fc, size_t flen)
{
    size_t k = textview_indent(l);
    size_t r = textview_run(l.s, l.n, k, fc);
    if (r < flen)
        return 0;
    for (size_t j = k + r; j < l.n; j++)
        if (l.s[j] != ' ' && l.s[j] != '\t')
            return 0;
    return 1;
}

/* Whether the line is a thematic break: three or more of one of - * _ with optional spaces. */
static int
textview_is_rule(textview_span l)
{
    char c = 0;
    int count = 0;
    for (size_t j = 0; j < l.n; j++) {
        if (l.s[j] == ' ' || l.s[j] == '\t')
            continue;
        if ((l.s[j] != '-' && l.s[j] != '*' && l.s[j] != '_') || (c != 0 && l.s[j] != c))
            return 0;
        c = l.s[j];
        count++;
    }
    return count >= 3;
}

/* Heading level 1-6 and where its text starts, or 0. */
static int
textview_heading(textview_span l, size_t *text)
{
    size_t k = textview_indent(l);
    if (k > 3)
        return 0;
    size_t r = textview_run(l.s, l.n, k, '#');
    if (r < 1 || r > 6 || !textview_is_ws(l.s, l.n, k + r))
        return 0;
    *text = k + r + textview_run(l.s, l.n, k + r, ' ');
    return (int)r;
}

/* List item: the marker's [start, end) and where the text starts; 0 when not an item. */
static int
textview_list_item(textview_span l, size_t *mstart, size_t *mend, size_t *text)
{
    size_t k = textview_indent(l), m = k;
    if (k >= l.n)
        return 0;
    if (l.s[k] == '-' || l.s[k] == '*' || l.s[k] == '+') {
        m = k + 1;
    } else {
        while (m < l.n && m - k < 9 && l.s[m] >= '0' && l.s[m] <= '9')
            m++;
        if (m == k || m >= l.n || (l.s[m] != '.' && l.s[m] != ')'))
            return 0;
        m++;
    }
    if (m >= l.n || l.s[m] != ' ')
        return 0;
    *mstart = k;
    *mend = m;
    *text = m + textview_run(l.s, l.n, m, ' ');
    return 1;
}

/* Append n blank glyphs in text_role. */
static void
textview_blanks(sanitize_glyphs *gl, int n, uint8_t text_role)
{
    for (int i = 0; i < n; i++)
        sanitize_glyphs_append(gl, " ", 1, text_role, 0, 0);
}

/* Render one non-code source line with Markdown. */
static void
textview_markdown_line(textview_ctx *ctx, textview_span l)
{
    const textview_style *st = ctx->st;
    sanitize_glyphs gl, head, hang;
    size_t text, ms, me;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_init(&head);
    sanitize_glyphs_init(&hang);

    if (textview_is_rule(l)) {
        textview_line_start(ctx, NULL);
        sanitize_glyph g = {.c = {.ch = {TEXTVIEW_RULE}, .role = ROLE_BORDER, .fg = -1, .bg = -1},
                            .width = 1};
        for (int i = 0; i < ctx->avail; i++)
            sanitize_line_push(ctx->line, &g);
    } else if (textview_heading(l, &text) > 0) {
        size_t end = l.n;
        /* closing marks: "## Title ##" */
        while (end > text && (l.s[end - 1] == '#' || l.s[end - 1] == ' '))
            end--;
        if (end < l.n && l.s[end] != ' ')
            end = l.n;
        textview_inline(&gl, l.s + text, end - text, st->role, st->attr | CELL_BOLD, 0);
        textview_wrap(ctx, &gl, NULL, NULL);
    } else if (textview_list_item(l, &ms, &me, &text)) {
        textview_blanks(&head, (int)ms, st->role);
        if (me - ms == 1)
            sanitize_glyphs_append_wchar(&head, TEXTVIEW_BULLET, ROLE_BULLET, st->attr, 0);
        else
            sanitize_glyphs_append(&head, l.s + ms, me - ms, ROLE_BULLET, st->attr, 0);
        textview_blanks(&head, 1, st->role);
        int hw = 0;
        for (int i = 0; i < head.n; i++)
            hw += head.g[i].width;
        textview_blanks(&hang, hw, st->role);
        textview_inline(&gl, l.s + text, l.n - text, st->role, st->attr, 0);
        textview_wrap(ctx, &gl, &head, &hang);
    } else {
        textview_inline(&gl, l.s, l.n, st->role, st->attr, 0);
        textview_wrap(ctx, &gl, NULL, NULL);
    }
    sanitize_glyphs_free(&gl);
    sanitize_glyphs_free(&head);
    sanitize_glyphs_free(&hang);
}

/* Render one source line as plain glyphs in text_role and attr, word-wrapped or (hard) broken. */
static void
textview_plain_line(textview_ctx *ctx, textview_span l, uint8_t text_role, uint8_t attr, int hard)
{
    sanitize_glyphs gl;
    sanitize_glyphs_init(&gl);
    sanitize_glyphs_append(&gl, l.s, l.n, text_role, attr, SANITIZE_TABS);
    if (hard)
        textview_wrap_hard(ctx, &gl);
    else
        textview_wrap(ctx, &gl, NULL, NULL);
    sanitize_glyphs_free(&gl);
}

/* The source line starting at *pos (advanced past its \n); 0 when the text is used up. */
static int
textview_next_line(const char *text, size_t len, size_t *pos, int *done, textview_span *l)
{
    if (*done)
        return 0;
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    l->s = text + *pos;
    if (nl == NULL) {
        l->n = len - *pos;
        *done = 1;
    } else {
        l->n = (size_t)(nl - l->s);
        *pos += l->n + 1;
        if (l->n > 0 && l->s[l->n - 1] == '\r')
            l->n--;
    }
    return 1;
}

void
textview_render(cell_lines *out, const char *text, size_t len, const textview_style *st)
{
    textview_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.st = st;
    ctx.width = st->width < 1 ? 1 : st->width;
    sanitize_glyphs_init(&ctx.first_prefix);
    sanitize_glyphs_init(&ctx.prefix);
    if (st->first_prefix != NULL)
        sanitize_glyphs_append(&ctx.first_prefix, st->first_prefix, strlen(st->first_prefix),
                               st->prefix_role, 0, 0);
    if (st->prefix != NULL)
        sanitize_glyphs_append(&ctx.prefix, st->prefix, strlen(st->prefix), st->prefix_role, 0, 0);
    /* lines go to a list of their own first: the first prefix belongs to this text's first line */
    cell_lines mine;
    cell_lines_init(&mine);
    ctx.out = &mine;

    size_t pos = 0, flen = 0, findent = 0;
    int done = len == 0, in_code = 0;
    char fc = 0;
    textview_span l;
    while (textview_next_line(text, len, &pos, &done, &l)) {
        if (!(st->flags & TEXTVIEW_MARKDOWN)) {
            textview_plain_line(&ctx, l, st->role, st->attr, 0);
        } else if (in_code && textview_fence_close(l, fc, flen)) {
            textview_plain_line(&ctx, l, ROLE_CODE_BLOCK, st->attr | CELL_DIM, 1);
            in_code = 0;
        } else if (in_code) {
            size_t k = textview_indent(l);
            k = k < findent ? k : findent;
            l.s += k;
            l.n -= k;
            textview_plain_line(&ctx, l, ROLE_CODE_BLOCK, st->attr, 1);
        } else if (textview_fence_open(l, &fc, &flen, &findent)) {
            textview_plain_line(&ctx, l, ROLE_CODE_BLOCK, st->attr | CELL_DIM, 1);
            in_code = 1;
        } else {
            textview_markdown_line(&ctx, l);
        }
    }
    cell_lines_steal(out, &mine);
    sanitize_glyphs_free(&ctx.first_prefix);
    sanitize_glyphs_free(&ctx.prefix);
}

int
textview_count_lines(const char *text, size_t len, const textview_style *st)
{
    cell_lines lines;
    cell_lines_init(&lines);
    textview_render(&lines, text, len, st);
    int n = lines.n;
    cell_lines_free(&lines);
    return n;
}

char *
textview_last_code_new(const char *text, size_t len)
{
    size_t pos = 0, flen = 0, findent = 0, out_len = 0;
    int done = len == 0, in_code = 0, lines = 0;
    char fc = 0, *out = NULL;
    textview_span l;
    while (textview_next_line(text, len, &pos, &done, &l)) {
        if (in_code && textview_fence_close(l, fc, flen)) {
            in_code = 0;
        } else if (in_code) {
            size_t k = textview_indent(l);
            k = k < findent ? k : findent;
            out = xrealloc(out, out_len + l.n + 2);
            if (lines++ > 0)
                out[out_len++] = '\n';
            memcpy(out + out_len, l.s + k, l.n - k);
            out_len += l.n - k;
            out[out_len] = '\0';
        } else if (textview_fence_open(l, &fc, &flen, &findent)) {
            /* a new block replaces the last one */
            free(out);
            out = xstrdup("");
            out_len = 0;
            lines = 0;
            in_code = 1;
        }
    }
    return out;
}
