#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include <chafa.h>
#include <stb_image_write.h>

#include "imageview.h"
#include "log.h"
#include "xmalloc.h"

/*
 * The diacritics that number placeholder rows and columns (index n encodes n): kitty's
 * rowcolumn-diacritics table, the combining marks of class 230 without decompositions from
 * Unicode 6.0 minus those that normalisation fuses with letters.
 */
static const uint32_t imageview_diacritics[IMAGEVIEW_KITTY_MAX_CELLS] = {
    0x0305,  0x030d,  0x030e,  0x0310,  0x0312,  0x033d,  0x033e,  0x033f,  0x0346,  0x034a,
    0x034b,  0x034c,  0x0350,  0x0351,  0x0352,  0x0357,  0x035b,  0x0363,  0x0364,  0x0365,
    0x0366,  0x0367,  0x0368,  0x0369,  0x036a,  0x036b,  0x036c,  0x036d,  0x036e,  0x036f,
    0x0483,  0x0484,  0x0485,  0x0486,  0x0487,  0x0592,  0x0593,  0x0594,  0x0595,  0x0597,
    0x0598,  0x0599,  0x059c,  0x059d,  0x059e,  0x059f,  0x05a0,  0x05a1,  0x05a8,  0x05a9,
    0x05ab,  0x05ac,  0x05af,  0x05c4,  0x0610,  0x0611,  0x0612,  0x0613,  0x0614,  0x0615,
    0x0616,  0x0617,  0x0657,  0x0658,  0x0659,  0x065a,  0x065b,  0x065d,  0x065e,  0x06d6,
    0x06d7,  0x06d8,  0x06d9,  0x06da,  0x06db,  0x06dc,  0x06df,  0x06e0,  0x06e1,  0x06e2,
    0x06e4,  0x06e7,  0x06e8,  0x06eb,  0x06ec,  0x0730,  0x0732,  0x0733,  0x0735,  0x0736,
    0x073a,  0x073d,  0x073f,  0x0740,  0x0741,  0x0743,  0x0745,  0x0747,  0x0749,  0x074a,
    0x07eb,  0x07ec,  0x07ed,  0x07ee,  0x07ef,  0x07f0,  0x07f1,  0x07f3,  0x0816,  0x0817,
    0x0818,  0x0819,  0x081b,  0x081c,  0x081d,  0x081e,  0x081f,  0x0820,  0x0821,  0x0822,
    0x0823,  0x0825,  0x0826,  0x0827,  0x0829,  0x082a,  0x082b,  0x082c,  0x082d,  0x0951,
    0x0953,  0x0954,  0x0f82,  0x0f83,  0x0f86,  0x0f87,  0x135d,  0x135e,  0x135f,  0x17dd,
    0x193a,  0x1a17,  0x1a75,  0x1a76,  0x1a77,  0x1a78,  0x1a79,  0x1a7a,  0x1a7b,  0x1a7c,
    0x1b6b,  0x1b6d,  0x1b6e,  0x1b6f,  0x1b70,  0x1b71,  0x1b72,  0x1b73,  0x1cd0,  0x1cd1,
    0x1cd2,  0x1cda,  0x1cdb,  0x1ce0,  0x1dc0,  0x1dc1,  0x1dc3,  0x1dc4,  0x1dc5,  0x1dc6,
    0x1dc7,  0x1dc8,  0x1dc9,  0x1dcb,  0x1dcc,  0x1dd1,  0x1dd2,  0x1dd3,  0x1dd4,  0x1dd5,
    0x1dd6,  0x1dd7,  0x1dd8,  0x1dd9,  0x1dda,  0x1ddb,  0x1ddc,  0x1ddd,  0x1dde,  0x1ddf,
    0x1de0,  0x1de1,  0x1de2,  0x1de3,  0x1de4,  0x1de5,  0x1de6,  0x1dfe,  0x20d0,  0x20d1,
    0x20d4,  0x20d5,  0x20d6,  0x20d7,  0x20db,  0x20dc,  0x20e1,  0x20e7,  0x20e9,  0x20f0,
    0x2cef,  0x2cf0,  0x2cf1,  0x2de0,  0x2de1,  0x2de2,  0x2de3,  0x2de4,  0x2de5,  0x2de6,
    0x2de7,  0x2de8,  0x2de9,  0x2dea,  0x2deb,  0x2dec,  0x2ded,  0x2dee,  0x2def,  0x2df0,
    0x2df1,  0x2df2,  0x2df3,  0x2df4,  0x2df5,  0x2df6,  0x2df7,  0x2df8,  0x2df9,  0x2dfa,
    0x2dfb,  0x2dfc,  0x2dfd,  0x2dfe,  0x2dff,  0xa66f,  0xa67c,  0xa67d,  0xa6f0,  0xa6f1,
    0xa8e0,  0xa8e1,  0xa8e2,  0xa8e3,  0xa8e4,  0xa8e5,  0xa8e6,  0xa8e7,  0xa8e8,  0xa8e9,
    0xa8ea,  0xa8eb,  0xa8ec,  0xa8ed,  0xa8ee,  0xa8ef,  0xa8f0,  0xa8f1,  0xaab0,  0xaab2,
    0xaab3,  0xaab7,  0xaab8,  0xaabe,  0xaabf,  0xaac1,  0xfe20,  0xfe21,  0xfe22,  0xfe23,
    0xfe24,  0xfe25,  0xfe26,  0x10a0f, 0x10a38, 0x1d185, 0x1d186, 0x1d187, 0x1d188, 0x1d189,
    0x1d1aa, 0x1d1ab, 0x1d1ac, 0x1d1ad, 0x1d242, 0x1d243, 0x1d244,
};

