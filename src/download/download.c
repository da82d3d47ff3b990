#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <glib.h>
#include <jansson.h>

#include "download.h"
#include "log.h"
#include "modelstore.h"
#include "regfile.h"
#include "xmalloc.h"

/*
 * What this relies on from the hub (checked against huggingface.co's answers):
 *
 * GET {endpoint}/api/models/{id}/revision/{rev}
 *     {"id": ..., "sha": "<40-hex commit>", "siblings": [{"rfilename": "config.json"}, ...]}
 * GET {endpoint}/api/models/{id}/tree/{commit}   (top-level entries)
 *     [{"type": "file", "path": "config.json", "size": 1643, "oid": "<git blob sha1>"},
 *      {"type": "file", "path": "model-00001-of-00002.safetensors", "size": N, "oid": ...,
 *       "lfs": {"oid": "<sha256 hex>", "size": N, "pointerSize": 135}},
 *      {"type": "directory", "path": "images", ...}]
 * GET {endpoint}/{id}/resolve/{commit}/{path}
 *     the file; LFS files answer with a redirect to a storage host (302), which is followed
 *     without the token. Range requests are answered with 206 and Content-Range.
 * Errors carry an X-Error-Message header; 401 also means "no such repository" when no token is
 * sent.
 */

#define DOWNLOAD_DEFAULT_ENDPOINT "https://huggingface.co"
#define DOWNLOAD_DEFAULT_RETRIES 5
/* Back-off before retry k (1-based): 1 s, 2 s, 4 s, ... at most this. */
#define DOWNLOAD_MAX_BACKOFF_S 30
#define DOWNLOAD_MAX_RETRY_AFTER_S 60
/* API answers and error bodies are read into memory up to this size. */
#define DOWNLOAD_MAX_MEMORY (32u << 20)
#define DOWNLOAD_MAX_ERROR_BODY 4096
#define DOWNLOAD_CHUNK (1u << 20)

/* Files fetched besides those modelstore_required_files names, when the revision has them. */
static const char *const download_optional[] = {
    "special_tokens_map.json", "tokenizer.json", NULL,
};
#define DOWNLOAD_INDEX "model.safetensors.index.json"
#define DOWNLOAD_SINGLE "model.safetensors"

typedef struct {
    char *name;
    uint64_t size;
    char *sha256;  /* hex, for LFS files */
    char *git_oid; /* hex git blob id, for the others (NULL when the tree gives none) */
} download_file;

struct download_plan {
    CURL *curl;
    char *endpoint;
    char *id;
    char *rev;
    char *commit;
    char *token;
    char *token_from; /* "HF_TOKEN" or the token file */
    int retries;
    volatile int *cancel;
    download_file *files;
    size_t nfiles;
    uint64_t total;
    char errbuf[CURL_ERROR_SIZE];
};

/* One request's state, filled by the curl callbacks. */
typedef struct {
    download_plan *plan;
    int fd;                /* the body goes here when >= 0 and the answer is 200/206 */
    GChecksum *sha256;     /* of the whole file, when checked */
    GChecksum *sha1;       /* git blob id */
    uint64_t blob_size;    /* for the git blob header */
    uint64_t offset;       /* bytes already in the file (the Range start) */
    uint64_t got;          /* bytes written by this request */
    int body_started;
    int to_file;
    int bad_range;
    int write_errno;
    int too_large;
    char *mem;             /* the body when not written to a file */
    size_t len;
    size_t cap;
    size_t limit;
    int has_range;
    uint64_t range_start;
    long retry_after;
    char *error_message;   /* X-Error-Message of the last response */
    /* progress */
    download_progress_fn fn;
    void *ctx;
    download_progress *prog;
    uint64_t total_before;
} download_xfer;

const char *
download_format_bytes(char *buf, size_t cap, uint64_t bytes)
{
    static const char *const units[] = {"kB", "MB", "GB", "TB"};
    if (bytes < 1000) {
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1000.0;
    int u = 0;
    while (v >= 1000.0 && u < 3) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, cap, v < 10.0 ? "%.1f %s" : "%.0f %s", v, units[u]);
    return buf;
}

