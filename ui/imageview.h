/*
 * Images prepared for the terminal. An imageview keeps a bounded copy of the pixels and makes
 * renditions of it: chafa symbols as cells (drawn through ncurses like text), kitty Unicode
 * placeholder cells plus the escape string that uploads the image, or a sixel string for the
 * overlay step after ncurses has drawn. Renditions are cached per request, so redraws cost nothing.
 *
 * Symbols use chafa's block, border and space symbols, narrow ones only, without the
 * ambiguous-width, "ugly" and diagonal-line ones: solid blocks, halves, quadrants, eighths and
 * straight box-drawing lines are in every monospace font (many terminals draw them themselves) and
 * are one column wide in any UTF-8 terminal, while diagonals and the legacy-computing sextants and
 * wedges depend on the font.
 *
 * Colors: 256 (or more) uses chafa's 240-color indexed mode, palette indexes 16-255, because
 * indexes 0-15 are the user's themable colors and would tint images differently in every terminal
 * theme; 16 uses indexes 0-15 and 8 uses 0-7 (ordered dither). A color a cell does not show (a
 * blank's fg, a full block's bg) may be -1. Fewer colors is monochrome (error diffusion): fg and bg
 * stay -1 (the role's colors) and inverted cells carry CELL_REVERSE; it assumes light text on a
 * dark background, so a light theme shows the image as a negative. Cells use ROLE_NORMAL.
 *
 * An imageview is used by one thread at a time.
 */
#ifndef IMP_IMAGEVIEW_H
#define IMP_IMAGEVIEW_H

#include <stddef.h>

#include "cells.h"
#include "image.h"

/* The longer side of the kept copy of the pixels. */
#define IMAGEVIEW_MAX_SIDE 1024
/* Cell width divided by cell height when the terminal's cell size is unknown. */
#define IMAGEVIEW_FONT_RATIO 0.5f
/* Renditions kept per image; the least recently asked for is dropped first. */
#define IMAGEVIEW_CACHE_MAX 8
/* Rows and columns kitty placeholders can number (the size of kitty's diacritics table). */
#define IMAGEVIEW_KITTY_MAX_CELLS 297
/* The character kitty replaces with image pixels. */
#define IMAGEVIEW_KITTY_PLACEHOLDER 0x10EEEE
/* Base64 bytes in one kitty graphics command. */
#define IMAGEVIEW_KITTY_CHUNK 4096

typedef struct imageview imageview;

/* One rendition, owned by its imageview. */
typedef struct {
    int cols, rows;    /* cells covered */
    cell_lines lines;  /* symbols and kitty: rows lines of cols cells; sixel: none */
    char *escape;      /* kitty: upload and placement; sixel: the DCS string; symbols: NULL */
    size_t escape_len; /* bytes in escape */
} imageview_rendition;

/* Prepare img for showing (keeps its own copy, scaled down to IMAGEVIEW_MAX_SIDE). */
imageview *imageview_new(const image_rgb *img);
/* Load and prepare an image file; NULL with *cause naming the path and the reason. */
imageview *imageview_new_path(const char *path, char **cause);
/* Free the imageview and all its renditions. */
void imageview_free(imageview *iv);
/* The pixel size of the original image. */
void imageview_pixel_size(const imageview *iv, int *width, int *height);
/*
 * The cells the image covers inside max_cols x max_rows with its aspect kept, for cells font_ratio
 * wide per unit of height (<= 0: IMAGEVIEW_FONT_RATIO). Small images are not enlarged beyond one
 * cell per pixel across. Every rendition asked with the same box and ratio has this size.
 */
void imageview_fit(const imageview *iv, int max_cols, int max_rows, float font_ratio, int *cols,
                   int *rows);
/*
 * The symbols rendition for a terminal with colors colors (256, 16, 8, or 2 and less for
 * monochrome). Borrowed: valid until imageview_free or until IMAGEVIEW_CACHE_MAX other renditions
 * of this image have been asked for.
 */
const imageview_rendition *imageview_symbols(imageview *iv, int max_cols, int max_rows, int colors,
                                             float font_ratio);
/*
 * The kitty rendition for image id (1-255; 16-255 keeps clear of the themable colors): placeholder
 * cells (U+10EEEE, row and column diacritics, fg = id, bg = -1) and an escape string that uploads
 * the pixels as PNG (a=t, base64 in chunks of IMAGEVIEW_KITTY_CHUNK, m=1 ... m=0) and makes the
 * virtual placement (a=p, U=1, c and r) with replies suppressed (q=2). Write the string to the
 * terminal before drawing the cells; with tmux each command is wrapped for passthrough. With the
 * cell size known (pixels, 0 when unknown) the upload is scaled down to what the cells show.
 * Borrowed, like imageview_symbols.
 */
const imageview_rendition *imageview_kitty(imageview *iv, int id, int max_cols, int max_rows,
                                           int cell_width, int cell_height, int tmux);
/*
 * The sixel rendition: a DCS string covering cols x rows cells of cell_width x cell_height pixels,
 * to be written at the top-left cell after ncurses has drawn. Borrowed, like imageview_symbols.
 */
const imageview_rendition *imageview_sixel(imageview *iv, int max_cols, int max_rows,
                                           int cell_width, int cell_height);
/* The escape string that deletes kitty image id and its data (wrapped for tmux). New string. */
char *imageview_kitty_delete_new(int id, int tmux);

#endif
