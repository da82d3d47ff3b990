/*
 * Display lines as cells: what the text and image renderers produce and what the screen code
 * draws. Nothing here knows ncurses, so renderers are tested as plain data.
 */
#ifndef IMP_CELLS_H
#define IMP_CELLS_H

#include <stdint.h>
#include <wchar.h>

#include "roles.h"

/* A base character and up to two combining marks (ncurses' cchar_t holds five). */
#define CELL_CHARS 4

/* Attributes on top of the role's colors. */
enum {
    CELL_BOLD = 1 << 0,
    CELL_ITALIC = 1 << 1,
    CELL_UNDERLINE = 1 << 2,
    CELL_REVERSE = 1 << 3,
    CELL_DIM = 1 << 4,
    /* the top-left cell of an image drawn in an overlay step; fg holds the image's number */
    CELL_IMAGE_MARK = 1 << 7,
};

/* One screen column. A wide character's right half is a cell with ch[0] == 0. */
typedef struct {
    wchar_t ch[CELL_CHARS]; /* NUL-terminated; printable only (renderers sanitise) */
    uint8_t role;           /* color role (roles.h) */
    uint8_t attr;           /* CELL_* bits */
    int16_t fg, bg;         /* palette index 0-255 for image cells; -1: the role's color */
} cell;

/* One display line. */
typedef struct {
    cell *cells;
    int n; /* columns used */
} cell_line;

/* A growing list of display lines. */
typedef struct {
    cell_line *lines;
    int n, cap;
} cell_lines;

/* Start an empty list. */
void cell_lines_init(cell_lines *l);
/* Free every line and the list. */
void cell_lines_free(cell_lines *l);
/* Append an empty line and borrow it. */
cell_line *cell_lines_add(cell_lines *l);
/* Append a copy of c to line (grows it by one column). */
void cell_line_push(cell_line *line, const cell *c);
/* Move every line of src to the end of dst; src is left empty. */
void cell_lines_steal(cell_lines *dst, cell_lines *src);
/* The line as UTF-8 text (right halves skipped, trailing blanks kept), for tests. New string. */
char *cell_line_text_new(const cell_line *line);

#endif
