#include "config.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "xmalloc.h"

void
cell_lines_init(cell_lines *l)
{
    memset(l, 0, sizeof *l);
}

void
cell_lines_free(cell_lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->lines[i].cells);
    free(l->lines);
    memset(l, 0, sizeof *l);
}

cell_line *
cell_lines_add(cell_lines *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->lines = xreallocarray(l->lines, (size_t)l->cap, sizeof *l->lines);
    }
    cell_line *line = &l->lines[l->n++];
    line->cells = NULL;
    line->n = 0;
    return line;
}

void
cell_line_push(cell_line *line, const cell *c)
{
    /* grow in steps of 64 columns: lines are short and built once */
    if (line->n % 64 == 0)
        line->cells = xreallocarray(line->cells, (size_t)line->n + 64, sizeof *line->cells);
    line->cells[line->n++] = *c;
}

void
cell_lines_steal(cell_lines *dst, cell_lines *src)
{
    for (int i = 0; i < src->n; i++) {
        cell_line *line = cell_lines_add(dst);
        *line = src->lines[i];
    }
    free(src->lines);
    memset(src, 0, sizeof *src);
}

char *
cell_line_text_new(const cell_line *line)
{
    size_t cap = (size_t)line->n * CELL_CHARS * MB_LEN_MAX + 1, len = 0;
    char *text = xmalloc(cap);
    mbstate_t ps;
    memset(&ps, 0, sizeof ps);
    for (int i = 0; i < line->n; i++)
        for (int k = 0; k < CELL_CHARS && line->cells[i].ch[k] != 0; k++) {
            size_t r = wcrtomb(text + len, line->cells[i].ch[k], &ps);
            if (r != (size_t)-1)
                len += r;
        }
    text[len] = '\0';
    return text;
}
