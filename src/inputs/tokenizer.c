#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "log.h"
#include "regfile.h"
#include "tokenizer.h"
#include "xmalloc.h"

/*
 * Files (MODEL.md B7): vocab.json, merges.txt and added_tokens.json are required; a missing one is
 * an error naming it. tokenizer_config.json is optional: without it no added token is marked
 * special from the file, and the well-known specials below still are. A merge whose symbols or
 * result are not in vocab.json is an error with its line number (the Hugging Face builder refuses
 * them too).
 *
 * Encoding works on raw bytes: every vocabulary string is mapped back through the inverse GPT-2
 * byte map once at load, and BPE runs on ids with an (id, id) -> (rank, merged id) table, so no
 * string is built or hashed per merge.
 */

/* Ids above this are refused so that a hostile file cannot make us allocate huge tables. */
#define TOKENIZER_MAX_ID (1 << 22)
/* Words up to this many bytes use the simple array BPE; longer ones use a heap (n log n). */
#define TOKENIZER_SMALL_WORD 64
/* Words up to this many bytes are remembered in the per-call cache. */
#define TOKENIZER_CACHE_WORD 256
#define TOKENIZER_NO_RANK INT32_MAX

/*
 * GPT-2's pre-tokenizer. PCRE2's \s counts U+180E (Mongolian vowel separator) as white space but
 * the reference's does not (Unicode 6.3 made it a format character), so here white space is
 * \s without U+180E, and U+180E goes with the other characters that are neither letters nor digits.
 */
static const char tokenizer_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?(?:[^\\s\\p{L}\\p{N}]|\\x{180E})+"
    "|(?:(?!\\x{180E})\\s)+(?!\\S|\\x{180E})|(?:(?!\\x{180E})\\s)+";

/* Treated as special whatever tokenizer_config.json says (MODEL.md B7). */
static const char *const tokenizer_special_names[] = {"<|endoftext|>", "</s>", "<image>"};
static const int32_t tokenizer_special_ids[] = {50295, 50296};

typedef struct {
    uint32_t off, len;
} tokenizer_span;

typedef struct {
    uint64_t key; /* left id << 32 | right id; UINT64_MAX when empty */
    int32_t rank;
    int32_t merged;
} tokenizer_merge;

typedef struct {
    int32_t child, sibling, id;
    unsigned char byte;
} tokenizer_node;

struct tokenizer {
    int size;
    char *arena;            /* bytes of every piece */
    tokenizer_span *pieces; /* size entries, raw bytes each id decodes to */
    unsigned char *special; /* size flags */
    int32_t byte_id[256];   /* id of each single byte, -1 when the vocabulary lacks it */
    tokenizer_merge *merges;
    size_t merge_mask;
    tokenizer_node *nodes; /* byte trie of the added tokens; node 0 is the root */
    int nnodes, capnodes;
    unsigned char first[256]; /* bytes an added token can start with */
    pcre2_code *re;
};

/* ------------------------------------------------------------------ small helpers */

static uint64_t
tokenizer_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

static size_t
tokenizer_pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* Length of the UTF-8 sequence a lead byte starts, 0 when it cannot start one. */
static int
tokenizer_utf8_need(unsigned b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* Whether b can follow the nheld bytes of a sequence started in held (Unicode table 3-7). */
static int
tokenizer_utf8_continues(const unsigned char *held, int nheld, unsigned b)
{
    unsigned lo = 0x80, hi = 0xBF;
    if (nheld == 1) {
        switch (held[0]) {
        case 0xE0:
            lo = 0xA0;
            break;
        case 0xED:
            hi = 0x9F;
            break;
        case 0xF0:
            lo = 0x90;
            break;
        case 0xF4:
            hi = 0x8F;
            break;
        default:
            break;
        }
    }
    return b >= lo && b <= hi;
}

/* Length of the well-formed UTF-8 character at p, 0 when the bytes there are not one. */
static int
tokenizer_utf8_valid(const unsigned char *p, size_t n)
{
    int need = tokenizer_utf8_need(p[0]);
    if (need == 0 || (size_t)need > n)
        return 0;
    for (int k = 1; k < need; k++)
        if (!tokenizer_utf8_continues(p, k, p[k]))
            return 0;
    return need;
}

/* Decode one code point of a string known to be valid UTF-8 (jansson guarantees it). */
static uint32_t
tokenizer_utf8_next(const unsigned char **pp, const unsigned char *end)
{
    const unsigned char *p = *pp;
    int need = tokenizer_utf8_valid(p, (size_t)(end - p));
    uint32_t cp;
    if (need <= 1) {
        *pp = p + 1;
        return need == 1 ? p[0] : 0xFFFFFFFFu;
    }
    cp = p[0] & (0x7F >> need);
    for (int k = 1; k < need; k++)
        cp = (cp << 6) | (p[k] & 0x3F);
    *pp = p + need;
    return cp;
}

/* GPT-2's byte map: printable bytes are themselves, the 68 others U+0100.. in order. */
static void
tokenizer_byte_map(uint32_t map[256])
{
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        map[b] = printable ? (uint32_t)b : next++;
    }
}

