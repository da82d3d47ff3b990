/*
 * Image renditions as plain data: a screen dump of the symbol renditions of the fixture images
 * at several sizes and color counts with the properties every dump must have, the kitty upload
 * and placeholder cells, tmux wrapping, and the sixel string.
 */
#include "config.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include <glib.h>

#include "image.h"
#include "imageview.h"
#include "testutil.h"
#include "xmalloc.h"

/* Print a rendition's cells as text, one line per row, framed so trailing blanks show. */
static void
dump(const char *what, const imageview_rendition *r)
{
    fprintf(stderr, "--- %s: %d x %d cells\n", what, r->cols, r->rows);
    for (int y = 0; y < r->lines.n; y++) {
        char *text = cell_line_text_new(&r->lines.lines[y]);
        fprintf(stderr, "|%s|\n", text);
        free(text);
    }
}

/* The palette range each color count may use; monochrome uses none. */
static void
palette_range(int colors, int *lo, int *hi)
{
    *lo = colors >= 256 ? 16 : 0;
    *hi = colors >= 256 ? 255 : colors >= 16 ? 15 : colors >= 8 ? 7 : -1;
}

/*
 * Render name's symbols in max_cols x max_rows with colors colors and check the dump: the size
 * fills the box in one direction and keeps the aspect in the other (tolerance: one cell, the
 * rounding to whole cells), every cell is one narrow printable symbol, block or line symbols are
 * present, colors stay in the palette, and a second ask gives the cached object.
 */
static void
check_symbols(imageview *iv, const char *name, int max_cols, int max_rows, int colors)
{
    char what[128];
    int w, h, lo, hi, failures = 0;
    snprintf(what, sizeof what, "%s in %dx%d, %d colors", name, max_cols, max_rows, colors);

    const imageview_rendition *r = imageview_symbols(iv, max_cols, max_rows, colors, 0);
    imageview_pixel_size(iv, &w, &h);
    palette_range(colors, &lo, &hi);

    failures += !CHECK(r->cols >= 1 && r->cols <= max_cols && r->rows >= 1 && r->rows <= max_rows,
                       "%s: %d x %d cells outside the box", what, r->cols, r->rows);
    failures += !CHECK(r->escape == NULL && r->lines.n == r->rows, "%s: %d lines for %d rows", what,
                       r->lines.n, r->rows);
    /* cells are half as wide as tall: an image w x h pixels is w / h * 2 cells across per row */
    double want_cols = r->rows * (double)w / h / IMAGEVIEW_FONT_RATIO;
    double want_rows = r->cols * (double)h / w * IMAGEVIEW_FONT_RATIO;
    int fills = r->cols == max_cols || r->rows == max_rows;
    int aspect = (r->cols == max_cols && abs((int)(want_rows + 0.5) - r->rows) <= 1) ||
                 (r->rows == max_rows && abs((int)(want_cols + 0.5) - r->cols) <= 1);
    failures += !CHECK(fills && aspect,
                       "%s: %d x %d cells do not fill the box with the aspect kept "
                       "(want %.1f cols for %d rows or %.1f rows for %d cols)",
                       what, r->cols, r->rows, want_cols, r->rows, want_rows, r->cols);

    int symbols = 0, bad_char = 0, bad_color = 0, reversed = 0, colors_seen[256] = {0};
    for (int y = 0; y < r->lines.n; y++) {
        const cell_line *line = &r->lines.lines[y];
        failures += !CHECK(line->n == r->cols, "%s: row %d has %d cells, want %d", what, y, line->n,
                           r->cols);
        for (int x = 0; x < line->n; x++) {
            const cell *c = &line->cells[x];
            wchar_t ch = c->ch[0];
            if (ch == 0 || c->ch[1] != 0 || iswcntrl((wint_t)ch) || !iswprint((wint_t)ch) ||
                wcwidth(ch) != 1)
                bad_char++;
            if (ch >= 0x2500 && ch <= 0x259f)
                symbols++;
            if (hi < 0) {
                if (c->fg != -1 || c->bg != -1 || (c->attr & ~CELL_REVERSE) != 0)
                    bad_color++;
                reversed += (c->attr & CELL_REVERSE) != 0;
            } else {
                /* chafa leaves the color a cell does not show at -1: a blank's fg, a full
                 * block's bg */
                int fg_ok = (c->fg >= lo && c->fg <= hi) || (c->fg == -1 && ch == L' ');
                int bg_ok = (c->bg >= lo && c->bg <= hi) || (c->bg == -1 && ch == 0x2588);
                if (!fg_ok || !bg_ok || c->attr != 0)
                    bad_color++;
                if (c->fg >= 0 && c->fg <= 255)
                    colors_seen[c->fg] = 1;
                if (c->bg >= 0 && c->bg <= 255)
                    colors_seen[c->bg] = 1;
            }
            if (c->role != ROLE_NORMAL)
                bad_color++;
        }
        char *text = cell_line_text_new(line);
        for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++)
            if (*p < 0x20 || *p == 0x7f)
                bad_char++;
        free(text);
    }
    int distinct = 0;
    for (int i = 0; i < 256; i++)
        distinct += colors_seen[i];
    failures +=
        !CHECK(bad_char == 0, "%s: %d cells are not one narrow printable symbol", what, bad_char);
    failures += !CHECK(symbols > 0, "%s: no block or line symbols", what);
    if (hi < 0) {
        failures +=
            !CHECK(bad_color == 0, "%s: %d monochrome cells carry palette colors", what, bad_color);
        failures += !CHECK(reversed > 0, "%s: no inverted cells in monochrome", what);
    } else {
        failures +=
            !CHECK(bad_color == 0, "%s: %d cells outside palette %d-%d", what, bad_color, lo, hi);
        failures += !CHECK(distinct >= 2, "%s: only %d palette colors used", what, distinct);
    }
    failures += !CHECK(imageview_symbols(iv, max_cols, max_rows, colors, 0) == r,
                       "%s: asked twice, not the cached rendition", what);
    if (failures > 0)
        dump(what, r);
}

