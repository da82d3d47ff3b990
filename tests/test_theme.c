/*
 * Theme looks by terminal depth: every installed theme keeps every role readable on 8 colors
 * (colors in range, no black text on a dark default background, no white on a light one, no text
 * in its background's color) and uses no color without colors; ROLE.8 and ROLE.mono lines, and a
 * main line replacing an earlier theme's depth looks.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "testutil.h"
#include "theme.h"

static const char *const test_role_names[] = {
#define TEST_ROLE_NAME(name, key) key,
    ROLES(TEST_ROLE_NAME)
#undef TEST_ROLE_NAME
};

/* Every role of t on every depth; light: the theme is for light backgrounds. */
static void
test_theme_readable(const char *name, const theme *t, int light)
{
    static const int depths[] = {256, 16, 8, 2};
    for (size_t d = 0; d < sizeof depths / sizeof depths[0]; d++) {
        int colors = depths[d];
        for (int r = 0; r < ROLE_COUNT; r++) {
            theme_style st = theme_style_for(t, (role)r, colors);
            const char *rn = test_role_names[r];
            if (colors == 2) {
                CHECK(st.fg == -1 && st.bg == -1, "%s %s without colors: fg %d bg %d", name, rn,
                      st.fg, st.bg);
                continue;
            }
            CHECK(st.fg >= -1 && st.fg < colors && st.bg >= -1 && st.bg < colors,
                  "%s %s on %d colors: fg %d bg %d out of range", name, rn, colors, st.fg, st.bg);
            CHECK(st.fg < 0 || st.fg != st.bg, "%s %s on %d colors: text in its background's "
                  "color %d", name, rn, colors, st.fg);
            if (colors == 8 && !(st.attr & CELL_REVERSE)) {
                int bad = light ? 7 : 0;
                CHECK(!(st.fg == bad && st.bg < 0), "%s %s on 8 colors: color %d on the default "
                      "background", name, rn, bad);
            }
        }
    }
    /* the status line and errors stand out without colors */
    CHECK(theme_style_for(t, ROLE_STATUS, 2).attr & CELL_REVERSE, "%s: status reversed without "
          "colors", name);
    CHECK(theme_style_for(t, ROLE_ERROR, 2).attr != 0, "%s: errors marked without colors", name);
}

static void
test_installed(void)
{
    static const char *const names[] = {"default", "light", "mono"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *notices = NULL, *cause = NULL;
        theme *t = theme_load_new(names[i], &notices, &cause);
        CHECK(t != NULL && notices == NULL, "theme %s loads cleanly: %s", names[i],
              notices != NULL ? notices : cause != NULL ? cause : "");
        if (t != NULL)
            test_theme_readable(names[i], t, strcmp(names[i], "light") == 0);
        theme_free(t);
        free(notices);
        free(cause);
    }
    theme *t = theme_default_new();
    test_theme_readable("compiled-in default", t, 0);
    /* bright-black notices and borders get their own look on 8 colors */
    CHECK(theme_style_borrow(t, ROLE_BORDER)->fg == 8, "border is bright-black on 256 colors");
    CHECK(theme_style_for(t, ROLE_BORDER, 256).fg == 8, "border keeps color 8 on 256 colors");
    CHECK(theme_style_for(t, ROLE_BORDER, 8).fg == 4, "border.8 is blue");
    CHECK(theme_style_for(t, ROLE_NOTICE, 2).attr == CELL_DIM, "notice.mono is dim");
    theme_free(t);
}

static void
test_depth_lines(void)
{
    char *notices = NULL;
    theme *t = theme_default_new();
    /* a main line drops the default theme's 8-color look: the new color is folded instead */
    theme_parse(t, "notice = bright-red default\n", "t1", &notices);
    CHECK(notices == NULL, "t1 parses");
    CHECK(theme_style_for(t, ROLE_NOTICE, 8).fg == 1, "notice on 8 colors: folded bright-red (%d)",
          theme_style_for(t, ROLE_NOTICE, 8).fg);
    CHECK(theme_style_for(t, ROLE_NOTICE, 2).attr == 0, "notice without colors: no attributes");
    /* depth lines of the same text stay, in either order */
    theme_parse(t, "notice.8 = green default\nnotice = red default\nnotice.mono = default "
                   "default underline\n", "t2", &notices);
    CHECK(theme_style_for(t, ROLE_NOTICE, 8).fg == 2, "notice.8 before notice stays");
    CHECK(theme_style_for(t, ROLE_NOTICE, 256).fg == 1, "notice on 256 colors");
    CHECK(theme_style_for(t, ROLE_NOTICE, 2).attr == CELL_UNDERLINE, "notice.mono");
    /* black on the default background is made readable */
    theme_parse(t, "user = black default\nuser.8 = black default\n", "t3", &notices);
    theme_style st = theme_style_for(t, ROLE_USER, 8);
    CHECK(st.fg == -1 && (st.attr & CELL_DIM), "black text on 8 colors becomes default dim");
    theme_parse(t, "notice.16 = red\n", "t4", &notices);
    CHECK(notices != NULL && strstr(notices, "t4:1: unknown role \"notice.16\"") != NULL,
          "an unknown depth is reported: %s", notices != NULL ? notices : "");
    free(notices);
    theme_free(t);
}

int
main(void)
{
    test_installed();
    test_depth_lines();
    return testutil_finish("test_theme");
}