typedef enum {
    IMAGEVIEW_KIND_SYMBOLS,
    IMAGEVIEW_KIND_KITTY,
    IMAGEVIEW_KIND_SIXEL,
} imageview_kind;

/* What a rendition was asked with; fields a kind does not use stay 0. */
typedef struct {
    imageview_kind kind;
    int max_cols, max_rows;
    int colors;                  /* symbols: 256, 16, 8 or 2 */
    float font_ratio;            /* symbols */
    int cell_width, cell_height; /* kitty, sixel */
    int id, tmux;                /* kitty */
} imageview_key;

typedef struct {
    imageview_key key;
    imageview_rendition *rendition;
    unsigned long used; /* the clock at the last ask, for eviction */
} imageview_entry;

struct imageview {
    int width, height; /* the original's pixel size */
    image_rgb copy;    /* at most IMAGEVIEW_MAX_SIDE a side */
    imageview_entry cache[IMAGEVIEW_CACHE_MAX];
    int n_cache;
    unsigned long clock;
};

imageview *
imageview_new(const image_rgb *img)
{
    imageview *iv = xcalloc(1, sizeof *iv);
    int w = img->width, h = img->height;

    assert(w >= 1 && h >= 1);
    iv->width = w;
    iv->height = h;
    if (w > IMAGEVIEW_MAX_SIDE || h > IMAGEVIEW_MAX_SIDE) {
        double scale = (double)IMAGEVIEW_MAX_SIDE / (w > h ? w : h);
        w = (int)lround(w * scale);
        h = (int)lround(h * scale);
        w = w < 1 ? 1 : w;
        h = h < 1 ? 1 : h;
    }
    image_resize_bicubic(&iv->copy, img, w, h);
    return iv;
}

imageview *
imageview_new_path(const char *path, char **cause)
{
    image_rgb img;

    if (image_load(&img, path, cause) != 0)
        return NULL;
    imageview *iv = imageview_new(&img);
    image_free(&img);
    return iv;
}

static void
imageview_rendition_free(imageview_rendition *r)
{
    cell_lines_free(&r->lines);
    g_free(r->escape);
    free(r);
}

void
imageview_free(imageview *iv)
{
    if (iv == NULL)
        return;
    for (int i = 0; i < iv->n_cache; i++)
        imageview_rendition_free(iv->cache[i].rendition);
    image_free(&iv->copy);
    free(iv);
}