static void
test_symbols(void)
{
    static const char *const names[] = {"grid384.png", "logo.png"};
    static const int boxes[][2] = {{20, 10}, {40, 20}, {80, 24}, {12, 30}};
    static const int colors[] = {256, 16, 8, 2};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[64], *cause = NULL;
        snprintf(rel, sizeof rel, "images/%s", names[i]);
        imageview *iv = imageview_new_path(testutil_fixture_path(rel), &cause);
        if (!CHECK(iv != NULL, "%s: %s", rel, cause != NULL ? cause : "(null)")) {
            free(cause);
            continue;
        }
        for (size_t b = 0; b < sizeof boxes / sizeof boxes[0]; b++)
            for (size_t c = 0; c < sizeof colors / sizeof colors[0]; c++)
                check_symbols(iv, names[i], boxes[b][0], boxes[b][1], colors[c]);
        imageview_free(iv);
    }
}

/* A synthetic gradient image (new pixels). */
static void
gradient(image_rgb *img, int w, int h)
{
    img->width = w;
    img->height = h;
    img->rgb = xmalloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / w);
            p[1] = (uint8_t)(y * 255 / h);
            p[2] = (uint8_t)((x + y) & 0xff);
        }
}

static void
test_cache(void)
{
    image_rgb img;
    gradient(&img, 200, 100);
    imageview *iv = imageview_new(&img);
    image_free(&img);

    const imageview_rendition *first = imageview_symbols(iv, 10, 10, 256, 0);
    CHECK(imageview_symbols(iv, 10, 10, 256, IMAGEVIEW_FONT_RATIO) == first,
          "the default font ratio is not the same request as 0");
    CHECK(imageview_symbols(iv, 10, 10, 1 << 24, 0) == first,
          "direct color is not the 256-color tier");
    CHECK(imageview_symbols(iv, 10, 10, 88, 0) == imageview_symbols(iv, 10, 10, 16, 0),
          "88 colors is not the 16-color tier");
    CHECK(imageview_symbols(iv, 10, 10, 16, 0) != first, "16 colors gave the 256-color rendition");
    /* fill the cache: the first stays while it is asked for, the least recently used goes */
    for (int i = 0; i < IMAGEVIEW_CACHE_MAX - 2; i++)
        imageview_symbols(iv, 11 + i, 10, 256, 0);
    CHECK(imageview_symbols(iv, 10, 10, 256, 0) == first,
          "dropped a rendition before the cache overflowed");
    imageview_symbols(iv, 40, 10, 256, 0);
    CHECK(imageview_symbols(iv, 10, 10, 256, 0) == first,
          "dropped the most recently asked rendition");
    /* the 16-color one was the least recently used: it comes back rendered anew */
    const imageview_rendition *again = imageview_symbols(iv, 10, 10, 16, 0);
    int cols, rows;
    imageview_fit(iv, 10, 10, 0, &cols, &rows);
    CHECK(again->cols == cols && again->rows == rows && again->lines.n == rows,
          "a rendition asked after it was dropped is %d x %d cells in %d lines, want %d x %d",
          again->cols, again->rows, again->lines.n, cols, rows);
    imageview_free(iv);
}