/* getenv, with an empty value read as unset. */
static const char *
download_env(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

/* The token: $HF_TOKEN, else the file the hub's own tools write ($HF_HOME/token). */
static void
download_load_token(download_plan *p)
{
    const char *v = download_env("HF_TOKEN");
    if (v != NULL) {
        p->token = xstrdup(v);
        p->token_from = xstrdup("HF_TOKEN");
        return;
    }
    char *path = download_env("HF_TOKEN_PATH") != NULL ? xstrdup(download_env("HF_TOKEN_PATH"))
                 : download_env("HF_HOME") != NULL
                     ? xasprintf("%s/token", download_env("HF_HOME"))
                     : xasprintf("%s/huggingface/token", g_get_user_cache_dir());
    gchar *text = NULL;
    if (g_file_get_contents(path, &text, NULL, NULL)) {
        g_strstrip(text);
        if (*text != '\0') {
            p->token = xstrdup(text);
            p->token_from = xasprintf("the token in %s", path);
        }
        g_free(text);
    }
    free(path);
}

/* ------------------------------------------------------------------ curl callbacks */

static size_t
download_on_header(char *data, size_t size, size_t n, void *ud)
{
    download_xfer *x = ud;
    size_t len = size * n;
    char *line = xstrndup(data, len);
    line[strcspn(line, "\r\n")] = '\0';
    if (strncmp(line, "HTTP/", 5) == 0) {
        /* a new response (after a redirect): forget the previous one's headers */
        x->has_range = 0;
        x->retry_after = 0;
        free(x->error_message);
        x->error_message = NULL;
    } else if (strncasecmp(line, "Content-Range:", 14) == 0) {
        unsigned long long start;
        if (sscanf(line + 14, " bytes %llu-", &start) == 1) {
            x->has_range = 1;
            x->range_start = start;
        }
    } else if (strncasecmp(line, "X-Error-Message:", 16) == 0) {
        const char *v = line + 16;
        while (*v == ' ')
            v++;
        free(x->error_message);
        x->error_message = xstrdup(v);
    } else if (strncasecmp(line, "Retry-After:", 12) == 0) {
        x->retry_after = strtol(line + 12, NULL, 10);
    }
    free(line);
    return len;
}

/* Start the checksums over for a file written from its first byte. */
static void
download_reset_sums(download_xfer *x)
{
    if (x->sha256 != NULL)
        g_checksum_reset(x->sha256);
    if (x->sha1 != NULL) {
        char head[64];
        int n = snprintf(head, sizeof head, "blob %" PRIu64, x->blob_size);
        g_checksum_reset(x->sha1);
        /* the git blob header ends with its NUL */
        g_checksum_update(x->sha1, (const guchar *)head, (gssize)n + 1);
    }
}

static void
download_update_sums(download_xfer *x, const void *data, size_t len)
{
    if (x->sha256 != NULL)
        g_checksum_update(x->sha256, data, (gssize)len);
    if (x->sha1 != NULL)
        g_checksum_update(x->sha1, data, (gssize)len);
}

static void
download_report(download_xfer *x, download_event event, uint64_t file_done)
{
    if (x->fn == NULL)
        return;
    x->prog->event = event;
    x->prog->file_done = file_done;
    x->prog->total_done = x->total_before + file_done;
    x->fn(x->ctx, x->prog);
}

static size_t
download_on_body(char *data, size_t size, size_t n, void *ud)
{
    download_xfer *x = ud;
    size_t len = size * n;
    if (!x->body_started) {
        long code = 0;
        x->body_started = 1;
        curl_easy_getinfo(x->plan->curl, CURLINFO_RESPONSE_CODE, &code);
        x->to_file = x->fd >= 0 && (code == 200 || code == 206);
        if (x->to_file && code == 200 && x->offset > 0) {
            /* the server ignored the Range request: the whole file comes again */
            if (ftruncate(x->fd, 0) != 0) {
                x->write_errno = errno;
                return 0;
            }
            x->offset = 0;
            download_reset_sums(x);
        } else if (x->to_file && code == 206 && (!x->has_range || x->range_start != x->offset)) {
            x->bad_range = 1;
            return 0;
        }
    }
    if (!x->to_file) {
        if (x->len + len > x->limit) {
            x->too_large = 1;
            return x->fd >= 0 ? len : 0; /* an error body is only kept in part */
        }
        if (x->len + len + 1 > x->cap) {
            x->cap = (x->len + len + 1) * 2;
            x->mem = xrealloc(x->mem, x->cap);
        }
        memcpy(x->mem + x->len, data, len);
        x->len += len;
        x->mem[x->len] = '\0';
        return len;
    }
    for (size_t done = 0; done < len;) {
        ssize_t w = write(x->fd, data + done, len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            x->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    download_update_sums(x, data, len);
    x->got += len;
    return len;
}

static int
download_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                     curl_off_t ulnow)
{
    download_xfer *x = ud;
    if (*x->plan->cancel)
        return 1;
    if (x->to_file)
        download_report(x, DOWNLOAD_DATA, x->offset + x->got);
    return 0;
}

/* ------------------------------------------------------------------ requests */

static void
download_xfer_init(download_xfer *x, download_plan *p, int fd, size_t limit)
{
    memset(x, 0, sizeof *x);
    x->plan = p;
    x->fd = fd;
    x->limit = limit;
}

static void
download_xfer_clear(download_xfer *x)
{
    free(x->mem);
    free(x->error_message);
    x->mem = NULL;
    x->error_message = NULL;
    x->len = x->cap = 0;
}

/* One GET of url; range_from > 0 asks for the bytes from there on. */
static CURLcode
download_perform(download_plan *p, const char *url, download_xfer *x, uint64_t range_from,
                 long *status)
{
    CURL *c = p->curl;
    char range[32];
    char agent[64];
    curl_easy_reset(c); /* keeps the open connections */
    snprintf(agent, sizeof agent, "imp-chat/%s", PACKAGE_VERSION);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    /* a stalled transfer (under 1 byte/s for a minute) is a transient failure */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, p->errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, download_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, download_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, download_on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    if (p->token != NULL) {
        /* curl sends it to the hub only, not to the storage host a redirect leads to */
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, p->token);
    }
    if (range_from > 0) {
        snprintf(range, sizeof range, "%" PRIu64 "-", range_from);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    p->errbuf[0] = '\0';
    CURLcode rc = curl_easy_perform(c);
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return rc;
}

/* Whether a curl failure may go away on its own. */
static int
download_transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Whether an HTTP status may go away on its own (server errors, rate limits). */
static int
download_transient_status(long status)
{
    return status >= 500 || status == 429 || status == 408;
}

/* A message for a failed transfer: what failed, where, and what to do. */
static char *
download_curl_message(download_plan *p, const char *url, CURLcode rc)
{
    const char *detail = p->errbuf[0] != '\0' ? p->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        return xasprintf(
            "%s: cannot resolve the host name (no network, or a wrong HF_ENDPOINT?): %s", url,
            detail);
    case CURLE_COULDNT_CONNECT:
        return xasprintf("%s: cannot connect (no network, or the server is down?): %s", url,
                         detail);
    case CURLE_OPERATION_TIMEDOUT:
        return xasprintf("%s: timed out: %s", url, detail);
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
        return xasprintf("%s: connection lost: %s", url, detail);
    default:
        return xasprintf("%s: %s", url, detail);
    }
}

static char *
download_http_message(download_plan *p, const char *url, long status, const download_xfer *x)
{
    char *head = x->error_message != NULL ? xasprintf("%s: HTTP %ld (%s)", url, status,
                                                      x->error_message)
                                          : xasprintf("%s: HTTP %ld", url, status);
    char *msg;
    if (status == 401 && p->token == NULL)
        msg = xasprintf("%s: %s needs a Hugging Face token, which is missing (set HF_TOKEN), or "
                        "it does not exist", head, p->id);
    else if (status == 401)
        msg = xasprintf("%s: %s was refused (invalid or expired?)", head, p->token_from);
    else if (status == 403 && p->token == NULL)
        msg = xasprintf("%s: access to %s is restricted and no token is set (set HF_TOKEN to a "
                        "token with access)", head, p->id);
    else if (status == 403)
        msg = xasprintf("%s: %s lacks access to %s (for a gated model, accept its conditions on "
                        "the model page first)", head, p->token_from, p->id);
    else if (status == 404)
        msg = xasprintf("%s: not found (check the model id and the revision)", head);
    else
        msg = xstrdup(head);
    free(head);
    return msg;
}

/* Sleep seconds, polling the cancel flag; returns nonzero when cancelled. */
static int
download_sleep(download_plan *p, long seconds)
{
    for (long i = 0; i < seconds * 10 && !*p->cancel; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return *p->cancel;
}

/* The wait before retry number attempt (1-based): the server's Retry-After, else doubling. */
static long
download_backoff(int attempt, long retry_after)
{
    if (retry_after > 0)
        return retry_after < DOWNLOAD_MAX_RETRY_AFTER_S ? retry_after : DOWNLOAD_MAX_RETRY_AFTER_S;
    long s = 1L << (attempt - 1 < 5 ? attempt - 1 : 5);
    return s < DOWNLOAD_MAX_BACKOFF_S ? s : DOWNLOAD_MAX_BACKOFF_S;
}

/* Tell the progress callback (or stderr when there is none) about a retry or a refetch. */
static void
download_note(download_xfer *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
download_note(download_xfer *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    if (x->fn != NULL) {
        x->prog->note = msg;
        download_report(x, DOWNLOAD_NOTE, x->prog->file_done);
        x->prog->note = NULL;
    } else {
        log_error("%s", msg);
    }
    free(msg);
}

/*
 * Wait before retry number *attempt after a transient failure described by why; -1 with *cause
 * when the retries are used up or the user cancelled.
 */
static int
download_retry_wait(download_xfer *x, int *attempt, char *why, char **cause)
{
    download_plan *p = x->plan;
    if (*p->cancel) {
        free(why);
        return log_cause(cause, "interrupted");
    }
    if (++*attempt > p->retries) {
        log_cause(cause, "%s%s", why, p->retries > 0 ? " (gave up after retrying)" : "");
        free(why);
        return -1;
    }
    long wait = download_backoff(*attempt, x->retry_after);
    download_note(x, "%s; retrying in %ld s (%d of %d)", why, wait, *attempt, p->retries);
    free(why);
    if (download_sleep(p, wait))
        return log_cause(cause, "interrupted");
    return 0;
}

/* GET url into memory, with retries; returns the body (NUL-terminated) or NULL with *cause. */
static char *
download_get(download_plan *p, const char *url, size_t *len, char **cause)
{
    download_progress prog = {0};
    for (int attempt = 0;;) {
        download_xfer x;
        long status;
        download_xfer_init(&x, p, -1, DOWNLOAD_MAX_MEMORY);
        x.prog = &prog;
        CURLcode rc = download_perform(p, url, &x, 0, &status);
        char *why = NULL;
        if (rc == CURLE_ABORTED_BY_CALLBACK && *p->cancel) {
            download_xfer_clear(&x);
            log_cause(cause, "interrupted");
            return NULL;
        }
        if (rc == CURLE_WRITE_ERROR && x.too_large) {
            download_xfer_clear(&x);
            log_cause(cause, "%s: the answer is larger than %u MB", url, DOWNLOAD_MAX_MEMORY >> 20);
            return NULL;
        }
        if (rc == CURLE_OK && status == 200) {
            char *body = x.mem != NULL ? x.mem : xstrdup("");
            *len = x.len;
            x.mem = NULL;
            download_xfer_clear(&x);
            return body;
        }
        if (rc != CURLE_OK && download_transient_curl(rc))
            why = download_curl_message(p, url, rc);
        else if (rc == CURLE_OK && download_transient_status(status))
            why = download_http_message(p, url, status, &x);
        if (why == NULL) {
            char *msg = rc != CURLE_OK ? download_curl_message(p, url, rc)
                                       : download_http_message(p, url, status, &x);
            log_cause(cause, "%s", msg);
            free(msg);
            download_xfer_clear(&x);
            return NULL;
        }
        int stop = download_retry_wait(&x, &attempt, why, cause);
        download_xfer_clear(&x);
        if (stop != 0)
            return NULL;
    }
}

/* GET url and parse it as JSON; NULL with *cause. */
static json_t *
download_get_json(download_plan *p, const char *url, char **cause)
{
    size_t len;
    char *body = download_get(p, url, &len, cause);
    if (body == NULL)
        return NULL;
    json_error_t err;
    json_t *root = json_loadb(body, len, 0, &err);
    free(body);
    if (root == NULL)
        log_cause(cause, "%s: the answer is not JSON (line %d: %s)", url, err.line, err.text);
    return root;
}

/* ------------------------------------------------------------------ the plan */

/* A URL path segment, percent-encoded (revisions such as refs/pr/1 hold slashes). */
static char *
download_escape(download_plan *p, const char *s)
{
    char *e = curl_easy_escape(p->curl, s, 0);
    char *copy = xstrdup(e);
    curl_free(e);
    return copy;
}

static char *
download_resolve_url(download_plan *p, const char *name)
{
    char *file = download_escape(p, name);
    char *url = xasprintf("%s/%s/resolve/%s/%s", p->endpoint, p->id, p->commit, file);
    free(file);
    return url;
}

/* Whether s is n lowercase hex digits. */
static int
download_is_hex(const char *s, size_t n)
{
    size_t i;
    for (i = 0; s[i] != '\0'; i++)
        if (!isdigit((unsigned char)s[i]) && (s[i] < 'a' || s[i] > 'f'))
            return 0;
    return i == n;
}

/* A file name the plan may write: a plain name in the destination folder. */
static int
download_safe_name(const char *name)
{
    return *name != '\0' && *name != '.' && strchr(name, '/') == NULL &&
           strchr(name, '\\') == NULL;
}

static int
download_has_sibling(json_t *siblings, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(siblings, i, s) {
        const char *r = json_string_value(json_object_get(s, "rfilename"));
        if (r != NULL && strcmp(r, name) == 0)
            return 1;
    }
    return 0;
}

/* Add name to the plan with its size and hash from the tree listing. */
static int
download_add_file(download_plan *p, json_t *tree, const char *tree_url, const char *name,
                  char **cause)
{
    size_t i;
    json_t *e;
    if (!download_safe_name(name))
        return log_cause(cause, "%s@%s: refusing the file name \"%s\"", p->id, p->rev, name);
    for (size_t k = 0; k < p->nfiles; k++)
        if (strcmp(p->files[k].name, name) == 0)
            return 0;
    json_array_foreach(tree, i, e) {
        const char *path = json_string_value(json_object_get(e, "path"));
        if (path == NULL || strcmp(path, name) != 0)
            continue;
        json_t *lfs = json_object_get(e, "lfs");
        json_t *size = json_object_get(json_is_object(lfs) ? lfs : e, "size");
        const char *sha = json_is_object(lfs) ? json_string_value(json_object_get(lfs, "oid"))
                                              : NULL;
        const char *oid = json_string_value(json_object_get(e, "oid"));
        if (!json_is_integer(size) || json_integer_value(size) < 0)
            return log_cause(cause, "%s: no size for %s", tree_url, name);
        if (json_is_object(lfs) && (sha == NULL || !download_is_hex(sha, 64)))
            return log_cause(cause, "%s: no SHA-256 for the LFS file %s", tree_url, name);
        p->files = xreallocarray(p->files, p->nfiles + 1, sizeof *p->files);
        download_file *f = &p->files[p->nfiles++];
        f->name = xstrdup(name);
        f->size = (uint64_t)json_integer_value(size);
        f->sha256 = sha != NULL ? xstrdup(sha) : NULL;
        f->git_oid = sha == NULL && oid != NULL && download_is_hex(oid, 40) ? xstrdup(oid) : NULL;
        p->total += f->size;
        return 0;
    }
    return log_cause(cause, "%s: %s is not listed", tree_url, name);
}

static gint
download_compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The shards model.safetensors.index.json names, added to the plan in sorted order. */
static int
download_add_shards(download_plan *p, json_t *tree, const char *tree_url, char **cause)
{
    char *url = download_resolve_url(p, DOWNLOAD_INDEX);
    json_t *index = download_get_json(p, url, cause);
    json_t *map = index != NULL ? json_object_get(index, "weight_map") : NULL;
    int rc = 0;
    if (index == NULL) {
        rc = -1;
    } else if (!json_is_object(map) || json_object_size(map) == 0) {
        rc = log_cause(cause, "%s: no weight_map", url);
    } else {
        GPtrArray *names = g_ptr_array_new();
        const char *key;
        json_t *v;
        json_object_foreach(map, key, v) {
            const char *name = json_string_value(v);
            if (name == NULL) {
                rc = log_cause(cause, "%s: weight_map[\"%s\"] is not a file name", url, key);
                break;
            }
            guint k;
            for (k = 0; k < names->len && strcmp(g_ptr_array_index(names, k), name) != 0; k++)
                ;
            if (k == names->len)
                g_ptr_array_add(names, (gpointer)name);
        }
        g_ptr_array_sort(names, download_compare_names);
        for (guint k = 0; rc == 0 && k < names->len; k++)
            rc = download_add_file(p, tree, tree_url, g_ptr_array_index(names, k), cause);
        g_ptr_array_free(names, TRUE);
    }
    json_decref(index);
    free(url);
    return rc;
}

/* Fill the plan from the API: commit, files, sizes, hashes. */
static int
download_plan_fill(download_plan *p, char **cause)
{
    char *rev = download_escape(p, p->rev);
    char *info_url = xasprintf("%s/api/models/%s/revision/%s", p->endpoint, p->id, rev);
    char *tree_url = NULL;
    json_t *info = download_get_json(p, info_url, cause);
    json_t *tree = NULL;
    int rc = -1;
    free(rev);
    if (info == NULL)
        goto out;
    const char *sha = json_string_value(json_object_get(info, "sha"));
    json_t *siblings = json_object_get(info, "siblings");
    if (sha == NULL || !download_is_hex(sha, 40) || !json_is_array(siblings)) {
        log_cause(cause, "%s: unexpected answer (no commit \"sha\" or \"siblings\" list)",
                  info_url);
        goto out;
    }
    p->commit = xstrdup(sha);
    tree_url = xasprintf("%s/api/models/%s/tree/%s", p->endpoint, p->id, p->commit);
    if ((tree = download_get_json(p, tree_url, cause)) == NULL)
        goto out;
    if (!json_is_array(tree)) {
        log_cause(cause, "%s: unexpected answer (not a list of files)", tree_url);
        goto out;
    }
    for (size_t i = 0; modelstore_required_files[i] != NULL; i++) {
        const char *name = modelstore_required_files[i];
        if (!download_has_sibling(siblings, name)) {
            log_cause(cause, "%s@%s has no %s: imp-chat needs config.json and the tokenizer files "
                      "of an Imp model", p->id, p->rev, name);
            goto out;
        }
        if (download_add_file(p, tree, tree_url, name, cause) != 0)
            goto out;
    }
    for (size_t i = 0; download_optional[i] != NULL; i++)
        if (download_has_sibling(siblings, download_optional[i]) &&
            download_add_file(p, tree, tree_url, download_optional[i], cause) != 0)
            goto out;
    if (download_has_sibling(siblings, DOWNLOAD_INDEX)) {
        if (download_add_file(p, tree, tree_url, DOWNLOAD_INDEX, cause) != 0 ||
            download_add_shards(p, tree, tree_url, cause) != 0)
            goto out;
    } else if (download_has_sibling(siblings, DOWNLOAD_SINGLE)) {
        if (download_add_file(p, tree, tree_url, DOWNLOAD_SINGLE, cause) != 0)
            goto out;
    } else {
        log_cause(cause, "%s@%s has no safetensors weights (%s or %s)", p->id, p->rev,
                  DOWNLOAD_INDEX, DOWNLOAD_SINGLE);
        goto out;
    }
    rc = 0;
out:
    json_decref(info);
    json_decref(tree);
    free(info_url);
    free(tree_url);
    return rc;
}

/* libcurl's one-time set-up; -1 with *cause when it fails. */
static int
download_global_init(char **cause)
{
    static int initialized;
    if (!initialized) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return log_cause(cause, "libcurl failed to initialise");
        initialized = 1;
    }
    return 0;
}

/* HF_ENDPOINT without trailing slashes, or the hub's address. New string. */
static char *
download_endpoint_new(void)
{
    const char *endpoint = download_env("HF_ENDPOINT");
    char *e = xstrdup(endpoint != NULL ? endpoint : DOWNLOAD_DEFAULT_ENDPOINT);
    for (size_t n = strlen(e); n > 0 && e[n - 1] == '/'; n--)
        e[n - 1] = '\0';
    return e;
}

int
download_hub_probe(int timeout_ms, char **cause)
{
    if (download_global_init(cause) != 0)
        return -1;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return log_cause(cause, "libcurl failed to initialise");
    char *endpoint = download_endpoint_new();
    char errbuf[CURL_ERROR_SIZE] = "";
    /* name lookup, connection and TLS handshake, then nothing: the question is only "reachable?" */
    curl_easy_setopt(c, CURLOPT_URL, endpoint);
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        log_cause(cause, "%s cannot be reached: %s", endpoint,
                  errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    curl_easy_cleanup(c);
    free(endpoint);
    return rc == CURLE_OK ? 0 : -1;
}

download_plan *
download_plan_new(const char *id, const char *rev, volatile int *cancel, char **cause)
{
    if (download_global_init(cause) != 0)
        return NULL;
    download_plan *p = xcalloc(1, sizeof *p);
    p->curl = curl_easy_init();
    if (p->curl == NULL) {
        free(p);
        log_cause(cause, "libcurl failed to initialise");
        return NULL;
    }
    p->endpoint = download_endpoint_new();
    p->id = xstrdup(id);
    p->rev = xstrdup(rev);
    p->cancel = cancel;
    p->retries = DOWNLOAD_DEFAULT_RETRIES;
    const char *retries = download_env("IMP_CHAT_DOWNLOAD_RETRIES");
    if (retries != NULL) {
        char *end;
        long v = strtol(retries, &end, 10);
        if (*end != '\0' || v < 0 || v > 100) {
            log_cause(cause, "IMP_CHAT_DOWNLOAD_RETRIES=%s: expected a number from 0 to 100",
                      retries);
            download_plan_free(p);
            return NULL;
        }
        p->retries = (int)v;
    }
    download_load_token(p);
    if (download_plan_fill(p, cause) != 0) {
        download_plan_free(p);
        return NULL;
    }
    return p;
}

uint64_t
download_plan_bytes(const download_plan *p)
{
    return p->total;
}

size_t
download_plan_count(const download_plan *p)
{
    return p->nfiles;
}

const char *
download_plan_commit(const download_plan *p)
{
    return p->commit;
}

void
download_plan_free(download_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nfiles; i++) {
        free(p->files[i].name);
        free(p->files[i].sha256);
        free(p->files[i].git_oid);
    }
    free(p->files);
    curl_easy_cleanup(p->curl);
    free(p->endpoint);
    free(p->id);
    free(p->rev);
    free(p->commit);
    free(p->token);
    free(p->token_from);
    free(p);
}

/* ------------------------------------------------------------------ files */

/* Hash what fd holds from its start into x's checksums (CHECK events); -1 with errno. */
static int
download_hash_fd(download_xfer *x, int fd, uint64_t size)
{
    char *buf = xmalloc(DOWNLOAD_CHUNK);
    uint64_t done = 0;
    download_reset_sums(x);
    while (done < size) {
        ssize_t n = pread(fd, buf, DOWNLOAD_CHUNK, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            free(buf);
            return -1;
        }
        download_update_sums(x, buf, (size_t)n);
        done += (uint64_t)n;
        download_report(x, DOWNLOAD_CHECK, done);
        if (*x->plan->cancel)
            break;
    }
    free(buf);
    return 0;
}

/* NULL when x's sums match f, else what differs (new string). */
static char *
download_verify_sums(download_xfer *x, const download_file *f)
{
    if (f->sha256 != NULL) {
        const char *got = g_checksum_get_string(x->sha256);
        if (strcmp(got, f->sha256) != 0)
            return xasprintf("its SHA-256 is %s, the hub says %s", got, f->sha256);
    }
    if (f->git_oid != NULL) {
        const char *got = g_checksum_get_string(x->sha1);
        if (strcmp(got, f->git_oid) != 0)
            return xasprintf("its git blob id is %s, the hub says %s", got, f->git_oid);
    }
    return NULL;
}

/* Set up x's checksums for f. */
static void
download_sums_for(download_xfer *x, const download_file *f)
{
    x->sha256 = f->sha256 != NULL ? g_checksum_new(G_CHECKSUM_SHA256) : NULL;
    x->sha1 = f->git_oid != NULL ? g_checksum_new(G_CHECKSUM_SHA1) : NULL;
    x->blob_size = f->size;
    download_reset_sums(x);
}

static void
download_sums_free(download_xfer *x)
{
    if (x->sha256 != NULL)
        g_checksum_free(x->sha256);
    if (x->sha1 != NULL)
        g_checksum_free(x->sha1);
    x->sha256 = x->sha1 = NULL;
}

/*
 * Whether the file already at path is f: 1 yes, 0 no (*why says what differs, or NULL when there
 * is no file), -1 when cancelled.
 */
static int
download_check_existing(download_xfer *x, const download_file *f, const char *path, char **why)
{
    struct stat st;
    *why = NULL;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISREG(st.st_mode)) {
        *why = xstrdup("it is not a regular file");
        return 0;
    }
    if ((uint64_t)st.st_size != f->size) {
        *why = xasprintf("its size is %" PRIu64 " bytes, the hub says %" PRIu64,
                         (uint64_t)st.st_size, f->size);
        return 0;
    }
    int fd = regfile_open(path, NULL, NULL);
    if (fd < 0) {
        *why = xasprintf("it cannot be read (%s)", strerror(errno));
        return 0;
    }
    download_sums_for(x, f);
    int rc = download_hash_fd(x, fd, f->size);
    close(fd);
    if (*x->plan->cancel) {
        download_sums_free(x);
        return -1;
    }
    if (rc != 0)
        *why = xasprintf("it cannot be read (%s)", strerror(errno));
    else
        *why = download_verify_sums(x, f);
    download_sums_free(x);
    return *why == NULL;
}

/* Remove partial files of name left by another version of it (their hash differs from keep). */
static void
download_remove_stale(const char *dir, const char *name, const char *keep)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t nlen = strlen(name);
    while (d != NULL && (de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > nlen + 6 && strncmp(de->d_name, name, nlen) == 0 && de->d_name[nlen] == '.' &&
            strcmp(de->d_name + len - 5, ".part") == 0 && strcmp(de->d_name, keep) != 0) {
            char *path = xasprintf("%s/%s", dir, de->d_name);
            unlink(path);
            free(path);
        }
    }
    if (d != NULL)
        closedir(d);
}

