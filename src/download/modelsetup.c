#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "download.h"
#include "log.h"
#include "modelsetup.h"
#include "modelstore.h"
#include "progressbar.h"
#include "safetext.h"
#include "xmalloc.h"

/*
 * How long the lookup waits for the hub before saying it is offline: with the program's start-up
 * (loading the CUDA libraries takes about a second) the answer comes within 5 s.
 */
#define MODELSETUP_PROBE_MS 3000

/* The command that downloads id@rev, as the user would type it. */
static char *
modelsetup_command(const char *id, const char *rev)
{
    int default_id = strcmp(id, MODELSTORE_DEFAULT_ID) == 0;
    int default_rev = strcmp(rev, MODELSTORE_DEFAULT_REV) == 0;
    if (default_id && default_rev)
        return xstrdup("imp-chat --download");
    if (default_rev)
        return xasprintf("imp-chat --download %s", id);
    return xasprintf("imp-chat --download %s@%s", id, rev);
}

/* Run the plan into dest with a progress bar on stderr; -1 with *cause (how to resume). */
static int
modelsetup_fetch(download_plan *plan, const char *id, const char *rev, const char *dest,
                 volatile int *cancel, char **cause)
{
    char *err = NULL;
    progressbar *b = progressbar_new(stderr);
    int rc = download_plan_run(plan, dest, progressbar_update, b, &err);
    progressbar_free(b);
    if (rc == 0)
        return 0;
    if (*cancel) {
        char *cmd = modelsetup_command(id, rev);
        log_cause(cause, "download %s: run `%s` (or this command) again to resume", err, cmd);
        free(cmd);
    } else {
        log_cause(cause, "%s", err);
    }
    free(err);
    return -1;
}

/*
 * Ask a yes/no question on the terminal; 1 yes, 0 no, -1 interrupted. Ctrl-C must end the
 * question, so the read is not restarted after the signal.
 */
static int
modelsetup_ask(const char *question, volatile int *cancel)
{
    struct sigaction old, now;
    char answer[16];
    size_t len = 0;
    ssize_t n;
    char c;
    char *safe = safetext_new(question, strlen(question), 0); /* it names a folder */
    fprintf(stderr, "imp-chat: %s [y/N] ", safe);
    free(safe);
    fflush(stderr);
    sigaction(SIGINT, NULL, &old);
    now = old;
    now.sa_flags &= ~SA_RESTART;
    sigaction(SIGINT, &now, NULL);
    /* byte by byte, so that nothing after the answer is taken from the chat's input */
    while ((n = read(STDIN_FILENO, &c, 1)) == 1 && c != '\n')
        if (len < sizeof answer - 1)
            answer[len++] = c;
    sigaction(SIGINT, &old, NULL);
    answer[len] = '\0';
    if (*cancel || (n < 0 && errno == EINTR)) {
        fputc('\n', stderr);
        return -1;
    }
    return answer[0] == 'y' || answer[0] == 'Y';
}

/* "VALUE is not a folder, and the hub model ID" or "the model ID", for a model not found. */
static char *
modelsetup_what(const modelsetup_options *o, const modelstore_result *res)
{
    const char *value = res->source == MODELSTORE_OPTION   ? o->model
                        : res->source == MODELSTORE_CONFIG ? o->config_model
                        : res->source == MODELSTORE_ENV    ? getenv("IMP_CHAT_MODEL")
                                                           : NULL;
    if (value != NULL)
        return xasprintf("%s (%s) is not a folder, and the hub model %s", value,
                         modelstore_source_name(res->source), res->id);
    return xasprintf("the model %s", res->id);
}

char *
modelsetup_model_dir(const modelsetup_options *o, modelstore_source *source, char **cause)
{
    modelstore_result res;
    int rc = o->model != NULL ? modelstore_resolve(o->model, MODELSTORE_OPTION, &res, cause)
                              : modelstore_find(o->config_model, &res, cause);
    if (rc != 0)
        return NULL;
    if (res.dir != NULL) {
        char *dir = res.dir;
        *source = res.source;
        res.dir = NULL;
        modelstore_result_free(&res);
        return dir;
    }

    char *dest = modelstore_store_dir(res.id, res.rev);
    char *cmd = modelsetup_command(res.id, res.rev);
    char *what = modelsetup_what(o, &res);
    char *found = NULL;
    download_plan *plan = NULL;
    if (!o->yes && !(isatty(STDIN_FILENO) && isatty(STDERR_FILENO))) {
        char *cache = modelstore_hf_cache();
        log_cause(cause, "%s is not in the Hugging Face cache (%s) or in imp-chat's store (%s): "
                  "download it with `%s` (or add --yes to this command), give a model folder "
                  "with -m DIR, or try the chat on a tiny offline model with --demo", what, cache,
                  dest, cmd);
        free(cache);
        goto out;
    }
    /* offline, the plan's retries would take half a minute: one quick try says so at once */
    char *why = NULL;
    if (download_hub_probe(MODELSETUP_PROBE_MS, &why) != 0) {
        log_cause(cause, "%s is not on this machine, and the hub %s. Without a network, `imp-chat "
                  "--demo` shows the chat on a tiny model shipped with imp-chat, and `imp-chat -m "
                  "DIR` uses a model folder copied here (on a slow network, `imp-chat --download` "
                  "waits longer and retries)", what, why);
        free(why);
        goto out;
    }
    if ((plan = download_plan_new(res.id, res.rev, o->cancel, cause)) == NULL)
        goto out;
    if (!o->yes) {
        char size[16];
        download_format_bytes(size, sizeof size, download_plan_bytes(plan));
        log_info("%s is not on this machine", what);
        char *question = xasprintf("download %s (%s) to %s?", res.id, size, dest);
        int yes = modelsetup_ask(question, o->cancel);
        free(question);
        if (yes < 0) {
            log_cause(cause, "interrupted");
            goto out;
        }
        if (yes == 0) {
            log_cause(cause, "not downloaded: `%s` downloads it later, or give a model folder "
                      "with -m DIR", cmd);
            goto out;
        }
    }
    if (modelsetup_fetch(plan, res.id, res.rev, dest, o->cancel, cause) != 0)
        goto out;
    char *reason = NULL;
    if (modelstore_check_dir(dest, &reason) != 0) {
        log_cause(cause, "%s: incomplete after the download: %s", dest, reason);
        free(reason);
        goto out;
    }
    *source = MODELSTORE_STORE;
    found = dest;
    dest = NULL;
out:
    download_plan_free(plan);
    free(what);
    free(cmd);
    free(dest);
    modelstore_result_free(&res);
    return found;
}

