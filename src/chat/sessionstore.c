#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "regfile.h"
#include "sessionstore.h"
#include "xmalloc.h"

char *
sessionstore_dir_new(void)
{
    /* glib reads $XDG_DATA_HOME, else ~/.local/share, as the model store does */
    return xasprintf("%s/imp-chat/sessions", g_get_user_data_dir());
}

int
sessionstore_mkdirs(const char *folder, char **cause)
{
    if (g_mkdir_with_parents(folder, 0700) != 0)
        return log_cause(cause, "%s: cannot create the folder: %s", folder, strerror(errno));
    return 0;
}

/* The folder part of path ("." when there is none). New string. */
static char *
sessionstore_dirname_new(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

/* Write all of data to fd; 0 or -1 with errno. */
static int
sessionstore_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
sessionstore_write_atomic(const char *path, const void *data, size_t len, char **cause)
{
    struct stat st;
    char *real = NULL;
    /* a link is followed, so the file it names is replaced (not the link) */
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        real = realpath(path, NULL);
        if (real == NULL)
            return log_cause(cause, "%s: %s", path, strerror(errno));
        path = real;
    }
    int existed = stat(path, &st) == 0;
    if (existed && !S_ISREG(st.st_mode)) {
        free(real);
        return log_cause(cause, "%s: not a regular file", path);
    }
    char *dir = sessionstore_dirname_new(path);
    const char *base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
    char *tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
    int fd = mkstemp(tmp), rc = -1, err = 0;
    if (fd < 0) {
        log_cause(cause, "%s: cannot write in %s: %s", path, dir, strerror(errno));
        goto out;
    }
    /* a new file is private (0600, mkstemp's); a replaced one keeps its mode */
    if ((existed && fchmod(fd, st.st_mode & 07777) != 0) ||
        sessionstore_write_all(fd, data, len) != 0 || fsync(fd) != 0)
        err = errno;
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err == 0 && rename(tmp, path) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        log_cause(cause, "%s: cannot write: %s", path, strerror(err));
        goto out;
    }
    /* the rename itself must reach the disk too */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    rc = 0;
out:
    free(tmp);
    free(dir);
    free(real);
    return rc;
}

int
sessionstore_read(const char *path, size_t max, char **data, size_t *len, char **cause)
{
    struct stat st;
    *data = NULL;
    *len = 0;
    /* the shared check: a FIFO, a device or a folder is refused without being opened */
    int fd = regfile_open(path, NULL, cause);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size > max) {
        int too_big = (size_t)st.st_size > max;
        close(fd);
        if (too_big)
            return log_cause(cause, "%s: %.1f MB, more than the %.0f MB such a file may be", path,
                             st.st_size / 1048576.0, max / 1048576.0);
        return log_cause(cause, "%s: %s", path, strerror(errno));
    }
    size_t want = (size_t)st.st_size, got = 0;
    char *buf = xmalloc(want + 1);
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return log_cause(cause, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

char *
sessionstore_blob_path_new(const char *dir, const char *sha256)
{
    return xasprintf("%s/images/%s", dir, sha256);
}

int
sessionstore_put_blob(const char *dir, const char *sha256, const void *data, size_t len,
                      char **cause)
{
    char *path = sessionstore_blob_path_new(dir, sha256);
    struct stat st;
    int rc = 0;
    /* stored by content: a file of the right size under the name is the same picture */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size != len) {
        char *images = xasprintf("%s/images", dir);
        rc = sessionstore_mkdirs(images, cause);
        if (rc == 0)
            rc = sessionstore_write_atomic(path, data, len, cause);
        free(images);
    }
    free(path);
    return rc;
}

void
sessionstore_sha256_hex(const void *data, size_t len, char hex[65])
{
    gchar *s = g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
    memcpy(hex, s, 64);
    hex[64] = '\0';
    g_free(s);
}

int
sessionstore_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 100 && name[0] != '.' && strchr(name, '/') == NULL;
}

static int
sessionstore_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

char *
sessionstore_resolve_new(const char *dir, const char *arg)
{
    if (strchr(arg, '/') != NULL || sessionstore_ends_with(arg, ".json"))
        return xstrdup(arg);
    return xasprintf("%s/%s.json", dir, arg);
}

int
sessionstore_in_dir(const char *dir, const char *path)
{
    char *rdir = realpath(dir, NULL), *pdir = sessionstore_dirname_new(path);
    char *rpdir = realpath(pdir, NULL);
    int in = rdir != NULL && rpdir != NULL && strcmp(rdir, rpdir) == 0 &&
             sessionstore_ends_with(path, ".json");
    free(rdir);
    free(pdir);
    free(rpdir);
    return in;
}

static int
sessionstore_entry_newer(const void *a, const void *b)
{
    const sessionstore_entry *x = a, *y = b;
    if (x->mtime != y->mtime)
        return x->mtime > y->mtime ? -1 : 1;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns > y->mtime_ns ? -1 : 1;
    return strcmp(y->name, x->name); /* same second: the later name first */
}

int
sessionstore_list(const char *dir, sessionstore_entry **entries)
{
    DIR *d = opendir(dir);
    int n = 0;
    *entries = NULL;
    if (d == NULL)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.' || !sessionstore_ends_with(de->d_name, ".json"))
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        *entries = xreallocarray(*entries, (size_t)n + 1, sizeof **entries);
        sessionstore_entry *e = &(*entries)[n++];
        e->name = xstrndup(de->d_name, strlen(de->d_name) - 5);
        e->path = path;
        e->mtime = st.st_mtim.tv_sec;
        e->mtime_ns = st.st_mtim.tv_nsec;
    }
    closedir(d);
    if (n > 1)
        qsort(*entries, (size_t)n, sizeof **entries, sessionstore_entry_newer);
    return n;
}

void
sessionstore_list_free(sessionstore_entry *entries, int n)
{
    for (int i = 0; i < n; i++) {
        free(entries[i].name);
        free(entries[i].path);
    }
    free(entries);
}