static size_t
tokenizer_utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

/* Read a whole file; NULL with *cause "PATH: reason" when it cannot be read. */
static char *
tokenizer_slurp(const char *path, size_t *len, char **cause)
{
    FILE *f = regfile_fopen(path, NULL, cause);
    size_t cap = 1 << 16, n = 0, got;
    char *buf;
    if (f == NULL)
        return NULL;
    buf = xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap + 1);
        }
    }
    if (ferror(f)) {
        log_cause(cause, "%s: %s", path, strerror(errno));
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Parse a JSON file that must hold an object; NULL with *cause naming the file and line. */
static json_t *
tokenizer_load_json(const char *path, char **cause)
{
    size_t len;
    json_error_t err;
    json_t *root;
    char *buf = tokenizer_slurp(path, &len, cause);
    if (buf == NULL)
        return NULL;
    root = json_loadb(buf, len, 0, &err);
    free(buf);
    if (root == NULL) {
        if (err.line > 0)
            log_cause(cause, "%s: line %d: JSON error: %s", path, err.line, err.text);
        else
            log_cause(cause, "%s: JSON error: %s", path, err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        log_cause(cause, "%s: expected a JSON object", path);
        return NULL;
    }
    return root;
}

/* ------------------------------------------------------------------ load-time vocabulary hash */

/* Maps the vocabulary's byte-mapped strings to ids while loading; keys point into the JSON. */
typedef struct {
    const char *key;
    size_t len;
    int32_t id;
} tokenizer_vslot;

typedef struct {
    tokenizer_vslot *slots;
    size_t mask;
} tokenizer_vhash;

static void
tokenizer_vhash_put(tokenizer_vhash *h, const char *key, size_t len, int32_t id)
{
    size_t i = tokenizer_hash_bytes(key, len) & h->mask;
    while (h->slots[i].key != NULL) {
        if (h->slots[i].len == len && memcmp(h->slots[i].key, key, len) == 0)
            return;
        i = (i + 1) & h->mask;
    }
    h->slots[i].key = key;
    h->slots[i].len = len;
    h->slots[i].id = id;
}

static int32_t
tokenizer_vhash_get(const tokenizer_vhash *h, const char *key, size_t len)
{
    size_t i = tokenizer_hash_bytes(key, len) & h->mask;
    while (h->slots[i].key != NULL) {
        if (h->slots[i].len == len && memcmp(h->slots[i].key, key, len) == 0)
            return h->slots[i].id;
        i = (i + 1) & h->mask;
    }
    return -1;
}

/* ------------------------------------------------------------------ merges */

static uint64_t
tokenizer_merge_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

static size_t
tokenizer_merge_slot(uint64_t key, size_t mask)
{
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 32) & mask;
}

/* Rank and result of merging ids a and b; TOKENIZER_NO_RANK when no merge applies. */
static int32_t
tokenizer_merge_find(const tokenizer *t, int32_t a, int32_t b, int32_t *merged)
{
    uint64_t key;
    size_t i;
    if (a < 0 || b < 0)
        return TOKENIZER_NO_RANK;
    key = tokenizer_merge_key(a, b);
    i = tokenizer_merge_slot(key, t->merge_mask);
    for (;;) {
        const tokenizer_merge *m = &t->merges[i];
        if (m->key == key) {
            *merged = m->merged;
            return m->rank;
        }
        if (m->key == UINT64_MAX)
            return TOKENIZER_NO_RANK;
        i = (i + 1) & t->merge_mask;
    }
}

/* Parse merges.txt: optional "#version" line, then "A B" per line, rank = order. */
static int
tokenizer_load_merges(tokenizer *t, const char *path, const tokenizer_vhash *vocab, char **cause)
{
    size_t len, nlines = 0, rank = 0;
    char *buf = tokenizer_slurp(path, &len, cause);
    char *p, *end, *joined = NULL;
    size_t joined_cap = 0;
    int line = 0, rc = -1;
    if (buf == NULL)
        return -1;
    end = buf + len;
    for (p = buf; p < end; p++)
        nlines += *p == '\n';
    t->merge_mask = tokenizer_pow2_at_least(2 * (nlines + 1)) - 1;
    t->merges = xmalloc((t->merge_mask + 1) * sizeof *t->merges);
    for (size_t i = 0; i <= t->merge_mask; i++)
        t->merges[i].key = UINT64_MAX;

    for (p = buf; p < end;) {
        char *eol = memchr(p, '\n', (size_t)(end - p)), *sp;
        size_t n, la, lb;
        int32_t a, b, ab;
        if (eol == NULL)
            eol = end;
        line++;
        n = (size_t)(eol - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (n == 0 || (n >= 8 && memcmp(p, "#version", 8) == 0)) {
            p = eol + 1;
            continue;
        }
        sp = memchr(p, ' ', n);
        if (sp == NULL || sp == p || sp == p + n - 1 ||
            memchr(sp + 1, ' ', n - (size_t)(sp - p) - 1)) {
            log_cause(cause, "%s: line %d: expected two symbols", path, line);
            goto out;
        }
        la = (size_t)(sp - p);
        lb = n - la - 1;
        a = tokenizer_vhash_get(vocab, p, la);
        b = tokenizer_vhash_get(vocab, sp + 1, lb);
        if (a < 0 || b < 0) {
            const char *sym = a < 0 ? p : sp + 1;
            log_cause(cause, "%s: line %d: symbol \"%.*s\" is not in vocab.json", path, line,
                      (int)(a < 0 ? la : lb), sym);
            goto out;
        }
        if (la + lb > joined_cap) {
            joined_cap = 2 * (la + lb);
            joined = xrealloc(joined, joined_cap);
        }
        memcpy(joined, p, la);
        memcpy(joined + la, sp + 1, lb);
        ab = tokenizer_vhash_get(vocab, joined, la + lb);
        if (ab < 0) {
            log_cause(cause, "%s: line %d: merged symbol \"%.*s\" is not in vocab.json", path, line,
                      (int)(la + lb), joined);
            goto out;
        }
        {
            /* A repeated merge keeps its first (lowest) rank. */
            uint64_t key = tokenizer_merge_key(a, b);
            size_t i = tokenizer_merge_slot(key, t->merge_mask);
            while (t->merges[i].key != UINT64_MAX && t->merges[i].key != key)
                i = (i + 1) & t->merge_mask;
            if (t->merges[i].key == UINT64_MAX) {
                t->merges[i].key = key;
                t->merges[i].rank = (int32_t)rank;
                t->merges[i].merged = ab;
            }
        }
        rank++;
        p = eol + 1;
    }
    rc = 0;
out:
    free(joined);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ added tokens */

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special;
} tokenizer_added;

typedef struct {
    tokenizer_added *v;
    size_t n, cap;
} tokenizer_added_list;

/* Record an added token; an id already listed must keep the same content. */
static int
tokenizer_added_put(tokenizer_added_list *l, const char *content, size_t len, int32_t id,
                    int special, const char *path, char **cause)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].id != id)
            continue;
        if (l->v[i].len != len || memcmp(l->v[i].content, content, len) != 0)
            return log_cause(cause,
                             "%s: id %d has content \"%s\", but added_tokens.json says \"%s\"",
                             path, (int)id, content, l->v[i].content);
        l->v[i].special |= special;
        return 0;
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->v = xreallocarray(l->v, l->cap, sizeof *l->v);
    }
    l->v[l->n].content = xstrndup(content, len);
    l->v[l->n].len = len;
    l->v[l->n].id = id;
    l->v[l->n].special = special;
    l->n++;
    return 0;
}

