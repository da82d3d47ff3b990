#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cells.h"
#include "datadir.h"
#include "log.h"
#include "regfile.h"
#include "theme.h"
#include "xmalloc.h"

/* themes/default.theme, compiled in so the program never starts without colors */
static const char theme_default_text[] =
#include "theme_default.inc"
    ;

static const char *const theme_role_keys[] = {
#define ROLES_KEY(name, key) key,
    ROLES(ROLES_KEY)
#undef ROLES_KEY
};

/* A theme's looks: for terminals with 16 or more colors, with 8, and without colors. */
enum { THEME_FULL, THEME_8, THEME_MONO, THEME_DEPTHS };
static const char *const theme_depth_suffix[THEME_DEPTHS] = {"", ".8", ".mono"};

struct theme {
    char *name;
    theme_style styles[THEME_DEPTHS][ROLE_COUNT];
    uint8_t set[THEME_DEPTHS][ROLE_COUNT]; /* the theme gave this look (else it is derived) */
};

static const char *const theme_color_names[] = {"black", "red",     "green", "yellow",
                                                "blue",  "magenta", "cyan",  "white"};

/* A color word: default, a name, bright-NAME or a number 0-255; -2 when it is none of these. */
static int
theme_color_parse(const char *w)
{
    if (strcasecmp(w, "default") == 0)
        return -1;
    int bright = strncasecmp(w, "bright-", 7) == 0;
    const char *base = bright ? w + 7 : w;
    for (int i = 0; i < 8; i++)
        if (strcasecmp(base, theme_color_names[i]) == 0)
            return i + (bright ? 8 : 0);
    char *end;
    long v = strtol(w, &end, 10);
    if (end != w && *end == '\0' && v >= 0 && v <= 255)
        return (int)v;
    return -2;
}

static int
theme_attr_parse(const char *w)
{
    static const struct {
        const char *name;
        int bit;
    } attrs[] = {{"bold", CELL_BOLD},         {"dim", CELL_DIM},
                 {"italic", CELL_ITALIC},     {"underline", CELL_UNDERLINE},
                 {"reverse", CELL_REVERSE}};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (strcasecmp(w, attrs[i].name) == 0)
            return attrs[i].bit;
    return -1;
}

static void
theme_notice(char **notices, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
theme_notice(char **notices, const char *fmt, ...)
{
    if (notices == NULL)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *line = xvasprintf(fmt, ap);
    va_end(ap);
    char *joined = *notices != NULL ? xasprintf("%s\n%s", *notices, line) : xstrdup(line);
    free(*notices);
    free(line);
    *notices = joined;
}

/* One "role = fg [bg] [attr...]" line; the role keeps its look when anything is wrong. */
static void
theme_parse_line(theme *t, char *line, const char *where, int lineno, uint8_t *given,
                 char **notices)
{
    char *words[8];
    int n = 0;
    for (char *save = NULL, *w = strtok_r(line, " \t=", &save); w != NULL && n < 8;
         w = strtok_r(NULL, " \t=", &save))
        words[n++] = w;
    if (n == 0 || words[0][0] == '#')
        return;
    /* "notice", "notice.8" or "notice.mono" */
    int r = -1, depth = THEME_FULL;
    for (int i = 0; i < ROLE_COUNT && r < 0; i++) {
        size_t klen = strlen(theme_role_keys[i]);
        if (strncmp(words[0], theme_role_keys[i], klen) != 0)
            continue;
        for (int d = 0; d < THEME_DEPTHS && r < 0; d++)
            if (strcmp(words[0] + klen, theme_depth_suffix[d]) == 0) {
                r = i;
                depth = d;
            }
    }
    if (r < 0) {
        theme_notice(notices, "%s:%d: unknown role \"%s\"", where, lineno, words[0]);
        return;
    }
    theme_style st = {-1, -1, 0};
    int colors = 0;
    for (int i = 1; i < n; i++) {
        int c = theme_color_parse(words[i]);
        int a = c == -2 ? theme_attr_parse(words[i]) : -1;
        if (c != -2 && colors < 2) {
            if (colors++ == 0)
                st.fg = (int16_t)c;
            else
                st.bg = (int16_t)c;
        } else if (a >= 0) {
            st.attr |= (uint8_t)a;
        } else {
            theme_notice(notices, "%s:%d: %s: \"%s\" is not a color or attribute", where, lineno,
                         words[0], words[i]);
            return;
        }
    }
    if (colors == 0) {
        theme_notice(notices, "%s:%d: %s: no color given", where, lineno, words[0]);
        return;
    }
    t->styles[depth][r] = st;
    t->set[depth][r] = 1;
    given[depth * ROLE_COUNT + r] = 1;
    /* a new main look replaces the 8-color and monochrome looks of an earlier theme */
    for (int d = THEME_8; d < THEME_DEPTHS && depth == THEME_FULL; d++)
        if (!given[d * ROLE_COUNT + r])
            t->set[d][r] = 0;
}

void
theme_parse(theme *t, const char *text, const char *where, char **notices)
{
    char *copy = xstrdup(text);
    uint8_t given[THEME_DEPTHS * ROLE_COUNT] = {0}; /* looks this text set */
    int lineno = 0;
    for (char *line = copy, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        theme_parse_line(t, line, where, lineno, given, notices);
    }
    free(copy);
}

theme *
theme_default_new(void)
{
    theme *t = xcalloc(1, sizeof *t);
    for (int d = 0; d < THEME_DEPTHS; d++)
        for (int i = 0; i < ROLE_COUNT; i++)
            t->styles[d][i] = (theme_style){-1, -1, 0};
    theme_parse(t, theme_default_text, "default.theme", NULL);
    t->name = xstrdup("default");
    return t;
}

const char *
theme_data_dir(void)
{
    static char *dir;
    if (dir == NULL)
        dir = datadir_path_new("themes", "themes");
    return dir;
}

/* The user's theme folder, or NULL without a home. New string. */
static char *
theme_user_dir_new(void)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg != NULL && *xdg == '/')
        return xasprintf("%s/imp-chat/themes", xdg);
    const char *home = getenv("HOME");
    return home != NULL && *home != '\0' ? xasprintf("%s/.config/imp-chat/themes", home) : NULL;
}

