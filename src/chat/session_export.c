#include "config.h"

#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "session_impl.h"
#include "sessionstore.h"
#include "xmalloc.h"

/*
 * Text as written, with control characters made visible (^[ for ESC, <U+009B> for C1 controls),
 * so that showing the file with cat cannot drive the terminal. Tabs and newlines stay.
 */
static void
session_export_text(GString *md, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f) {
            g_string_append_c(md, '^');
            g_string_append_c(md, *p == 0x7f ? '?' : (char)(*p + 64));
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
            g_string_append_printf(md, "<U+%04X>", p[1]);
            p++;
        } else {
            g_string_append_c(md, (char)*p);
        }
    }
}

/* A file name safe in a Markdown link: letters, digits, '.', '-' and '_' (others become '_'). */
static char *
session_export_file_name_new(int number, const char *name)
{
    char *out = xasprintf("%d-%s", number, name);
    for (char *p = out; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '-' && *p != '_')
            *p = '_';
    return out;
}

/* The bytes of a picture of the conversation (new buffer), or -1 with *cause. */
static int
session_export_bytes(session *s, const char *sha256, char **data, size_t *len, char **cause)
{
    const session_blob *b = session_blob_find(s, sha256);
    if (b == NULL)
        return log_cause(cause, "a picture of the conversation is gone");
    if (b->bytes != NULL) {
        *data = xmalloc(b->len + 1);
        memcpy(*data, b->bytes, b->len);
        *len = b->len;
        return 0;
    }
    return sessionstore_read(b->path, SESSION_IMAGE_MAX_BYTES, data, len, cause);
}

/* The folder for the images of an export to path: NAME-images beside NAME.md. New string. */
static char *
session_export_folder_new(const char *path)
{
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".md") == 0)
        n -= 3;
    return xasprintf("%.*s-images", (int)n, path);
}

int
session_export(session *s, const char *path, const sink *out, char **cause)
{
    const sessiondoc *d = &s->doc;
    if (d->nturns == 0)
        return log_cause(cause, "/export: nothing to export yet");
    char *folder = session_export_folder_new(path);
    const char *slash = strrchr(folder, '/');
    const char *folder_rel = slash != NULL ? slash + 1 : folder;
    char **written = NULL;
    int nwritten = 0, made_folder = 0, rc = -1, number = 0;
    GString *md = g_string_new(NULL);
    char when[40];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    const char *model = d->model.name != NULL && *d->model.name ? d->model.name : "the model";
    g_string_append_printf(md, "# Conversation with %s\n\nExported by imp-chat %s on %s.\n\n",
                           model, PACKAGE_VERSION, when);
    g_string_append(md, "System prompt:\n\n> ");
    session_export_text(md, d->system);
    g_string_append(md, "\n");

    for (int i = 0; i < d->nturns; i++) {
        const sessiondoc_turn *t = &d->turns[i];
        g_string_append(md, "\n## You\n\n");
        if (t->dropped)
            g_string_append(md, "*(this exchange left the context to make room)*\n\n");
        for (int k = 0; k < t->nimages; k++) {
            char *data, *file = session_export_file_name_new(++number, t->images[k].name);
            char *dest = xasprintf("%s/%s", folder, file);
            size_t len;
            if (!made_folder && access(folder, F_OK) != 0) {
                if (mkdir(folder, 0777) != 0) {
                    log_cause(cause, "%s: cannot create the folder: %s", folder, strerror(errno));
                    free(file);
                    free(dest);
                    goto out;
                }
                made_folder = 1;
            }
            int ok = session_export_bytes(s, t->images[k].sha256, &data, &len, cause) == 0;
            if (ok) {
                ok = sessionstore_write_atomic(dest, data, len, cause) == 0;
                free(data);
            }
            if (!ok) {
                free(file);
                free(dest);
                goto out;
            }
            written = xreallocarray(written, (size_t)nwritten + 1, sizeof *written);
            written[nwritten++] = dest;
            g_string_append(md, "![");
            session_export_text(md, t->images[k].name);
            g_string_append_printf(md, "](%s/%s)%s\n\n", folder_rel, file,
                                   t->images[k].dropped && !t->dropped
                                       ? " *(left the context)*"
                                       : "");
            free(file);
        }
        session_export_text(md, t->text);
        g_string_append_printf(md, "\n\n## %s\n\n", model);
        session_export_text(md, t->reply);
        if (t->stop == SESSIONDOC_STOP_CANCEL)
            g_string_append(md, "\n\n*(stopped)*");
        else if (t->stop == SESSIONDOC_STOP_LENGTH)
            g_string_append(md, "\n\n*(cut at the length limit)*");
        else if (t->stop == SESSIONDOC_STOP_CONTEXT)
            g_string_append(md, "\n\n*(cut: the context was full)*");
        g_string_append(md, "\n");
    }
    if (sessionstore_write_atomic(path, md->str, md->len, cause) == 0) {
        /* an export is for sharing: the umask's mode, not the private one of session files */
        mode_t mask = umask(0);
        umask(mask);
        chmod(path, 0666 & ~mask);
        for (int i = 0; i < nwritten; i++)
            chmod(written[i], 0666 & ~mask);
        rc = 0;
        session_say(out, SINK_NOTICE, "exported %d exchange(s) to %s%s%s", d->nturns, path,
                    nwritten > 0 ? ", images in " : "", nwritten > 0 ? folder : "");
    }
out:
    /* nothing of a failed export stays behind */
    for (int i = 0; i < nwritten; i++) {
        if (rc != 0)
            unlink(written[i]);
        free(written[i]);
    }
    free(written);
    if (rc != 0 && made_folder)
        rmdir(folder);
    free(folder);
    g_string_free(md, TRUE);
    return rc;
}