static void
tokenizer_added_clear(tokenizer_added_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].content);
    free(l->v);
}

/* added_tokens.json: {"content": id, ...}. */
static int
tokenizer_load_added(tokenizer_added_list *l, const char *path, char **cause)
{
    json_t *root = tokenizer_load_json(path, cause), *val;
    const char *key;
    int rc = 0;
    if (root == NULL)
        return -1;
    json_object_foreach(root, key, val) {
        json_int_t id;
        if (!json_is_integer(val)) {
            rc = log_cause(cause, "%s: \"%s\": value is not an integer", path, key);
            break;
        }
        id = json_integer_value(val);
        if (id < 0 || id >= TOKENIZER_MAX_ID) {
            rc = log_cause(cause, "%s: \"%s\": id %lld out of range", path, key, (long long)id);
            break;
        }
        if (*key == '\0')
            continue;
        if (tokenizer_added_put(l, key, strlen(key), (int32_t)id, 0, path, cause) < 0) {
            rc = -1;
            break;
        }
    }
    json_decref(root);
    return rc;
}

/* tokenizer_config.json: "added_tokens_decoder": {"id": {"content": ..., "special": bool}}. */
static int
tokenizer_load_config(tokenizer_added_list *l, const char *path, char **cause)
{
    json_t *root, *dec, *val;
    const char *key;
    int rc = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    root = tokenizer_load_json(path, cause);
    if (root == NULL)
        return -1;
    dec = json_object_get(root, "added_tokens_decoder");
    if (dec != NULL && !json_is_object(dec)) {
        json_decref(root);
        return log_cause(cause, "%s: added_tokens_decoder: expected an object", path);
    }
    if (dec != NULL) {
        json_object_foreach(dec, key, val) {
            char *endp;
            long id = strtol(key, &endp, 10);
            json_t *content = json_object_get(val, "content");
            json_t *special = json_object_get(val, "special");
            if (endp == key || *endp != '\0' || id < 0 || id >= TOKENIZER_MAX_ID) {
                rc = log_cause(cause, "%s: added_tokens_decoder: key \"%s\" is not a token id",
                               path, key);
                break;
            }
            if (!json_is_string(content)) {
                rc = log_cause(cause, "%s: added_tokens_decoder: \"%s\": content is not a string",
                               path, key);
                break;
            }
            if (json_string_length(content) == 0)
                continue;
            if (tokenizer_added_put(l, json_string_value(content), json_string_length(content),
                                    (int32_t)id, json_is_true(special), path, cause) < 0) {
                rc = -1;
                break;
            }
        }
    }
    json_decref(root);
    return rc;
}