static void
test_errors(void)
{
    char *cause = NULL;
    const char *path = testutil_fixture_path("images/not-an-image.png");
    imageview *iv = imageview_new_path(path, &cause);
    CHECK(iv == NULL && cause != NULL && strstr(cause, "not-an-image.png") != NULL,
          "a text file as image: %s", cause != NULL ? cause : "(null)");
    free(cause);
    cause = NULL;
    iv = imageview_new_path("no/such/image.png", &cause);
    CHECK(iv == NULL && cause != NULL && strstr(cause, "no/such/image.png") != NULL,
          "a missing image: %s", cause != NULL ? cause : "(null)");
    free(cause);
}

/* The preview shows the picture upright: EXIF orientation 6 turns a 40x24 JPEG into 24x40. */
static void
test_exif_orientation(void)
{
    char *cause = NULL;
    imageview *iv = imageview_new_path(testutil_fixture_path("images/pil/exif6.jpg"), &cause);
    if (!CHECK(iv != NULL, "exif6.jpg: %s", cause != NULL ? cause : "(null)")) {
        free(cause);
        return;
    }
    int w, h;
    imageview_pixel_size(iv, &w, &h);
    CHECK(w == 24 && h == 40, "exif6.jpg previews as %dx%d, want 24x40 (turned upright)", w, h);
    imageview_free(iv);
}

/* One kitty graphics command parsed out of an escape string. */
typedef struct {
    char keys[128];
    const char *payload;
    size_t payload_len;
} apc;

/* Split s into graphics commands; returns the count, or -1 when anything else is in between. */
static int
split_commands(const char *s, size_t len, apc *out, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < len) {
        if (len - i < 4 || memcmp(s + i, "\033_G", 3) != 0 || n == max)
            return -1;
        const char *end = strstr(s + i, "\033\\");
        if (end == NULL)
            return -1;
        const char *body = s + i + 3;
        const char *semi = memchr(body, ';', (size_t)(end - body));
        size_t keys = semi != NULL ? (size_t)(semi - body) : (size_t)(end - body);
        if (keys >= sizeof out[n].keys)
            return -1;
        memcpy(out[n].keys, body, keys);
        out[n].keys[keys] = '\0';
        out[n].payload = semi != NULL ? semi + 1 : end;
        out[n].payload_len = (size_t)(end - out[n].payload);
        n++;
        i = (size_t)(end - s) + 2;
    }
    return n;
}

