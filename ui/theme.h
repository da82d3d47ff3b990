/*
 * Themes: how each color role looks. A theme starts from the compiled-in default and applies a
 * theme file's lines over it; a bad line is reported (file and line) and the default kept.
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
/* Borrow role r's style. */
const theme_style *theme_style_borrow(const theme *t, role r);
/* The theme names that can be loaded, sorted, one string (space separated). New string. */
char *theme_list_new(void);
/* The folder of installed themes this program uses (installed data, or the source tree). */
const char *theme_data_dir(void);

#endif