/* Add content to the byte trie of added tokens; a repeated content keeps its first id. */
static void
tokenizer_trie_add(tokenizer *t, const unsigned char *s, size_t len, int32_t id)
{
    int32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != s[i])
            c = t->nodes[c].sibling;
        if (c < 0) {
            if (t->nnodes == t->capnodes) {
                t->capnodes *= 2;
                t->nodes = xreallocarray(t->nodes, (size_t)t->capnodes, sizeof *t->nodes);
            }
            c = t->nnodes++;
            t->nodes[c].child = -1;
            t->nodes[c].id = -1;
            t->nodes[c].byte = s[i];
            t->nodes[c].sibling = t->nodes[node].child;
            t->nodes[node].child = c;
        }
        node = c;
    }
    if (t->nodes[node].id < 0)
        t->nodes[node].id = id;
}

/* Longest added token starting at s; returns its length (0 when none) and sets *id. */
static size_t
tokenizer_trie_match(const tokenizer *t, const unsigned char *s, size_t n, int32_t *id)
{
    int32_t node = 0;
    size_t best = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = t->nodes[node].child;
        while (c >= 0 && t->nodes[c].byte != s[i])
            c = t->nodes[c].sibling;
        if (c < 0)
            break;
        node = c;
        if (t->nodes[node].id >= 0) {
            best = i + 1;
            *id = t->nodes[node].id;
        }
    }
    return best;
}

/* ------------------------------------------------------------------ construction */

static char *
tokenizer_path(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s", (int)n, dir, name);
}

/* Append bytes to the piece arena and point piece id at them. */
static void
tokenizer_set_piece(tokenizer *t, size_t *arena_len, size_t *arena_cap, int32_t id, const void *s,
                    size_t len)
{
    if (*arena_len + len > *arena_cap) {
        while (*arena_len + len > *arena_cap)
            *arena_cap *= 2;
        t->arena = xrealloc(t->arena, *arena_cap);
    }
    if (len > 0)
        memcpy(t->arena + *arena_len, s, len);
    t->pieces[id].off = (uint32_t)*arena_len;
    t->pieces[id].len = (uint32_t)len;
    *arena_len += len;
}

