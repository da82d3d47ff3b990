#include "config.h"

#include <stdio.h>

#include "actions.h"
#include "cmdtable.h"
#include "help.h"
#include "sanitize.h"
#include "textview.h"

/* Keys and commands are listed in a column this wide, their help after it. */
#define HELP_KEY_COLUMN 26

static void
help_row(cell_lines *out, const char *lhs, const char *rhs)
{
    cell_line *l = cell_lines_add(out);
    int w = sanitize_line_append(l, lhs, ROLE_HELP_KEY, 0);
    for (; w < HELP_KEY_COLUMN; w++)
        sanitize_line_append(l, " ", ROLE_NORMAL, 0);
    sanitize_line_append(l, rhs, ROLE_NORMAL, 0);
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
        help_row(out, lhs, rhs);
    }
    cell_lines_add(out);
    for (int a = 0; a < ACTION_COUNT; a++) {
        char keys[128];
        actions_keys((action)a, keys, sizeof keys);
        snprintf(lhs, sizeof lhs, "  %s", keys[0] ? keys : "(unbound)");
        snprintf(rhs, sizeof rhs, "%s (%s)", actions_help((action)a), actions_name((action)a));
        help_row(out, lhs, rhs);
    }
}
