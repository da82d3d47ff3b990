#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pathcomplete.h"
#include "xmalloc.h"

/* An argument read up to its end. */
typedef struct {
    char *path;     /* the decoded text, ~ expanded (new string) */
    char quote;     /* the quote still open at the end ('\'', '"'), or 0 */
    int escape;     /* the argument ends with an unquoted backslash that escapes what follows */
    int tilde_only; /* the argument is "~" or "~NAME" with no '/' yet */
} pathcomplete_scan;

static int
pathcomplete_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* The home folder of user (empty: the current user). New string, or -1 with *cause. */
static int
pathcomplete_home(const char *user, char **home, char **cause)
{
    const struct passwd *pw;
    if (*user == '\0') {
        const char *env = getenv("HOME");
        if (env != NULL && *env != '\0') {
            *home = xstrdup(env);
            return 0;
        }
        pw = getpwuid(getuid());
        if (pw == NULL || pw->pw_dir == NULL)
            return log_cause(cause,
                             "cannot expand ~: HOME is not set and user %ld has no "
                             "home folder in the password database",
                             (long)getuid());
    } else {
        pw = getpwnam(user);
        if (pw == NULL || pw->pw_dir == NULL)
            return log_cause(cause, "cannot expand ~%s: there is no user \"%s\"", user, user);
    }
    *home = xstrdup(pw->pw_dir);
    return 0;
}

/*
 * Read an argument. With partial (an argument still being typed) an open quote or a final
 * backslash is fine and trailing whitespace belongs to the path; otherwise trailing whitespace
 * is dropped and an open quote is an error.
 */
static int
pathcomplete_read(const char *arg, int partial, pathcomplete_scan *sc, char **cause)
{
    const char *p = arg;
    memset(sc, 0, sizeof *sc);
    while (pathcomplete_is_space(*p))
        p++;

    char *home = NULL;
    if (*p == '~') {
        size_t n = strcspn(p + 1, "/ \t\n\r\v\f");
        /* a quoted or escaped name is not a ~ prefix (as in the shell) */
        if (strcspn(p + 1, "'\"\\") >= n) {
            char *user = xstrndup(p + 1, n);
            int r = pathcomplete_home(user, &home, cause);
            free(user);
            if (r < 0)
                return -1;
            sc->tilde_only = p[1 + n] == '\0';
            p += 1 + n;
        }
    }

    size_t hlen = home != NULL ? strlen(home) : 0;
    char *out = xmalloc(hlen + strlen(p) + 1);
    size_t len = 0, keep = 0; /* keep: length up to the last character that is not trailing space */
    if (home != NULL) {
        memcpy(out, home, hlen);
        len = keep = hlen;
        free(home);
    }
    for (; *p != '\0'; p++) {
        char c = *p;
        if (sc->quote == '\'') {
            if (c == '\'')
                sc->quote = 0;
            else
                out[len++] = c;
            keep = len;
        } else if (sc->quote == '"') {
            if (c == '"') {
                sc->quote = 0;
            } else if (c == '\\' && (p[1] == '"' || p[1] == '\\')) {
                out[len++] = *++p;
            } else {
                out[len++] = c;
            }
            keep = len;
        } else if (c == '\'' || c == '"') {
            sc->quote = c;
            keep = len;
        } else if (c == '\\' && p[1] != '\0') {
            out[len++] = *++p;
            keep = len;
        } else if (c == '\\' && partial) {
            sc->escape = 1;
        } else {
            out[len++] = c;
            if (!pathcomplete_is_space(c))
                keep = len;
        }
    }
    if (!partial) {
        len = keep;
        if (sc->quote != 0) {
            free(out);
            return log_cause(cause, "unclosed %c quote in %s", sc->quote, arg);
        }
    }
    out[len] = '\0';
    sc->path = out;
    return 0;
}

int
pathcomplete_parse(const char *arg, char **path, char **cause)
{
    pathcomplete_scan sc;
    if (pathcomplete_read(arg, 0, &sc, cause) < 0)
        return -1;
    if (sc.path[0] == '\0') {
        free(sc.path);
        return log_cause(cause, "no path given");
    }
    *path = sc.path;
    return 0;
}

/* One directory entry that matches. */
typedef struct {
    char *name;
    int dir;
} pathcomplete_entry;

static int
pathcomplete_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const pathcomplete_entry *)a)->name, ((const pathcomplete_entry *)b)->name);
}