tokenizer *
tokenizer_new(const char *dir, char **cause)
{
    char *vocab_path = tokenizer_path(dir, "vocab.json");
    char *merges_path = tokenizer_path(dir, "merges.txt");
    char *added_path = tokenizer_path(dir, "added_tokens.json");
    char *config_path = tokenizer_path(dir, "tokenizer_config.json");
    tokenizer *t = xcalloc(1, sizeof *t);
    tokenizer_added_list added = {0};
    tokenizer_vhash vh = {0};
    json_t *vocab = NULL, *val;
    const char *key;
    uint32_t map[256], inverse[512];
    unsigned char *raw = NULL;
    size_t raw_cap = 0;
    int32_t max_id = -1;
    size_t arena_len = 0, arena_cap = 1 << 16;
    int ok = 0, errcode;
    PCRE2_SIZE erroff;

    vocab = tokenizer_load_json(vocab_path, cause);
    if (vocab == NULL)
        goto out;
    json_object_foreach(vocab, key, val) {
        json_int_t id;
        if (!json_is_integer(val)) {
            log_cause(cause, "%s: \"%s\": value is not an integer", vocab_path, key);
            goto out;
        }
        id = json_integer_value(val);
        if (id < 0 || id >= TOKENIZER_MAX_ID) {
            log_cause(cause, "%s: \"%s\": id %lld out of range", vocab_path, key, (long long)id);
            goto out;
        }
        if (id > max_id)
            max_id = (int32_t)id;
    }
    if (tokenizer_load_added(&added, added_path, cause) < 0 ||
        tokenizer_load_config(&added, config_path, cause) < 0)
        goto out;
    for (size_t i = 0; i < added.n; i++)
        if (added.v[i].id > max_id)
            max_id = added.v[i].id;

    t->size = max_id + 1;
    t->pieces = xcalloc((size_t)t->size + 1, sizeof *t->pieces);
    t->special = xcalloc((size_t)t->size + 1, 1);
    t->arena = xmalloc(arena_cap);

    /* Vocabulary strings become raw bytes through the inverse byte map. */
    tokenizer_byte_map(map);
    for (int i = 0; i < 512; i++)
        inverse[i] = UINT32_MAX;
    for (int b = 0; b < 256; b++)
        inverse[map[b]] = (uint32_t)b;
    vh.mask = tokenizer_pow2_at_least(2 * json_object_size(vocab) + 2) - 1;
    vh.slots = xcalloc(vh.mask + 1, sizeof *vh.slots);
    json_object_foreach(vocab, key, val) {
        int32_t id = (int32_t)json_integer_value(val);
        size_t klen = strlen(key), n = 0;
        const unsigned char *p = (const unsigned char *)key, *end = p + klen;
        if (klen > raw_cap) {
            raw_cap = 2 * klen;
            raw = xrealloc(raw, raw_cap);
        }
        if (t->pieces[id].len != 0) {
            log_cause(cause, "%s: \"%s\": id %d is used twice", vocab_path, key, (int)id);
            goto out;
        }
        tokenizer_vhash_put(&vh, key, klen, id);
        while (p < end) {
            uint32_t cp = tokenizer_utf8_next(&p, end);
            if (cp >= 512 || inverse[cp] == UINT32_MAX)
                break;
            raw[n++] = (unsigned char)inverse[cp];
        }
        /* A string with characters outside the byte map decodes to itself, as in tokenizers. */
        if (p < end)
            tokenizer_set_piece(t, &arena_len, &arena_cap, id, key, klen);
        else
            tokenizer_set_piece(t, &arena_len, &arena_cap, id, raw, n);
    }
    for (int b = 0; b < 256; b++) {
        char s[4];
        size_t n = tokenizer_utf8_put(s, map[b]);
        t->byte_id[b] = tokenizer_vhash_get(&vh, s, n);
    }

    /* The well-known specials are added tokens even when no file lists them. */
    for (size_t k = 0; k < sizeof tokenizer_special_names / sizeof *tokenizer_special_names; k++) {
        const char *name = tokenizer_special_names[k];
        int32_t id = tokenizer_vhash_get(&vh, name, strlen(name));
        int listed = 0;
        for (size_t i = 0; i < added.n; i++)
            listed |= strcmp(added.v[i].content, name) == 0 || added.v[i].id == id;
        if (id >= 0 && !listed)
            tokenizer_added_put(&added, name, strlen(name), id, 1, vocab_path, cause);
    }

    /* Added tokens decode to their literal content. */
    t->capnodes = 64;
    t->nodes = xmalloc((size_t)t->capnodes * sizeof *t->nodes);
    t->nodes[0].child = t->nodes[0].sibling = t->nodes[0].id = -1;
    t->nodes[0].byte = 0;
    t->nnodes = 1;
    for (size_t i = 0; i < added.n; i++) {
        tokenizer_added *a = &added.v[i];
        tokenizer_set_piece(t, &arena_len, &arena_cap, a->id, a->content, a->len);
        t->special[a->id] |= (unsigned char)a->special;
        for (size_t k = 0; k < sizeof tokenizer_special_names / sizeof *tokenizer_special_names;
             k++)
            if (strcmp(a->content, tokenizer_special_names[k]) == 0)
                t->special[a->id] = 1;
        tokenizer_trie_add(t, (const unsigned char *)a->content, a->len, a->id);
        t->first[(unsigned char)a->content[0]] = 1;
    }
    for (size_t k = 0; k < sizeof tokenizer_special_ids / sizeof *tokenizer_special_ids; k++)
        if (tokenizer_special_ids[k] < t->size)
            t->special[tokenizer_special_ids[k]] = 1;

    if (tokenizer_load_merges(t, merges_path, &vh, cause) < 0)
        goto out;

    t->re = pcre2_compile((PCRE2_SPTR)tokenizer_regex, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                          &errcode, &erroff, NULL);
    if (t->re == NULL) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(errcode, msg, sizeof msg);
        log_cause(cause, "pre-tokenizer regex: %s at offset %zu", (const char *)msg,
                  (size_t)erroff);
        goto out;
    }
    /* Without JIT the interpreter gives the same matches, only slower. */
    (void)pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE);
    ok = 1;
out:
    free(raw);
    free(vh.slots);
    json_decref(vocab);
    tokenizer_added_clear(&added);
    free(vocab_path);
    free(merges_path);
    free(added_path);
    free(config_path);
    if (!ok) {
        tokenizer_free(t);
        return NULL;
    }
    return t;
}

void
tokenizer_free(tokenizer *t)
{
    if (t == NULL)
        return;
    if (t->re != NULL)
        pcre2_code_free(t->re);
    free(t->arena);
    free(t->pieces);
    free(t->special);
    free(t->merges);
    free(t->nodes);
    free(t);
}

int
tokenizer_size(const tokenizer *t)
{
    return t->size;
}

int
tokenizer_is_special(const tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->size && t->special[id];
}

const char *
tokenizer_piece_borrow(const tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->size || t->special[id]) {
        if (len != NULL)
            *len = 0;
        return "";
    }
    if (len != NULL)
        *len = t->pieces[id].len;
    return t->arena != NULL && t->pieces[id].len > 0 ? t->arena + t->pieces[id].off : "";
}

/* ------------------------------------------------------------------ encoding */

typedef struct {
    int32_t *v;
    size_t n, cap;
} tokenizer_ids;

static void
tokenizer_ids_push(tokenizer_ids *ids, int32_t id)
{
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? 2 * ids->cap : 256;
        ids->v = xreallocarray(ids->v, ids->cap, sizeof *ids->v);
    }
    ids->v[ids->n++] = id;
}

/* Lowest rank first, then leftmost, as the Hugging Face BPE does. */
typedef struct {
    int32_t rank, pos, left, right, merged;
} tokenizer_cand;