/* Undo tmux passthrough wrapping; NULL when s is not wholly made of wrapped blocks. New string. */
static char *
unwrap_tmux(const char *s, size_t len, size_t *out_len)
{
    char *out = xmalloc(len + 1);
    size_t i = 0, n = 0;
    while (i < len) {
        if (len - i < 7 || memcmp(s + i, "\033Ptmux;", 7) != 0)
            goto bad;
        i += 7;
        for (;;) {
            if (i + 1 >= len)
                goto bad;
            if (s[i] == '\033' && s[i + 1] == '\033') {
                out[n++] = '\033';
                i += 2;
            } else if (s[i] == '\033' && s[i + 1] == '\\') {
                i += 2;
                break;
            } else if (s[i] == '\033') {
                goto bad; /* a single ESC inside would end the passthrough early */
            } else {
                out[n++] = s[i++];
            }
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
bad:
    free(out);
    return NULL;
}

/* Decode the uploaded PNG of a kitty escape string into img; 0 or -1. */
static int
kitty_decode(const char *escape, size_t len, image_rgb *img)
{
    apc cmds[512];
    int n = split_commands(escape, len, cmds, 512);
    if (n < 2)
        return -1;
    GString *b64 = g_string_new(NULL);
    for (int i = 0; i < n - 1; i++)
        g_string_append_len(b64, cmds[i].payload, (gssize)cmds[i].payload_len);
    gsize png_len;
    guchar *png = g_base64_decode(b64->str, &png_len);
    g_string_free(b64, TRUE);
    char *cause = NULL;
    int rc = image_load_memory(img, png, png_len, "kitty upload", &cause);
    if (rc != 0)
        fprintf(stderr, "kitty upload: %s\n", cause);
    free(cause);
    g_free(png);
    return rc;
}

/* The first twelve and the last entries of kitty's row and column diacritics. */
static const wchar_t known_diacritics[] = {0x0305, 0x030d, 0x030e, 0x0310, 0x0312, 0x033d,
                                           0x033e, 0x033f, 0x0346, 0x034a, 0x034b, 0x034c};

static void
check_placeholder(const imageview_rendition *r, int y, int x, wchar_t row, wchar_t col, int id)
{
    const cell *c = &r->lines.lines[y].cells[x];
    CHECK(c->ch[0] == IMAGEVIEW_KITTY_PLACEHOLDER && c->ch[1] == row && c->ch[2] == col &&
              c->ch[3] == 0,
          "placeholder (%d,%d) is U+%04X U+%04X U+%04X, want U+10EEEE U+%04X U+%04X", y, x,
          (unsigned)c->ch[0], (unsigned)c->ch[1], (unsigned)c->ch[2], (unsigned)row, (unsigned)col);
    CHECK(c->fg == id && c->bg == -1 && c->attr == 0,
          "placeholder (%d,%d) colors %d/%d, want %d/-1", y, x, c->fg, c->bg, id);
}

static void
test_kitty(void)
{
    char *cause = NULL;
    imageview *iv = imageview_new_path(testutil_fixture_path("images/grid384.png"), &cause);
    if (!CHECK(iv != NULL, "grid384.png: %s", cause != NULL ? cause : "(null)")) {
        free(cause);
        return;
    }
    const imageview_rendition *r = imageview_kitty(iv, 42, 30, 15, 0, 0, 0);
    CHECK(r->cols == 30 && r->rows == 15, "square image in 30x15: %d x %d cells", r->cols, r->rows);
    CHECK(r->escape_len > 4 && memcmp(r->escape, "\033_G", 3) == 0 &&
              memcmp(r->escape + r->escape_len - 2, "\033\\", 2) == 0 &&
              strlen(r->escape) == r->escape_len,
          "kitty string does not start with ESC _G and end with ESC \\");

    apc cmds[512];
    int n = split_commands(r->escape, r->escape_len, cmds, 512);
    CHECK(n >= 3, "kitty string: %d commands, want an upload in chunks and a placement", n);
    for (int i = 0; i < n - 1; i++) {
        int last = i == n - 2;
        char want[64];
        if (i == 0)
            snprintf(want, sizeof want, "a=t,f=100,t=d,i=42,q=2,m=%d", !last);
        else
            snprintf(want, sizeof want, "q=2,m=%d", !last);
        CHECK(strcmp(cmds[i].keys, want) == 0, "chunk %d keys '%s', want '%s'", i, cmds[i].keys,
              want);
        CHECK(cmds[i].payload_len <= IMAGEVIEW_KITTY_CHUNK && cmds[i].payload_len > 0 &&
                  (last || cmds[i].payload_len % 4 == 0),
              "chunk %d carries %zu base64 bytes", i, cmds[i].payload_len);
    }
    if (n >= 1)
        CHECK(strcmp(cmds[n - 1].keys, "a=p,U=1,i=42,p=1,c=30,r=15,q=2") == 0 &&
                  cmds[n - 1].payload_len == 0,
              "placement '%s'", cmds[n - 1].keys);
    image_rgb up;
    if (CHECK(kitty_decode(r->escape, r->escape_len, &up) == 0, "the upload is no PNG")) {
        CHECK(up.width == 384 && up.height == 384, "upload without a cell size is %d x %d",
              up.width, up.height);
        image_free(&up);
    }

    CHECK(r->lines.n == 15, "%d placeholder rows", r->lines.n);
    check_placeholder(r, 0, 0, known_diacritics[0], known_diacritics[0], 42);
    check_placeholder(r, 0, 1, known_diacritics[0], known_diacritics[1], 42);
    check_placeholder(r, 1, 0, known_diacritics[1], known_diacritics[0], 42);
    check_placeholder(r, 2, 11, known_diacritics[2], known_diacritics[11], 42);
    check_placeholder(r, 14, 29, 0x0352, 0x036f, 42);
    CHECK(imageview_kitty(iv, 42, 30, 15, 0, 0, 0) == r, "kitty asked twice, not the cached one");

    /* the widest placement the diacritics can number */
    const imageview_rendition *big = imageview_kitty(iv, 7, 1000, 1000, 0, 0, 0);
    CHECK(big->cols <= IMAGEVIEW_KITTY_MAX_CELLS && big->rows <= IMAGEVIEW_KITTY_MAX_CELLS,
          "kitty placement of %d x %d cells is more than the diacritics number", big->cols,
          big->rows);
    if (big->cols == IMAGEVIEW_KITTY_MAX_CELLS)
        check_placeholder(big, 0, big->cols - 1, 0x0305, 0x1d244, 7);

    /* with the cell size known the upload shrinks to what the cells show */
    const imageview_rendition *small = imageview_kitty(iv, 42, 10, 5, 8, 16, 0);
    if (CHECK(kitty_decode(small->escape, small->escape_len, &up) == 0, "small upload is no PNG")) {
        CHECK(up.width == small->cols * 8 && up.height <= small->rows * 16,
              "upload for %d x %d cells of 8x16 is %d x %d", small->cols, small->rows, up.width,
              up.height);
        image_free(&up);
    }

    /* tmux: every command wrapped, every ESC inside doubled, nothing else changed */
    const imageview_rendition *t = imageview_kitty(iv, 42, 30, 15, 0, 0, 1);
    size_t un_len = 0;
    char *un = unwrap_tmux(t->escape, t->escape_len, &un_len);
    CHECK(un != NULL && un_len == r->escape_len && memcmp(un, r->escape, un_len) == 0,
          "tmux wrapping of the kitty string is not the plain string with ESC doubled");
    free(un);

    char *del = imageview_kitty_delete_new(42, 0);
    CHECK(strcmp(del, "\033_Ga=d,d=I,i=42,q=2\033\\") == 0, "delete string is wrong");
    free(del);
    del = imageview_kitty_delete_new(42, 1);
    CHECK(strcmp(del, "\033Ptmux;\033\033_Ga=d,d=I,i=42,q=2\033\033\\\033\\") == 0,
          "tmux delete string is wrong");
    free(del);
    imageview_free(iv);
}

static void
test_large(void)
{
    image_rgb img, up;
    int w, h;
    gradient(&img, 3000, 1500);
    imageview *iv = imageview_new(&img);
    image_free(&img);
    imageview_pixel_size(iv, &w, &h);
    CHECK(w == 3000 && h == 1500, "pixel size %d x %d, want the original 3000 x 1500", w, h);
    const imageview_rendition *r = imageview_kitty(iv, 20, 80, 20, 0, 0, 0);
    if (CHECK(kitty_decode(r->escape, r->escape_len, &up) == 0, "upload is no PNG")) {
        CHECK(up.width == IMAGEVIEW_MAX_SIDE && up.height == IMAGEVIEW_MAX_SIDE / 2,
              "kept copy is %d x %d, want %d x %d", up.width, up.height, IMAGEVIEW_MAX_SIDE,
              IMAGEVIEW_MAX_SIDE / 2);
        image_free(&up);
    }
    int cols, rows;
    imageview_fit(iv, 80, 20, 0, &cols, &rows);
    CHECK(cols == 80 && rows == 20, "2:1 image in 80x20 fits as %d x %d", cols, rows);
    imageview_free(iv);
}

static void
test_sixel(void)
{
    char *cause = NULL;
    imageview *iv = imageview_new_path(testutil_fixture_path("images/logo.png"), &cause);
    if (!CHECK(iv != NULL, "logo.png: %s", cause != NULL ? cause : "(null)")) {
        free(cause);
        return;
    }
    const imageview_rendition *r = imageview_sixel(iv, 20, 10, 10, 20);
    CHECK(r->cols == 20 && r->rows == 10 && r->lines.n == 0,
          "sixel of a square image in 20x10 "
          "cells of 10x20: %d x %d cells, %d lines",
          r->cols, r->rows, r->lines.n);
    size_t i = 2;
    while (i < r->escape_len &&
           (r->escape[i] == ';' || (r->escape[i] >= '0' && r->escape[i] <= '9')))
        i++;
    CHECK(r->escape_len > 8 && memcmp(r->escape, "\033P", 2) == 0 && i < r->escape_len &&
              r->escape[i] == 'q',
          "sixel string does not start with the DCS sixel introducer");
    CHECK(r->escape_len > 8 && memcmp(r->escape + r->escape_len - 2, "\033\\", 2) == 0,
          "sixel string does not end with ST");
    CHECK(memchr(r->escape + 2, '\033', r->escape_len - 4) == NULL,
          "an escape inside the sixel data");
    int pw = 0, ph = 0;
    const char *raster = strchr(r->escape, '"');
    CHECK(raster != NULL && sscanf(raster, "\"1;1;%d;%d", &pw, &ph) == 2 && pw == 200 &&
              ph <= 200 && ph > 200 - 6,
          "sixel raster %d x %d pixels, want 200 x 200 (height cut to a multiple of 6)", pw, ph);
    CHECK(imageview_sixel(iv, 20, 10, 10, 20) == r, "sixel asked twice, not the cached one");
    imageview_free(iv);
}

int
main(void)
{
    if (setlocale(LC_ALL, "C.UTF-8") == NULL) {
        fprintf(stderr, "no C.UTF-8 locale\n");
        return TEST_SKIP;
    }
    test_symbols();
    test_cache();
    test_errors();
    test_exif_orientation();
    test_kitty();
    test_large();
    test_sixel();
    return testutil_finish("test_imageview");
}