/* Write s (n bytes) for inside the open quote (0: unquoted) into out; returns the length. */
static size_t
pathcomplete_quote(char *out, const char *s, size_t n, char quote, int at_start)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (quote == '\'' && c == '\'') {
            memcpy(out + len, "'\\''", 4);
            len += 4;
            continue;
        }
        if ((quote == '"' && (c == '"' || c == '\\')) ||
            (quote == 0 && (c == ' ' || c == '\t' || c == '\\' || c == '\'' || c == '"' ||
                            (c == '~' && i == 0 && at_start))))
            out[len++] = '\\';
        out[len++] = c;
    }
    return len;
}

int
pathcomplete_complete(const char *typed, pathcomplete_result *res, char **cause)
{
    pathcomplete_scan sc;
    memset(res, 0, sizeof *res);
    char *why = NULL;
    if (pathcomplete_read(typed, 1, &sc, &why) < 0) {
        /* only ~NAME can fail; while no '/' follows, the name is still being typed */
        if (strchr(typed, '/') == NULL) {
            free(why);
            res->insert = xstrdup("");
            return 0;
        }
        if (cause != NULL)
            *cause = why;
        else
            free(why);
        return -1;
    }
    if (sc.tilde_only) {
        free(sc.path);
        res->insert = xstrdup("/");
        return 0;
    }

    char *slash = strrchr(sc.path, '/');
    const char *prefix = slash != NULL ? slash + 1 : sc.path;
    size_t plen = strlen(prefix);
    char *dir = slash != NULL ? xstrndup(sc.path, (size_t)(slash - sc.path) + 1) : xstrdup("");
    DIR *d = opendir(*dir != '\0' ? dir : ".");
    if (d == NULL) {
        int err = errno;
        char *shown = xstrdup(*dir != '\0' ? dir : ".");
        free(dir);
        free(sc.path);
        if (err == ENOENT || err == ENOTDIR) {
            free(shown);
            res->insert = xstrdup("");
            return 0;
        }
        int r = log_cause(cause, "cannot read the folder %s: %s", shown, strerror(err));
        free(shown);
        return r;
    }

    pathcomplete_entry *e = NULL;
    int n = 0;
    const struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strncmp(name, prefix, plen) != 0 ||
            (name[0] == '.' && prefix[0] != '.'))
            continue;
        char *full = xasprintf("%s%s", dir, name);
        struct stat st;
        e = xreallocarray(e, (size_t)n + 1, sizeof *e);
        e[n].name = xstrdup(name);
        e[n].dir = stat(full, &st) == 0 && S_ISDIR(st.st_mode);
        n++;
        free(full);
    }
    closedir(d);
    free(dir);
    if (n > 1)
        qsort(e, (size_t)n, sizeof *e, pathcomplete_entry_cmp);

    /* the longest common part, not ending inside a UTF-8 sequence */
    size_t common = n > 0 ? strlen(e[0].name) : plen;
    for (int i = 1; i < n; i++) {
        size_t k = plen;
        while (k < common && e[i].name[k] == e[0].name[k])
            k++;
        common = k;
    }
    while (n > 1 && common > plen && ((unsigned char)e[0].name[common] & 0xC0) == 0x80)
        common--;

    const char *rest = n > 0 ? e[0].name + plen : "";
    size_t rlen = common - plen;
    char *ins = xmalloc(4 * rlen + 3);
    size_t len = 0;
    if (sc.escape && rlen > 0) {
        /* the typed backslash already escapes the first character */
        ins[len++] = rest[0];
        rest++;
        rlen--;
    }
    int at_start = sc.path[0] == '\0' && !sc.escape;
    len += pathcomplete_quote(ins + len, rest, rlen, sc.quote, at_start);
    if (n == 1 && e[0].dir)
        ins[len++] = '/';
    else if (n == 1 && sc.quote != 0)
        ins[len++] = sc.quote;
    ins[len] = '\0';
    res->insert = ins;

    res->names = xreallocarray(NULL, (size_t)n + 1, sizeof *res->names);
    for (int i = 0; i < n; i++) {
        res->names[i] = xasprintf("%s%s", e[i].name, e[i].dir ? "/" : "");
        free(e[i].name);
    }
    res->n = n;
    free(e);
    free(sc.path);
    return 0;
}

void
pathcomplete_result_free(pathcomplete_result *res)
{
    for (int i = 0; i < res->n; i++)
        free(res->names[i]);
    free(res->names);
    free(res->insert);
    memset(res, 0, sizeof *res);
}