void
imageview_pixel_size(const imageview *iv, int *width, int *height)
{
    *width = iv->width;
    *height = iv->height;
}

static float
imageview_ratio(float font_ratio)
{
    return font_ratio > 0 ? font_ratio : IMAGEVIEW_FONT_RATIO;
}

void
imageview_fit(const imageview *iv, int max_cols, int max_rows, float font_ratio, int *cols,
              int *rows)
{
    int c = max_cols, r = max_rows;

    assert(max_cols >= 1 && max_rows >= 1);
    /* no zoom: a small image keeps one cell per pixel across instead of filling the box */
    chafa_calc_canvas_geometry(iv->copy.width, iv->copy.height, &c, &r, imageview_ratio(font_ratio),
                               FALSE, FALSE);
    *cols = c < 1 ? 1 : c > max_cols ? max_cols : c;
    *rows = r < 1 ? 1 : r > max_rows ? max_rows : r;
}

/* ---------------------------------------------------------------- cache */

static int
imageview_key_equal(const imageview_key *a, const imageview_key *b)
{
    return a->kind == b->kind && a->max_cols == b->max_cols && a->max_rows == b->max_rows &&
           a->colors == b->colors && a->font_ratio == b->font_ratio &&
           a->cell_width == b->cell_width && a->cell_height == b->cell_height && a->id == b->id &&
           a->tmux == b->tmux;
}

/* The cached rendition for key, or NULL. */
static imageview_rendition *
imageview_cache_find(imageview *iv, const imageview_key *key)
{
    for (int i = 0; i < iv->n_cache; i++)
        if (imageview_key_equal(&iv->cache[i].key, key)) {
            iv->cache[i].used = ++iv->clock;
            return iv->cache[i].rendition;
        }
    return NULL;
}

/* Keep r under key, dropping the least recently used rendition when the cache is full. */
static void
imageview_cache_add(imageview *iv, const imageview_key *key, imageview_rendition *r)
{
    int slot = iv->n_cache;

    if (iv->n_cache == IMAGEVIEW_CACHE_MAX) {
        slot = 0;
        for (int i = 1; i < iv->n_cache; i++)
            if (iv->cache[i].used < iv->cache[slot].used)
                slot = i;
        imageview_rendition_free(iv->cache[slot].rendition);
    } else {
        iv->n_cache++;
    }
    iv->cache[slot].key = *key;
    iv->cache[slot].rendition = r;
    iv->cache[slot].used = ++iv->clock;
}

/* ---------------------------------------------------------------- chafa */

/*
 * The copy as RGBA with opaque alpha: libchafa 1.12.4 distorts images whose row stride is not a
 * multiple of 4 bytes, which packed RGB rows often are.
 */
static uint8_t *
imageview_rgba_new(const image_rgb *img)
{
    size_t n = (size_t)img->width * (size_t)img->height;
    uint8_t *rgba = xmalloc(n * 4);

    for (size_t i = 0; i < n; i++) {
        rgba[4 * i] = img->rgb[3 * i];
        rgba[4 * i + 1] = img->rgb[3 * i + 1];
        rgba[4 * i + 2] = img->rgb[3 * i + 2];
        rgba[4 * i + 3] = 255;
    }
    return rgba;
}

/* Draw the copy on a canvas made from config. */
static ChafaCanvas *
imageview_canvas_new(const imageview *iv, const ChafaCanvasConfig *config)
{
    ChafaCanvas *canvas = chafa_canvas_new(config);
    uint8_t *rgba = imageview_rgba_new(&iv->copy);

    chafa_canvas_draw_all_pixels(canvas, CHAFA_PIXEL_RGBA8_UNASSOCIATED, rgba, iv->copy.width,
                                 iv->copy.height, iv->copy.width * 4);
    free(rgba);
    return canvas;
}

static int
imageview_color_tier(int colors)
{
    if (colors >= 256)
        return 256;
    if (colors >= 16)
        return 16;
    if (colors >= 8)
        return 8;
    return 2;
}