int
modelsetup_download(const char *id_rev, volatile int *cancel, char **cause)
{
    char *id, *rev;
    char size[16];
    modelstore_source where;
    int rc = -1;
    if (id_rev == NULL) {
        id = xstrdup(MODELSTORE_DEFAULT_ID);
        rev = xstrdup(MODELSTORE_DEFAULT_REV);
    } else if (modelstore_parse_id(id_rev, &id, &rev) != 0) {
        return log_cause(cause, "--download: \"%s\" is not a hub id (OWNER/NAME[@REVISION])",
                         id_rev);
    }
    char *found = modelstore_find_id(id, rev, &where);
    char *dest = modelstore_store_dir(id, rev);
    download_plan *plan = NULL;
    if (found != NULL && where == MODELSTORE_HF_CACHE) {
        log_info("%s is already in the Hugging Face cache: %s (nothing to download)", id, found);
        rc = 0;
        goto out;
    }
    if ((plan = download_plan_new(id, rev, cancel, cause)) == NULL)
        goto out;
    download_format_bytes(size, sizeof size, download_plan_bytes(plan));
    log_info("%s@%s: %zu files, %s, into %s", id, rev, download_plan_count(plan), size, dest);
    if (modelsetup_fetch(plan, id, rev, dest, cancel, cause) != 0)
        goto out;
    log_info("%s is ready in %s (commit %.12s)", id, dest, download_plan_commit(plan));
    rc = 0;
out:
    download_plan_free(plan);
    free(found);
    free(dest);
    free(id);
    free(rev);
    return rc;
}

/* A short name for the source column of --list-models. */
static const char *
modelsetup_label(modelstore_source source)
{
    switch (source) {
    case MODELSTORE_OPTION:
        return "-m";
    case MODELSTORE_CONFIG:
        return "config";
    case MODELSTORE_ENV:
        return "IMP_CHAT_MODEL";
    case MODELSTORE_HF_CACHE:
        return "hf-cache";
    case MODELSTORE_STORE:
        return "store";
    case MODELSTORE_DEMO:
        return "demo";
    }
    return "?";
}

/* One line of --list-models: places and reasons are paths and outside text, so escaped. */
static void
modelsetup_list_line(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
modelsetup_list_line(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *line = xvasprintf(fmt, ap);
    va_end(ap);
    char *safe = safetext_new(line, strlen(line), 0);
    fprintf(out, "%s\n", safe);
    free(safe);
    free(line);
}

void
modelsetup_list(FILE *out, const char *model, const char *config_model)
{
    size_t n;
    modelstore_entry *entries = modelstore_list(model, config_model, &n);
    modelstore_result res;
    char *cause = NULL;
    int rc = model != NULL ? modelstore_resolve(model, MODELSTORE_OPTION, &res, &cause)
                           : modelstore_find(config_model, &res, &cause);
    for (size_t i = 0; i < n; i++) {
        const modelstore_entry *e = &entries[i];
        int in_use = rc == 0 && res.dir != NULL && e->dir != NULL && strcmp(e->dir, res.dir) == 0;
        if (e->place == NULL)
            modelsetup_list_line(out, "%-15s %s", modelsetup_label(e->source), e->status);
        else
            modelsetup_list_line(out, "%-15s %s: %s%s", modelsetup_label(e->source), e->place,
                                 e->status, in_use ? " [in use]" : "");
    }
    if (rc != 0) {
        modelsetup_list_line(out, "no model: %s", cause);
        free(cause);
    } else if (res.dir == NULL) {
        char *cmd = modelsetup_command(res.id, res.rev);
        modelsetup_list_line(out, "no complete copy of %s: `%s` downloads it", res.id, cmd);
        free(cmd);
    }
    if (rc == 0)
        modelstore_result_free(&res);
    modelstore_list_free(entries, n);
}