static int
tokenizer_cand_less(const tokenizer_cand *a, const tokenizer_cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void
tokenizer_heap_push(tokenizer_cand *heap, size_t *n, tokenizer_cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!tokenizer_cand_less(&c, &heap[parent]))
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = c;
}

static tokenizer_cand
tokenizer_heap_pop(tokenizer_cand *heap, size_t *n)
{
    tokenizer_cand top = heap[0], last = heap[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && tokenizer_cand_less(&heap[c + 1], &heap[c]))
            c++;
        if (!tokenizer_cand_less(&heap[c], &last))
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (*n > 0)
        heap[i] = last;
    return top;
}

/* BPE for long words: linked symbols and a heap of candidate merges, O(n log n). */
static void
tokenizer_bpe_long(const tokenizer *t, const unsigned char *w, size_t n, tokenizer_ids *out)
{
    int32_t *id = xmalloc(n * sizeof *id), *next = xmalloc(n * sizeof *next);
    int32_t *prev = xmalloc(n * sizeof *prev);
    /* Each merge pushes at most two candidates, on top of the n - 1 initial ones. */
    tokenizer_cand *heap = xmalloc(3 * n * sizeof *heap);
    size_t nheap = 0;
    tokenizer_cand c;
    for (size_t i = 0; i < n; i++) {
        id[i] = t->byte_id[w[i]];
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        prev[i] = (int32_t)i - 1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        c.rank = tokenizer_merge_find(t, id[i], id[i + 1], &c.merged);
        if (c.rank != TOKENIZER_NO_RANK) {
            c.pos = (int32_t)i;
            c.left = id[i];
            c.right = id[i + 1];
            tokenizer_heap_push(heap, &nheap, c);
        }
    }
    while (nheap > 0) {
        int32_t p, r;
        c = tokenizer_heap_pop(heap, &nheap);
        p = c.pos;
        r = next[p];
        /* Stale: p was absorbed (id -1) or one side changed since the candidate was made. */
        if (id[p] != c.left || r < 0 || id[r] != c.right)
            continue;
        id[p] = c.merged;
        id[r] = -1;
        next[p] = next[r];
        if (next[r] >= 0)
            prev[next[r]] = p;
        if (prev[p] >= 0) {
            tokenizer_cand d;
            d.rank = tokenizer_merge_find(t, id[prev[p]], id[p], &d.merged);
            if (d.rank != TOKENIZER_NO_RANK) {
                d.pos = prev[p];
                d.left = id[prev[p]];
                d.right = id[p];
                tokenizer_heap_push(heap, &nheap, d);
            }
        }
        if (next[p] >= 0) {
            tokenizer_cand d;
            d.rank = tokenizer_merge_find(t, id[p], id[next[p]], &d.merged);
            if (d.rank != TOKENIZER_NO_RANK) {
                d.pos = p;
                d.left = id[p];
                d.right = id[next[p]];
                tokenizer_heap_push(heap, &nheap, d);
            }
        }
    }
    for (int32_t i = 0; i >= 0; i = next[i])
        if (id[i] >= 0)
            tokenizer_ids_push(out, id[i]);
    free(id);
    free(next);
    free(prev);
    free(heap);
}

/* BPE of one pre-token (raw bytes), appending its ids. */
static void
tokenizer_bpe(const tokenizer *t, const unsigned char *w, size_t n, tokenizer_ids *out)
{
    int32_t sym[TOKENIZER_SMALL_WORD], rank[TOKENIZER_SMALL_WORD], merged[TOKENIZER_SMALL_WORD];
    size_t m = n;
    if (n > TOKENIZER_SMALL_WORD) {
        tokenizer_bpe_long(t, w, n, out);
        return;
    }
    /* Short words: a rank per adjacent pair, rescanned per merge; only neighbours are looked up. */
    for (size_t i = 0; i < n; i++)
        sym[i] = t->byte_id[w[i]];
    for (size_t i = 0; i + 1 < n; i++)
        rank[i] = tokenizer_merge_find(t, sym[i], sym[i + 1], &merged[i]);
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best])
                best = i;
        if (rank[best] == TOKENIZER_NO_RANK)
            break;
        sym[best] = merged[best];
        m--;
        memmove(sym + best + 1, sym + best + 2, (m - best - 1) * sizeof *sym);
        if (best + 1 < m) {
            memmove(rank + best + 1, rank + best + 2, (m - best - 2) * sizeof *rank);
            memmove(merged + best + 1, merged + best + 2, (m - best - 2) * sizeof *merged);
            rank[best] = tokenizer_merge_find(t, sym[best], sym[best + 1], &merged[best]);
        }
        if (best > 0)
            rank[best - 1] = tokenizer_merge_find(t, sym[best - 1], sym[best], &merged[best - 1]);
    }
    for (size_t i = 0; i < m; i++)
        if (sym[i] >= 0)
            tokenizer_ids_push(out, sym[i]);
}

/* Word -> ids cache for one encode call, so repeated pre-tokens skip BPE (and stay thread-safe). */
typedef struct {
    uint64_t hash;
    uint32_t key_off, key_len, ids_off, nids; /* key_len 0: empty slot */
} tokenizer_cslot;