/* A palette index from chafa, or -1 for anything outside the palette. */
static int16_t
imageview_pen(int pen)
{
    return pen >= 0 && pen <= 255 ? (int16_t)pen : -1;
}

static void
imageview_render_symbols(const imageview *iv, imageview_rendition *r, int colors)
{
    ChafaSymbolMap *map = chafa_symbol_map_new();
    chafa_symbol_map_add_by_tags(map, CHAFA_SYMBOL_TAG_BLOCK | CHAFA_SYMBOL_TAG_BORDER |
                                          CHAFA_SYMBOL_TAG_SPACE);
    chafa_symbol_map_remove_by_tags(map, CHAFA_SYMBOL_TAG_WIDE | CHAFA_SYMBOL_TAG_BAD |
                                             CHAFA_SYMBOL_TAG_DIAGONAL);

    ChafaCanvasConfig *config = chafa_canvas_config_new();
    chafa_canvas_config_set_geometry(config, r->cols, r->rows);
    chafa_canvas_config_set_symbol_map(config, map);
    switch (colors) {
    case 256:
        chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_INDEXED_240);
        /* perceptual matching picks visibly better palette entries in the 240-color cube */
        chafa_canvas_config_set_color_space(config, CHAFA_COLOR_SPACE_DIN99D);
        break;
    case 16:
        chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_INDEXED_16);
        break;
    case 8:
        chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_INDEXED_8);
        break;
    default:
        chafa_canvas_config_set_canvas_mode(config, CHAFA_CANVAS_MODE_FGBG_BGFG);
        break;
    }
    /*
     * Few colors band badly without dithering, 240 colors look cleaner without it. In monochrome
     * error diffusion keeps edges and faces readable where an ordered pattern turns them to
     * hatching.
     */
    if (colors == 2)
        chafa_canvas_config_set_dither_mode(config, CHAFA_DITHER_MODE_DIFFUSION);
    else if (colors < 256)
        chafa_canvas_config_set_dither_mode(config, CHAFA_DITHER_MODE_ORDERED);

    ChafaCanvas *canvas = imageview_canvas_new(iv, config);
    for (int y = 0; y < r->rows; y++) {
        cell_line *line = cell_lines_add(&r->lines);
        for (int x = 0; x < r->cols; x++) {
            gunichar ch = chafa_canvas_get_char_at(canvas, x, y);
            int fg, bg;
            cell c;

            chafa_canvas_get_raw_colors_at(canvas, x, y, &fg, &bg);
            memset(&c, 0, sizeof c);
            /* the symbol map holds narrow printable symbols only; anything else is a blank */
            c.ch[0] = iswprint((wint_t)ch) && wcwidth((wchar_t)ch) == 1 ? (wchar_t)ch : L' ';
            c.role = ROLE_NORMAL;
            if (colors == 2) {
                /* chafa's fg/bg mode: a cell with a background pen is drawn inverted */
                c.fg = c.bg = -1;
                if (bg >= 0)
                    c.attr = CELL_REVERSE;
            } else {
                c.fg = imageview_pen(fg);
                c.bg = imageview_pen(bg);
            }
            cell_line_push(line, &c);
        }
    }
    chafa_canvas_unref(canvas);
    chafa_canvas_config_unref(config);
    chafa_symbol_map_unref(map);
}

const imageview_rendition *
imageview_symbols(imageview *iv, int max_cols, int max_rows, int colors, float font_ratio)
{
    imageview_key key;

    memset(&key, 0, sizeof key);
    key.kind = IMAGEVIEW_KIND_SYMBOLS;
    key.max_cols = max_cols;
    key.max_rows = max_rows;
    key.colors = imageview_color_tier(colors);
    key.font_ratio = imageview_ratio(font_ratio);

    imageview_rendition *r = imageview_cache_find(iv, &key);
    if (r != NULL)
        return r;
    r = xcalloc(1, sizeof *r);
    imageview_fit(iv, max_cols, max_rows, key.font_ratio, &r->cols, &r->rows);
    imageview_render_symbols(iv, r, key.colors);
    imageview_cache_add(iv, &key, r);
    return r;
}