theme *
theme_load_new(const char *name, char **notices, char **cause)
{
    if (*name == '\0' || strchr(name, '/') != NULL) {
        log_cause(cause, "theme \"%s\": a theme is a name, not a path", name);
        return NULL;
    }
    char *user = theme_user_dir_new();
    const char *dirs[2] = {user, theme_data_dir()};
    for (int i = 0; i < 2; i++) {
        if (dirs[i] == NULL)
            continue;
        char *path = xasprintf("%s/%s.theme", dirs[i], name);
        char *why = NULL;
        FILE *f = regfile_fopen(path, "theme", &why);
        if (f == NULL && errno != ENOENT) {
            /* there, but a FIFO, a device or unreadable: say so rather than fall back */
            log_cause(cause, "%s", why);
            free(why);
            free(path);
            free(user);
            return NULL;
        }
        free(why);
        if (f != NULL) {
            size_t cap = 4096, len = 0, got;
            char *text = xmalloc(cap);
            while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
                len += got;
                if (len + 1 == cap)
                    text = xrealloc(text, cap *= 2);
            }
            text[len] = '\0';
            fclose(f);
            theme *t = theme_default_new();
            free(t->name);
            t->name = xstrdup(name);
            theme_parse(t, text, path, notices);
            free(text);
            free(path);
            free(user);
            return t;
        }
        free(path);
    }
    free(user);
    if (strcmp(name, "default") == 0)
        return theme_default_new();
    char *list = theme_list_new();
    log_cause(cause, "no theme \"%s\" (themes: %s)", name, list);
    free(list);
    return NULL;
}

void
theme_free(theme *t)
{
    if (t == NULL)
        return;
    free(t->name);
    free(t);
}

const char *
theme_name(const theme *t)
{
    return t->name;
}

const theme_style *
theme_style_borrow(const theme *t, role r)
{
    return &t->styles[THEME_FULL][r];
}

int
theme_color_fold(int c, int colors)
{
    if (c < 0 || colors < 8)
        return -1;
    if (c < colors)
        return c;
    if (c < 16)
        return c - 8;
    /* the 6x6x6 cube and the grey ramp, folded onto the basic colors by channel */
    int r, g, b;
    if (c >= 232) {
        r = g = b = (c - 232) * 10 + 8;
    } else {
        c -= 16;
        r = (c / 36) * 51;
        g = (c / 6 % 6) * 51;
        b = (c % 6) * 51;
    }
    return (r > 127) | (g > 127) << 1 | (b > 127) << 2;
}

theme_style
theme_style_for(const theme *t, role r, int colors)
{
    int depth = colors >= 16 ? THEME_FULL : colors >= 8 ? THEME_8 : THEME_MONO;
    theme_style st = t->set[depth][r] ? t->styles[depth][r] : t->styles[THEME_FULL][r];
    if (depth == THEME_MONO) {
        /* no colors: the theme's monochrome look, else the attributes alone */
        st.fg = st.bg = -1;
        return st;
    }
    st.fg = (int16_t)theme_color_fold(st.fg, colors);
    st.bg = (int16_t)theme_color_fold(st.bg, colors);
    /*
     * What folding can make invisible: black text on the terminal's background (bright-black
     * is black on 8 colors), or text in its background's color. It becomes default text, dim.
     */
    if ((st.fg == 0 && st.bg < 0) || (st.fg >= 0 && st.fg == st.bg)) {
        st.fg = -1;
        st.attr |= CELL_DIM;
    }
    return st;
}

static int
theme_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *
theme_list_new(void)
{
    char *user = theme_user_dir_new();
    const char *dirs[2] = {user, theme_data_dir()};
    char **names = NULL;
    size_t n = 0;
    names = xreallocarray(names, n + 1, sizeof *names);
    names[n++] = xstrdup("default");
    for (int i = 0; i < 2; i++) {
        DIR *d = dirs[i] != NULL ? opendir(dirs[i]) : NULL;
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            size_t len = strlen(de->d_name);
            if (len <= 6 || strcmp(de->d_name + len - 6, ".theme") != 0)
                continue;
            char *name = xstrndup(de->d_name, len - 6);
            int dup = 0;
            for (size_t k = 0; k < n && !dup; k++)
                dup = strcmp(names[k], name) == 0;
            if (dup) {
                free(name);
                continue;
            }
            names = xreallocarray(names, n + 1, sizeof *names);
            names[n++] = name;
        }
        if (d != NULL)
            closedir(d);
    }
    free(user);
    qsort(names, n, sizeof *names, theme_compare);
    size_t total = 1;
    for (size_t i = 0; i < n; i++)
        total += strlen(names[i]) + 2;
    char *list = xmalloc(total);
    list[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            strcat(list, ", ");
        strcat(list, names[i]);
        free(names[i]);
    }
    free(names);
    return list;
}
