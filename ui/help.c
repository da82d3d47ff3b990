#include "config.h"

#include <stdio.h>
#include <string.h>

#include "actions.h"
#include "cmdtable.h"
#include "help.h"
#include "sanitize.h"
#include "textview.h"

/*
 * Keys and commands are listed in a column this wide with their help after it, wrapped under the
 * help; on a screen narrower than HELP_TWO_COLUMNS each key or command has a line of its own and
 * its help follows, wrapped and indented.
 */
#define HELP_KEY_COLUMN 26
#define HELP_TWO_COLUMNS 64

static void
help_row(cell_lines *out, const char *lhs, const char *rhs, int width)
{
    char pad[HELP_KEY_COLUMN + 1];
    memset(pad, ' ', HELP_KEY_COLUMN);
    pad[HELP_KEY_COLUMN] = '\0';
    textview_style st = {.width = width, .role = ROLE_NORMAL, .prefix_role = ROLE_HELP_KEY};
    if (width >= HELP_TWO_COLUMNS && sanitize_width(lhs, strlen(lhs), 0) < HELP_KEY_COLUMN) {
        char first[200];
        snprintf(first, sizeof first, "%s%.*s", lhs,
                 HELP_KEY_COLUMN - sanitize_width(lhs, strlen(lhs), 0), pad);
        st.first_prefix = first;
        st.prefix = pad;
        textview_render(out, rhs, strlen(rhs), &st);
        return;
    }
    textview_style key = {
        .width = width, .role = ROLE_HELP_KEY, .first_prefix = "", .prefix = "    "};
    textview_render(out, lhs, strlen(lhs), &key);
    st.prefix = "      ";
    textview_render(out, rhs, strlen(rhs), &st);
}

void
help_render(cell_lines *out, int width)
{
    static const char heading[] =
        "imp-chat: commands and keys (Up, Down, PageUp, PageDown scroll; any other key closes)";
    textview_style title = {.width = width, .role = ROLE_NORMAL, .attr = CELL_BOLD};
    textview_render(out, heading, sizeof heading - 1, &title);
    cell_lines_add(out);
    char lhs[160], rhs[200];
    int n;
    const cmdtable_entry *t = cmdtable_entries(&n);
    for (int i = 0; i < n; i++) {
        snprintf(lhs, sizeof lhs, "  %s %s", t[i].name, t[i].args);
        if (t[i].alias != NULL)
            snprintf(rhs, sizeof rhs, "%s (also %s)", t[i].help, t[i].alias);
        else
            snprintf(rhs, sizeof rhs, "%s", t[i].help);
        help_row(out, lhs, rhs, width);
    }
    cell_lines_add(out);
    for (int a = 0; a < ACTION_COUNT; a++) {
        char keys[128];
        actions_keys((action)a, keys, sizeof keys);
        snprintf(lhs, sizeof lhs, "  %s", keys[0] ? keys : "(unbound)");
        snprintf(rhs, sizeof rhs, "%s (%s)", actions_help((action)a), actions_name((action)a));
        help_row(out, lhs, rhs, width);
    }
}
