/*
 * The conversation's images as the interface shows them: decoded once for display, renditions in
 * the image mode chosen at start-up (symbols, kitty placeholders, sixel or none), captions, and
 * the tray's small previews.
 */
#ifndef IMP_GALLERY_H
#define IMP_GALLERY_H

#include "cells.h"

typedef enum {
    GALLERY_NONE,
    GALLERY_SYMBOLS,
    GALLERY_KITTY,
    GALLERY_SIXEL,
} gallery_mode;

typedef struct gallery gallery;

/*
 * A gallery drawing in mode with the terminal's color count (2, 8, 16 or 256); captions state that
 * an image costs image_positions context positions.
 */
gallery *gallery_new(gallery_mode mode, int colors, int tmux_passthrough, int cell_w, int cell_h,
                     int image_positions);
/* Free the images (and delete kitty uploads from the terminal). */
void gallery_free(gallery *g);
/*
 * Decode the image at path for display, captioned with name (NULL: the file's name); its index
 * (from 0), or -1 with *cause.
 */
int gallery_add(gallery *g, const char *path, const char *name, char **cause);
/* Number of images. */
int gallery_count(const gallery *g);
/* Borrow image i's path as given. */
const char *gallery_path(const gallery *g, int i);
/* Image i's name (sanitised). New string. */
char *gallery_name_new(const gallery *g, int i);
/* Image i's pixel size. */
void gallery_size(const gallery *g, int i, int *width, int *height);
/*
 * Append image i's rendition (at most width x rows cells) and its caption line, which shows it as
 * [number], to out.
 */
void gallery_render(gallery *g, int i, int number, int width, int rows, cell_lines *out);
/* Append image i's rendition alone (no caption), for the tray and /show. */
void gallery_render_bare(gallery *g, int i, int width, int rows, cell_lines *out);
/* Forget every image. */
void gallery_clear(gallery *g);
/* The mode in use. */
gallery_mode gallery_mode_of(const gallery *g);
/*
 * Sixel overlay, after ncurses has drawn: write each image whose top-left cell is at screen row
 * top[i] (-1: not on screen) when all of it lies within the view's first view_rows rows; width and
 * rows are the box it was rendered in. Returns how many were written (0 in other modes).
 */
int gallery_overlay(gallery *g, const int *top, int ntop, int x, int width, int rows,
                    int view_rows);

#endif