typedef struct {
    tokenizer_cslot *slots;
    size_t mask, count;
    char *bytes; /* the words, back to back */
    size_t nbytes, capbytes;
    tokenizer_ids ids;
} tokenizer_cache;

static void
tokenizer_cache_grow(tokenizer_cache *c)
{
    size_t mask = c->mask ? 2 * c->mask + 1 : 1023;
    tokenizer_cslot *slots = xcalloc(mask + 1, sizeof *slots);
    for (size_t i = 0; c->slots != NULL && i <= c->mask; i++) {
        size_t j;
        if (c->slots[i].key_len == 0)
            continue;
        j = (size_t)c->slots[i].hash & mask;
        while (slots[j].key_len != 0)
            j = (j + 1) & mask;
        slots[j] = c->slots[i];
    }
    free(c->slots);
    c->slots = slots;
    c->mask = mask;
}

static void
tokenizer_word(const tokenizer *t, const unsigned char *w, size_t n, tokenizer_cache *c,
               tokenizer_ids *out)
{
    uint64_t h;
    size_t i, start;
    if (n == 1) {
        if (t->byte_id[w[0]] >= 0)
            tokenizer_ids_push(out, t->byte_id[w[0]]);
        return;
    }
    if (n > TOKENIZER_CACHE_WORD) {
        tokenizer_bpe(t, w, n, out);
        return;
    }
    if (2 * (c->count + 1) > c->mask)
        tokenizer_cache_grow(c);
    h = tokenizer_hash_bytes(w, n);
    for (i = (size_t)h & c->mask; c->slots[i].key_len != 0; i = (i + 1) & c->mask) {
        const tokenizer_cslot *s = &c->slots[i];
        if (s->hash == h && s->key_len == n && memcmp(c->bytes + s->key_off, w, n) == 0) {
            for (uint32_t k = 0; k < s->nids; k++)
                tokenizer_ids_push(out, c->ids.v[s->ids_off + k]);
            return;
        }
    }
    start = c->ids.n;
    tokenizer_bpe(t, w, n, &c->ids);
    for (size_t k = start; k < c->ids.n; k++)
        tokenizer_ids_push(out, c->ids.v[k]);
    if (c->nbytes + n > c->capbytes) {
        c->capbytes = 2 * (c->nbytes + n);
        c->bytes = xrealloc(c->bytes, c->capbytes);
    }
    memcpy(c->bytes + c->nbytes, w, n);
    c->slots[i].hash = h;
    c->slots[i].key_off = (uint32_t)c->nbytes;
    c->slots[i].key_len = (uint32_t)n;
    c->slots[i].ids_off = (uint32_t)start;
    c->slots[i].nids = (uint32_t)(c->ids.n - start);
    c->nbytes += n;
    c->count++;
}

/* Pre-tokenize a run of well-formed UTF-8 with the GPT-2 regex and BPE each piece. */
static void
tokenizer_encode_run(const tokenizer *t, const unsigned char *s, size_t n, pcre2_match_data *md,
                     tokenizer_cache *c, tokenizer_ids *out)
{
    size_t off = 0;
    while (off < n) {
        int rc = md != NULL ? pcre2_match(t->re, s, n, off, PCRE2_NO_UTF_CHECK, md, NULL) : -1;
        PCRE2_SIZE *ov;
        if (rc < 0) {
            /* Cannot happen for valid UTF-8 (the regex covers every character) short of a
             * resource limit; keep the text rather than lose it. */
            tokenizer_word(t, s + off, n - off, c, out);
            return;
        }
        ov = pcre2_get_ovector_pointer(md);
        if (ov[0] > off)
            tokenizer_word(t, s + off, ov[0] - off, c, out);
        if (ov[1] <= ov[0] || ov[1] > n) {
            tokenizer_word(t, s + ov[0], n - ov[0], c, out);
            return;
        }
        tokenizer_word(t, s + ov[0], ov[1] - ov[0], c, out);
        off = ov[1];
    }
}

/* Text between added tokens: well-formed runs go through the regex, other bytes one by one. */
static void
tokenizer_encode_segment(const tokenizer *t, const unsigned char *s, size_t n, pcre2_match_data *md,
                         tokenizer_cache *c, tokenizer_ids *out)
{
    size_t i = 0, run = 0;
    while (i < n) {
        int k;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        k = tokenizer_utf8_valid(s + i, n - i);
        if (k > 0) {
            i += (size_t)k;
            continue;
        }
        if (i > run)
            tokenizer_encode_run(t, s + run, i - run, md, c, out);
        tokenizer_word(t, s + i, 1, c, out);
        run = ++i;
    }
    if (n > run)
        tokenizer_encode_run(t, s + run, n - run, md, c, out);
}

