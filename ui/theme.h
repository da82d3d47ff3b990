/*
 * Themes: how each color role looks. A theme starts from the compiled-in default and applies a
 * theme file's lines over it; a bad line is reported (file and line) and the default kept. A role
 * has a look for terminals with 16 or more colors, and may have one for 8 colors (ROLE.8) and one
 * without colors (ROLE.mono: monochrome terminals, NO_COLOR).
 */
#ifndef IMP_THEME_H
#define IMP_THEME_H

#include <stdint.h>

#include "roles.h"

/* A role's look: palette colors (-1: the terminal's default) and CELL_* attributes. */
typedef struct {
    int16_t fg, bg;
    uint8_t attr;
} theme_style;

typedef struct theme theme;

/* The compiled-in default theme. */
theme *theme_default_new(void);
/*
 * Load theme NAME: $XDG_CONFIG_HOME/imp-chat/themes/NAME.theme first, then the installed themes.
 * NULL with *cause when no such theme exists; problems inside it go to *notices (new string,
 * lines separated by newlines; NULL when none).
 */
theme *theme_load_new(const char *name, char **notices, char **cause);
/* Apply theme text (the file format) over t; problems are appended to *notices with where:LINE. */
void theme_parse(theme *t, const char *text, const char *where, char **notices);
/* Free a theme. */
void theme_free(theme *t);
/* The theme's name. */
const char *theme_name(const theme *t);
/* Borrow role r's style as written (for terminals with 256 colors). */
const theme_style *theme_style_borrow(const theme *t, role r);
/*
 * Role r's look on a terminal with `colors` colors (256, 16, 8, or 2 for none): the theme's
 * ROLE.8 line on 8 colors and ROLE.mono without colors when it has them, else the main look
 * folded onto the colors there are (attributes alone without colors). Colors come back in
 * range; black text on the default background, or text in its background's color, becomes
 * default text, dim, so every role stays visible.
 */
theme_style theme_style_for(const theme *t, role r, int colors);
/* Palette color c (-1: default) on a terminal with `colors` colors: itself, or the nearest basic. */
int theme_color_fold(int c, int colors);
/* The theme names that can be loaded, sorted, one string (space separated). New string. */
char *theme_list_new(void);
/* The folder of installed themes this program uses (installed data, or the source tree). */
const char *theme_data_dir(void);

#endif