const imageview_rendition *
imageview_sixel(imageview *iv, int max_cols, int max_rows, int cell_width, int cell_height)
{
    imageview_key key;

    assert(cell_width > 0 && cell_height > 0);
    memset(&key, 0, sizeof key);
    key.kind = IMAGEVIEW_KIND_SIXEL;
    key.max_cols = max_cols;
    key.max_rows = max_rows;
    key.cell_width = cell_width;
    key.cell_height = cell_height;

    imageview_rendition *r = imageview_cache_find(iv, &key);
    if (r != NULL)
        return r;
    r = xcalloc(1, sizeof *r);
    imageview_fit(iv, max_cols, max_rows, (float)cell_width / (float)cell_height, &r->cols,
                  &r->rows);

    ChafaCanvasConfig *config = chafa_canvas_config_new();
    chafa_canvas_config_set_geometry(config, r->cols, r->rows);
    chafa_canvas_config_set_cell_geometry(config, cell_width, cell_height);
    chafa_canvas_config_set_pixel_mode(config, CHAFA_PIXEL_MODE_SIXELS);
    ChafaCanvas *canvas = imageview_canvas_new(iv, config);
    /*
     * chafa prints nothing in a pixel mode unless the term info has its sequences; the fallback
     * info has the standard ones (DCS P1;P2;P3 q ... ST).
     */
    ChafaTermInfo *ti = chafa_term_db_get_fallback_info(chafa_term_db_get_default());
    GString *out = chafa_canvas_print(canvas, ti);
    r->escape_len = out->len;
    r->escape = g_string_free(out, FALSE);
    chafa_term_info_unref(ti);
    chafa_canvas_unref(canvas);
    chafa_canvas_config_unref(config);
    imageview_cache_add(iv, &key, r);
    return r;
}

/* ---------------------------------------------------------------- kitty */

/* Append one graphics command, wrapped for tmux passthrough (every ESC doubled) when asked. */
static void
imageview_kitty_command(GString *out, const char *cmd, size_t len, int tmux)
{
    if (!tmux) {
        g_string_append_len(out, cmd, (gssize)len);
        return;
    }
    g_string_append(out, "\033Ptmux;");
    for (size_t i = 0; i < len; i++) {
        if (cmd[i] == '\033')
            g_string_append_c(out, '\033');
        g_string_append_c(out, cmd[i]);
    }
    g_string_append(out, "\033\\");
}

static void
imageview_png_write(void *context, void *data, int size)
{
    g_byte_array_append(context, data, (guint)size);
}

/* The upload as PNG: the copy, scaled down to the placement's pixels when those are known. */
static GByteArray *
imageview_kitty_png_new(const imageview *iv, int cols, int rows, int cell_width, int cell_height)
{
    const image_rgb *src = &iv->copy;
    image_rgb scaled = {0, 0, NULL};

    if (cell_width > 0 && cell_height > 0) {
        double sx = (double)cols * cell_width / src->width;
        double sy = (double)rows * cell_height / src->height;
        double scale = sx < sy ? sx : sy;
        if (scale < 1) {
            int w = (int)lround(src->width * scale), h = (int)lround(src->height * scale);
            image_resize_bicubic(&scaled, src, w < 1 ? 1 : w, h < 1 ? 1 : h);
            src = &scaled;
        }
    }
    GByteArray *png = g_byte_array_new();
    int ok = stbi_write_png_to_func(imageview_png_write, png, src->width, src->height, 3, src->rgb,
                                    src->width * 3);
    image_free(&scaled);
    if (!ok)
        fatal("cannot encode an image as PNG for the terminal");
    return png;
}