void
tokenizer_encode(const tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n)
{
    const unsigned char *s = (const unsigned char *)text;
    tokenizer_ids out = {0};
    tokenizer_cache cache = {0};
    pcre2_match_data *md;
    size_t seg = 0;
    if (len == 0 || text == NULL)
        return;
    md = pcre2_match_data_create_from_pattern(t->re, NULL);
    tokenizer_cache_grow(&cache);
    /* Added tokens first: leftmost, then longest; the text between is encoded on its own. */
    for (size_t i = 0; i < len;) {
        int32_t id = -1;
        size_t m = t->first[s[i]] ? tokenizer_trie_match(t, s + i, len - i, &id) : 0;
        if (m == 0) {
            i++;
            continue;
        }
        if (i > seg)
            tokenizer_encode_segment(t, s + seg, i - seg, md, &cache, &out);
        tokenizer_ids_push(&out, id);
        i += m;
        seg = i;
    }
    if (len > seg)
        tokenizer_encode_segment(t, s + seg, len - seg, md, &cache, &out);
    if (out.n > 0) {
        *ids = xreallocarray(*ids, *n + out.n, sizeof **ids);
        memcpy(*ids + *n, out.v, out.n * sizeof *out.v);
        *n += out.n;
    }
    if (md != NULL)
        pcre2_match_data_free(md);
    free(out.v);
    free(cache.slots);
    free(cache.bytes);
    free(cache.ids.v);
}

/* ------------------------------------------------------------------ decoding */

/* Output with a hard capacity: a unit that does not fit is dropped whole, never split. */
typedef struct {
    char *p;
    size_t n, cap;
} tokenizer_sink;

static void
tokenizer_sink_put(tokenizer_sink *k, const void *s, size_t len)
{
    if (k->cap - k->n < len)
        return;
    memcpy(k->p + k->n, s, len);
    k->n += len;
}

static const char tokenizer_fffd[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Feed bytes through the stream's UTF-8 state: one U+FFFD per maximal ill-formed subpart. */
static void
tokenizer_utf8_feed(tokenizer_stream *s, const unsigned char *p, size_t len, tokenizer_sink *k)
{
    if (s->nheld < 0 || s->nheld > 3)
        s->nheld = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned b = p[i];
        int need;
        if (s->nheld > 0) {
            if (tokenizer_utf8_continues(s->held, s->nheld, b)) {
                s->held[s->nheld++] = (unsigned char)b;
                if (s->nheld == tokenizer_utf8_need(s->held[0])) {
                    tokenizer_sink_put(k, s->held, (size_t)s->nheld);
                    s->nheld = 0;
                }
                continue;
            }
            /* The held prefix can never complete: replace it and look at b afresh. */
            tokenizer_sink_put(k, tokenizer_fffd, 3);
            s->nheld = 0;
        }
        if (b < 0x80) {
            size_t j = i + 1;
            while (j < len && p[j] < 0x80)
                j++;
            tokenizer_sink_put(k, p + i, j - i);
            i = j - 1;
            continue;
        }
        need = tokenizer_utf8_need(b);
        if (need > 1) {
            s->held[0] = (unsigned char)b;
            s->nheld = 1;
        } else {
            tokenizer_sink_put(k, tokenizer_fffd, 3);
        }
    }
}

char *
tokenizer_decode_new(const tokenizer *t, const int32_t *ids, size_t n)
{
    return tokenizer_decode_len_new(t, ids, n, NULL);
}

char *
tokenizer_decode_len_new(const tokenizer *t, const int32_t *ids, size_t n, size_t *len_out)
{
    size_t total = 0;
    tokenizer_stream s;
    tokenizer_sink k;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        tokenizer_piece_borrow(t, ids[i], &len);
        total += len;
    }
    /* Each byte yields at most 3 bytes of output (U+FFFD), plus a final held sequence. */
    k.cap = 3 * total + 4;
    k.p = xmalloc(k.cap + 1);
    k.n = 0;
    tokenizer_stream_init(&s);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *piece = tokenizer_piece_borrow(t, ids[i], &len);
        tokenizer_utf8_feed(&s, (const unsigned char *)piece, len, &k);
    }
    if (s.nheld > 0)
        tokenizer_sink_put(&k, tokenizer_fffd, 3);
    k.p[k.n] = '\0';
    if (len_out != NULL)
        *len_out = k.n;
    return k.p;
}

void
tokenizer_stream_init(tokenizer_stream *s)
{
    memset(s, 0, sizeof *s);
}

size_t
tokenizer_stream_push(tokenizer_stream *s, const tokenizer *t, int32_t id, char *out, size_t cap)
{
    size_t len;
    const char *piece = tokenizer_piece_borrow(t, id, &len);
    tokenizer_sink k = {out, 0, cap > 0 ? cap - 1 : 0};
    if (cap == 0)
        return 0;
    tokenizer_utf8_feed(s, (const unsigned char *)piece, len, &k);
    out[k.n] = '\0';
    return k.n;
}

size_t
tokenizer_stream_flush(tokenizer_stream *s, char *out, size_t cap)
{
    tokenizer_sink k = {out, 0, cap > 0 ? cap - 1 : 0};
    if (cap == 0)
        return 0;
    if (s->nheld > 0)
        tokenizer_sink_put(&k, tokenizer_fffd, 3);
    s->nheld = 0;
    out[k.n] = '\0';
    return k.n;
}
