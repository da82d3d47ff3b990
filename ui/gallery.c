#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gallery.h"
#include "imageview.h"
#include "sanitize.h"
#include "screen.h"
#include "xmalloc.h"

/* Kitty image ids: palette indexes 16-255, clear of the 16 themable colors. */
#define GALLERY_KITTY_FIRST_ID 16
#define GALLERY_KITTY_IDS 240

typedef struct {
    char *path;
    char *name;
    imageview *view;
    int width, height;
    const imageview_rendition *uploaded; /* kitty: the rendition the terminal holds */
} gallery_image;

struct gallery {
    gallery_mode mode;
    int colors;
    int tmux;
    int cell_w, cell_h;
    int image_positions; /* context positions an image costs, for captions */
    gallery_image *images;
    int n;
    int *overlay_rows; /* sixel: where each image was written last, -1 */
};

gallery *
gallery_new(gallery_mode mode, int colors, int tmux_passthrough, int cell_w, int cell_h,
            int image_positions)
{
    gallery *g = xcalloc(1, sizeof *g);
    g->image_positions = image_positions;
    g->mode = mode;
    g->colors = colors;
    g->tmux = tmux_passthrough;
    g->cell_w = cell_w;
    g->cell_h = cell_h;
    /* sixel needs the cell size to scale pixels to cells; without it, symbols */
    if (mode == GALLERY_SIXEL && (cell_w <= 0 || cell_h <= 0))
        g->mode = GALLERY_SYMBOLS;
    return g;
}

static int
gallery_kitty_id(int i)
{
    return GALLERY_KITTY_FIRST_ID + i % GALLERY_KITTY_IDS;
}

void
gallery_clear(gallery *g)
{
    for (int i = 0; i < g->n; i++) {
        if (g->mode == GALLERY_KITTY && g->images[i].uploaded != NULL) {
            char *del = imageview_kitty_delete_new(gallery_kitty_id(i), g->tmux);
            screen_write_raw(del, strlen(del));
            free(del);
        }
        free(g->images[i].path);
        free(g->images[i].name);
        imageview_free(g->images[i].view);
    }
    free(g->images);
    g->images = NULL;
    g->n = 0;
    free(g->overlay_rows);
    g->overlay_rows = NULL;
}

void
gallery_free(gallery *g)
{
    if (g == NULL)
        return;
    gallery_clear(g);
    free(g);
}

int
gallery_add(gallery *g, const char *path, const char *name, char **cause)
{
    imageview *v = imageview_new_path(path, cause);
    if (v == NULL)
        return -1;
    g->images = xreallocarray(g->images, (size_t)g->n + 1, sizeof *g->images);
    g->overlay_rows = xreallocarray(g->overlay_rows, (size_t)g->n + 1, sizeof *g->overlay_rows);
    gallery_image *im = &g->images[g->n];
    memset(im, 0, sizeof *im);
    im->path = xstrdup(path);
    if (name == NULL) {
        const char *slash = strrchr(path, '/');
        name = slash != NULL && slash[1] != '\0' ? slash + 1 : path;
    }
    im->name = xstrdup(name);
    im->view = v;
    imageview_pixel_size(v, &im->width, &im->height);
    g->overlay_rows[g->n] = -1;
    return g->n++;
}

int
gallery_count(const gallery *g)
{
    return g->n;
}

const char *
gallery_path(const gallery *g, int i)
{
    return g->images[i].path;
}

char *
gallery_name_new(const gallery *g, int i)
{
    return sanitize_string_new(g->images[i].name);
}

void
gallery_size(const gallery *g, int i, int *width, int *height)
{
    *width = g->images[i].width;
    *height = g->images[i].height;
}

gallery_mode
gallery_mode_of(const gallery *g)
{
    return g->mode;
}

static float
gallery_font_ratio(const gallery *g)
{
    return g->cell_w > 0 && g->cell_h > 0 ? (float)g->cell_w / (float)g->cell_h : 0;
}

/* Copy a rendition's lines to out. */
static void
gallery_copy_lines(cell_lines *out, const cell_lines *src)
{
    for (int r = 0; r < src->n; r++) {
        cell_line *line = cell_lines_add(out);
        for (int c = 0; c < src->lines[r].n; c++)
            cell_line_push(line, &src->lines[r].cells[c]);
    }
}

void
gallery_render_bare(gallery *g, int i, int width, int rows, cell_lines *out)
{
    gallery_image *im = &g->images[i];
    if (width < 1 || rows < 1)
        return;
    switch (g->mode) {
    case GALLERY_NONE:
        break;
    case GALLERY_SYMBOLS:
    case GALLERY_SIXEL: {
        /* sixel pixels go on top of these cells in the overlay step; symbols show meanwhile */
        const imageview_rendition *r =
            imageview_symbols(im->view, width, rows, g->colors, gallery_font_ratio(g));
        gallery_copy_lines(out, &r->lines);
        if (g->mode == GALLERY_SIXEL && out->n >= r->rows && r->rows > 0) {
            cell_line *top = &out->lines[out->n - r->rows];
            if (top->n > 0) {
                top->cells[0].attr |= CELL_IMAGE_MARK;
                top->cells[0].fg = (int16_t)i;
                top->cells[0].bg = -1;
            }
        }
        break;
    }
    case GALLERY_KITTY: {
        const imageview_rendition *r = imageview_kitty(im->view, gallery_kitty_id(i), width, rows,
                                                       g->cell_w, g->cell_h, g->tmux);
        if (r->escape != NULL && im->uploaded != r) {
            /* the upload is an APC the terminal keeps off screen; the cells place it */
            screen_write_raw(r->escape, r->escape_len);
            im->uploaded = r;
        }
        gallery_copy_lines(out, &r->lines);
        break;
    }
    }
}

void
gallery_render(gallery *g, int i, int number, int width, int rows, cell_lines *out)
{
    gallery_render_bare(g, i, width, rows, out);
    char *name = gallery_name_new(g, i);
    char *caption = xasprintf("  [%d] %s, %dx%d, %d positions", number, name, g->images[i].width,
                              g->images[i].height, g->image_positions);
    cell_line *line = cell_lines_add(out);
    sanitize_line_append(line, caption, ROLE_IMAGE_CAPTION, 0);
    free(caption);
    free(name);
}

int
gallery_overlay(gallery *g, const int *top, int ntop, int x, int width, int rows, int view_rows)
{
    int drawn = 0;
    if (g->mode != GALLERY_SIXEL)
        return 0;
    for (int i = 0; i < ntop && i < g->n; i++) {
        if (top[i] < 0)
            continue;
        const imageview_rendition *r =
            imageview_sixel(g->images[i].view, width, rows, g->cell_w, g->cell_h);
        /* only whole images: a sixel cannot be clipped at the transcript's edge */
        if (r->escape == NULL || top[i] + r->rows > view_rows)
            continue;
        drawn++;
        /* save the cursor, go to the image's cell, draw, come back: ncurses' idea stays right */
        char pos[48];
        int n = snprintf(pos, sizeof pos, "\0337\033[%d;%dH", top[i] + 1, x + 1);
        screen_write_raw(pos, (size_t)n);
        screen_write_raw(r->escape, r->escape_len);
        screen_write_raw("\0338", 2);
    }
    return drawn;
}