const imageview_rendition *
imageview_kitty(imageview *iv, int id, int max_cols, int max_rows, int cell_width, int cell_height,
                int tmux)
{
    imageview_key key;

    assert(id >= 1 && id <= 255);
    if (max_cols > IMAGEVIEW_KITTY_MAX_CELLS)
        max_cols = IMAGEVIEW_KITTY_MAX_CELLS;
    if (max_rows > IMAGEVIEW_KITTY_MAX_CELLS)
        max_rows = IMAGEVIEW_KITTY_MAX_CELLS;
    if (cell_width <= 0 || cell_height <= 0)
        cell_width = cell_height = 0;
    memset(&key, 0, sizeof key);
    key.kind = IMAGEVIEW_KIND_KITTY;
    key.max_cols = max_cols;
    key.max_rows = max_rows;
    key.cell_width = cell_width;
    key.cell_height = cell_height;
    key.id = id;
    key.tmux = tmux != 0;

    imageview_rendition *r = imageview_cache_find(iv, &key);
    if (r != NULL)
        return r;
    r = xcalloc(1, sizeof *r);
    float ratio = cell_width > 0 ? (float)cell_width / (float)cell_height : IMAGEVIEW_FONT_RATIO;
    imageview_fit(iv, max_cols, max_rows, ratio, &r->cols, &r->rows);

    GByteArray *png = imageview_kitty_png_new(iv, r->cols, r->rows, cell_width, cell_height);
    gchar *b64 = g_base64_encode(png->data, png->len);
    size_t b64_len = strlen(b64);
    g_byte_array_unref(png);

    GString *out = g_string_new(NULL);
    GString *cmd = g_string_new(NULL);
    for (size_t off = 0; off < b64_len; off += IMAGEVIEW_KITTY_CHUNK) {
        size_t n = b64_len - off < IMAGEVIEW_KITTY_CHUNK ? b64_len - off : IMAGEVIEW_KITTY_CHUNK;
        int more = off + n < b64_len;
        g_string_truncate(cmd, 0);
        /* only the first chunk carries the keys; q=2 keeps replies out of the input stream */
        if (off == 0)
            g_string_append_printf(cmd, "\033_Ga=t,f=100,t=d,i=%d,q=2,m=%d;", id, more);
        else
            g_string_append_printf(cmd, "\033_Gq=2,m=%d;", more);
        g_string_append_len(cmd, b64 + off, (gssize)n);
        g_string_append(cmd, "\033\\");
        imageview_kitty_command(out, cmd->str, cmd->len, tmux);
    }
    g_free(b64);
    /* one virtual placement per image (p=1); a later rendition's upload replaces both */
    g_string_truncate(cmd, 0);
    g_string_append_printf(cmd, "\033_Ga=p,U=1,i=%d,p=1,c=%d,r=%d,q=2\033\\", id, r->cols, r->rows);
    imageview_kitty_command(out, cmd->str, cmd->len, tmux);
    g_string_free(cmd, TRUE);
    r->escape_len = out->len;
    r->escape = g_string_free(out, FALSE);

    /* both diacritics in every cell: no two cells are alike, so nothing compresses runs of them */
    for (int y = 0; y < r->rows; y++) {
        cell_line *line = cell_lines_add(&r->lines);
        for (int x = 0; x < r->cols; x++) {
            cell c;
            memset(&c, 0, sizeof c);
            c.ch[0] = IMAGEVIEW_KITTY_PLACEHOLDER;
            c.ch[1] = (wchar_t)imageview_diacritics[y];
            c.ch[2] = (wchar_t)imageview_diacritics[x];
            c.role = ROLE_NORMAL;
            c.fg = (int16_t)id;
            c.bg = -1;
            cell_line_push(line, &c);
        }
    }
    imageview_cache_add(iv, &key, r);
    return r;
}

char *
imageview_kitty_delete_new(int id, int tmux)
{
    char cmd[64];
    int n = snprintf(cmd, sizeof cmd, "\033_Ga=d,d=I,i=%d,q=2\033\\", id);
    GString *out = g_string_new(NULL);

    imageview_kitty_command(out, cmd, (size_t)n, tmux);
    char *s = xstrdup(out->str);
    g_string_free(out, TRUE);
    return s;
}