/* Open (creating) the partial file and hash what it already holds; -1 with *cause. */
static int
download_open_part(download_xfer *x, const download_file *f, const char *part, char **cause)
{
    struct stat st;
    x->fd = open(part, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (x->fd < 0 || fstat(x->fd, &st) != 0)
        return log_cause(cause, "%s: %s", part, strerror(errno));
    download_sums_for(x, f);
    x->offset = (uint64_t)st.st_size;
    if (x->offset > f->size) {
        /* longer than the file can be: not a prefix of it */
        if (ftruncate(x->fd, 0) != 0)
            return log_cause(cause, "%s: %s", part, strerror(errno));
        x->offset = 0;
    }
    if (x->offset > 0 && download_hash_fd(x, x->fd, x->offset) != 0)
        return log_cause(cause, "%s: %s", part, strerror(errno));
    return 0;
}

/* Flush the complete partial file to disk and rename it into place; -1 with *cause. */
static int
download_commit_part(download_xfer *x, const char *part, const char *final, char **cause)
{
    int fd = x->fd;
    x->fd = -1;
    if (fdatasync(fd) != 0) {
        int err = errno;
        close(fd);
        return log_cause(cause, "%s: write failed: %s", part, strerror(err));
    }
    if (close(fd) != 0)
        return log_cause(cause, "%s: write failed: %s", part, strerror(errno));
    if (rename(part, final) != 0)
        return log_cause(cause, "%s: cannot rename to %s: %s", part, final, strerror(errno));
    return 0;
}

/* Download one file into dir (base holds the progress callback and this file's progress). */
static int
download_file_run(const download_xfer *base, const download_file *f, const char *dir,
                  char **cause)
{
    download_plan *p = base->plan;
    char *final = xasprintf("%s/%s", dir, f->name);
    const char *hash = f->sha256 != NULL ? f->sha256 : f->git_oid != NULL ? f->git_oid : p->commit;
    /* named after the content, so a partial file of another version is never continued */
    char *part_name = xasprintf("%s.%.12s.part", f->name, hash);
    char *part = xasprintf("%s/%s", dir, part_name);
    char *url = download_resolve_url(p, f->name);
    char *why = NULL;
    int rc = -1, attempt = 0, refetched = 0;
    download_xfer x = *base;

    int present = download_check_existing(&x, f, final, &why);
    if (present < 0) {
        log_cause(cause, "interrupted");
        goto out;
    }
    if (present > 0) {
        download_report(&x, DOWNLOAD_PRESENT, f->size);
        rc = 0;
        goto out;
    }
    if (why != NULL) {
        download_note(&x, "%s is already there but %s: downloading it again", f->name, why);
        free(why);
    }
    download_remove_stale(dir, f->name, part_name);

    for (;;) {
        long status = 0;
        int fail = 0;
        char *retry_why = NULL;
        x = *base;
        x.limit = DOWNLOAD_MAX_ERROR_BODY;
        if (download_open_part(&x, f, part, cause) != 0) {
            fail = 1;
            goto next;
        }
        x.prog->resumed_from = x.offset;
        download_report(&x, DOWNLOAD_START, x.offset);
        CURLcode crc = CURLE_OK;
        if (x.offset < f->size && !*p->cancel)
            crc = download_perform(p, url, &x, x.offset, &status);
        else
            status = 200; /* complete already: only the checks remain */
        uint64_t have = x.offset + x.got;
        int progressed = x.got > 0;
        if (*p->cancel) {
            fail = have > 0 ? log_cause(cause, "interrupted; the partial file %s is kept", part)
                            : log_cause(cause, "interrupted");
        } else if (x.write_errno != 0) {
            fail = log_cause(cause, "%s: write failed: %s%s", part, strerror(x.write_errno),
                             x.write_errno == ENOSPC ? " (free some space, then run the same "
                                                       "command again: it resumes from here)"
                                                     : "");
        } else if (x.bad_range) {
            fail = log_cause(cause, "%s: asked for the bytes from %" PRIu64
                             ", the server sent another range", url, x.offset);
        } else if (crc != CURLE_OK) {
            char *msg = download_curl_message(p, url, crc);
            if (download_transient_curl(crc)) {
                retry_why = msg;
            } else {
                fail = log_cause(cause, "%s", msg);
                free(msg);
            }
        } else if (status == 416 && x.offset > 0 && !refetched) {
            /* the partial file does not fit the file on the hub: start it over */
            refetched = 1;
            if (ftruncate(x.fd, 0) != 0)
                fail = log_cause(cause, "%s: %s", part, strerror(errno));
        } else if (status != 200 && status != 206) {
            char *msg = download_http_message(p, url, status, &x);
            if (download_transient_status(status)) {
                retry_why = msg;
            } else {
                fail = log_cause(cause, "%s", msg);
                free(msg);
            }
        } else if (have < f->size) {
            retry_why = xasprintf("%s: the transfer ended after %" PRIu64 " of %" PRIu64 " bytes",
                                  url, have, f->size);
        } else if (have > f->size) {
            unlink(part);
            fail = log_cause(cause, "%s: the hub sent %" PRIu64 " bytes, its listing says %" PRIu64
                             " (the partial file was removed)", url, have, f->size);
        } else if ((why = download_verify_sums(&x, f)) != NULL) {
            unlink(part);
            if (!refetched) {
                /* a damaged partial file or a bad transfer: once more from the start */
                refetched = 1;
                download_note(&x, "%s: %s; downloading it again", f->name, why);
            } else {
                fail = log_cause(cause, "%s: %s (the download was removed)", f->name, why);
            }
            free(why);
        } else if (download_commit_part(&x, part, final, cause) != 0) {
            fail = 1;
        } else {
            download_report(&x, DOWNLOAD_DONE, f->size);
            rc = 0;
        }
        if (retry_why != NULL && progressed) {
            /* the connection dropped after some data: continue from there at once */
            download_note(&x, "%s; resuming", retry_why);
            free(retry_why);
            attempt = 0;
        } else if (retry_why != NULL && download_retry_wait(&x, &attempt, retry_why, cause) != 0) {
            fail = 1;
        }
    next:
        if (x.fd >= 0)
            close(x.fd);
        download_sums_free(&x);
        download_xfer_clear(&x);
        if (rc == 0 || fail)
            break;
    }
out:
    free(final);
    free(part_name);
    free(part);
    free(url);
    return rc;
}

int
download_plan_run(download_plan *p, const char *dir, download_progress_fn fn, void *ctx,
                  char **cause)
{
    if (g_mkdir_with_parents(dir, 0755) != 0)
        return log_cause(cause, "%s: cannot create the folder: %s", dir, strerror(errno));
    uint64_t done = 0;
    for (size_t i = 0; i < p->nfiles; i++) {
        download_progress prog = {0};
        download_xfer x;
        download_xfer_init(&x, p, -1, 0);
        prog.index = (int)i + 1;
        prog.count = (int)p->nfiles;
        prog.name = p->files[i].name;
        prog.file_size = p->files[i].size;
        prog.total_size = p->total;
        x.fn = fn;
        x.ctx = ctx;
        x.prog = &prog;
        x.total_before = done;
        if (*p->cancel)
            return log_cause(cause, "interrupted");
        if (download_file_run(&x, &p->files[i], dir, cause) != 0)
            return -1;
        done += p->files[i].size;
    }
    return 0;
}
