#include "config.h"

#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inputhist.h"
#include "sessionstore.h"
#include "xmalloc.h"

struct inputhist {
    char *path;
    int failed; /* a write failed: said once, then the history lives in memory only */
};

char **
inputhist_parse(const char *data, size_t len, int *n)
{
    char **out = NULL;
    *n = 0;
    GString *cur = g_string_new(NULL);
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (c == '\\' && i + 1 < len) {
            char e = data[++i];
            g_string_append_c(cur, e == 'n' ? '\n' : e);
        } else if (c == '\n') {
            if (cur->len > 0) {
                out = xreallocarray(out, (size_t)*n + 1, sizeof *out);
                out[(*n)++] = xstrdup(cur->str);
            }
            g_string_truncate(cur, 0);
        } else if (c != '\0') {
            g_string_append_c(cur, c);
        }
    }
    g_string_free(cur, TRUE); /* a last line without its newline was cut short: dropped */
    return out;
}

char *
inputhist_format_new(char *const *entries, int n, size_t *len)
{
    /* the newest entries that fit both bounds */
    int first = n > INPUT_HISTORY_MAX ? n - INPUT_HISTORY_MAX : 0;
    GString *s = g_string_new(NULL);
    for (;;) {
        g_string_truncate(s, 0);
        for (int i = first; i < n; i++) {
            for (const char *p = entries[i]; *p; p++) {
                if (*p == '\\')
                    g_string_append(s, "\\\\");
                else if (*p == '\n')
                    g_string_append(s, "\\n");
                else
                    g_string_append_c(s, *p);
            }
            g_string_append_c(s, '\n');
        }
        if (s->len <= INPUTHIST_MAX_BYTES || first >= n)
            break;
        first++;
    }
    *len = s->len;
    return g_string_free(s, FALSE);
}

static void
inputhist_free_entries(char **entries, int n)
{
    for (int i = 0; i < n; i++)
        free(entries[i]);
    free(entries);
}

/* The entries of the file at path (none when it is missing or unreadable). */
static char **
inputhist_read(const char *path, int *n, char **cause)
{
    char *data;
    size_t len;
    *n = 0;
    /* a file grown past the bound by hand is read up to a generous multiple of it */
    if (sessionstore_read(path, 4 * INPUTHIST_MAX_BYTES, &data, &len, cause) != 0)
        return NULL;
    char **entries = inputhist_parse(data, len, n);
    free(data);
    return entries;
}

inputhist *
inputhist_open(input *in, const char *path, char **notice)
{
    inputhist *h = xcalloc(1, sizeof *h);
    h->path = path != NULL ? xstrdup(path)
                           : xasprintf("%s/imp-chat/history", g_get_user_state_dir());
    char *cause = NULL;
    int n;
    char **entries = inputhist_read(h->path, &n, &cause);
    if (cause != NULL && access(h->path, F_OK) == 0 && notice != NULL)
        *notice = xasprintf("input history: %s (it starts empty)", cause);
    free(cause);
    for (int i = n > INPUT_HISTORY_MAX ? n - INPUT_HISTORY_MAX : 0; i < n; i++)
        input_history_add(in, entries[i]);
    inputhist_free_entries(entries, n);
    return h;
}

int
inputhist_add(inputhist *h, const char *text, char **cause)
{
    if (h == NULL || *text == '\0' || h->failed)
        return 0;
    int n;
    char *unread = NULL;
    char **entries = inputhist_read(h->path, &n, &unread);
    free(unread);
    if (n == 0 || strcmp(entries[n - 1], text) != 0) {
        entries = xreallocarray(entries, (size_t)n + 1, sizeof *entries);
        entries[n++] = xstrdup(text);
    }
    size_t len;
    char *data = inputhist_format_new(entries, n, &len);
    char *dir = g_path_get_dirname(h->path);
    int rc = 0;
    if (sessionstore_mkdirs(dir, cause) != 0 ||
        sessionstore_write_atomic(h->path, data, len, cause) != 0) {
        h->failed = 1; /* said once; the chat goes on with the history in memory */
        rc = -1;
    }
    g_free(dir);
    free(data);
    inputhist_free_entries(entries, n);
    return rc;
}

void
inputhist_free(inputhist *h)
{
    if (h == NULL)
        return;
    free(h->path);
    free(h);
}
