#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "testutil.h"
#include "tokenizer.h"

static const char *const test_tokenizer_files[] = {
    "vocab.json",
    "merges.txt",
    "added_tokens.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
};

/* Whether s[0..n) is well-formed UTF-8, checked independently of the tokenizer. */
static int
test_utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp, min;
        int k;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xE0) == 0xC0) {
            k = 1, cp = s[i] & 0x1F, min = 0x80;
        } else if ((s[i] & 0xF0) == 0xE0) {
            k = 2, cp = s[i] & 0x0F, min = 0x800;
        } else if ((s[i] & 0xF8) == 0xF0) {
            k = 3, cp = s[i] & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (i + (size_t)k >= n)
            return 0;
        for (int j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += (size_t)k + 1;
    }
    return 1;
}

/* Concatenated raw pieces of ids (specials contribute nothing). */
static char *
test_concat_pieces(const tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t total = 0, at = 0;
    char *buf;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        tokenizer_piece_borrow(t, ids[i], &l);
        total += l;
    }
    buf = malloc(total + 1);
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = tokenizer_piece_borrow(t, ids[i], &l);
        memcpy(buf + at, p, l);
        at += l;
    }
    buf[at] = '\0';
    *len = at;
    return buf;
}

static size_t
test_first_diff(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

static void
test_expected_cases(const tokenizer *t)
{
    json_error_t err;
    json_t *root = json_load_file(testutil_fixture_path("expected/expected.json"), 0, &err);
    json_t *cases = root != NULL ? json_object_get(root, "tokenize") : NULL;
    size_t idx;
    json_t *c;
    if (!CHECK(json_is_array(cases), "expected.json: no tokenize array (%s)", err.text)) {
        json_decref(root);
        return;
    }
    CHECK(json_array_size(cases) >= 10, "expected.json: only %zu tokenize cases",
          json_array_size(cases));
    json_array_foreach(cases, idx, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t text_len = json_string_length(json_object_get(c, "text"));
        const char *want_text = json_string_value(json_object_get(c, "decoded"));
        size_t want_len = json_string_length(json_object_get(c, "decoded"));
        json_t *want = json_object_get(c, "ids");
        int32_t *ids = NULL;
        size_t n = 0, diff;
        char *got;
        if (!CHECK(text != NULL && want_text != NULL && json_is_array(want),
                   "tokenize case %zu is malformed", idx))
            continue;
        tokenizer_encode(t, text, text_len, &ids, &n);
        for (diff = 0; diff < n && diff < json_array_size(want); diff++)
            if (ids[diff] != json_integer_value(json_array_get(want, diff)))
                break;
        if (!CHECK(n == json_array_size(want) && diff == n,
                   "case %zu: ids differ at index %zu (got %zu ids, want %zu)", idx, diff, n,
                   json_array_size(want))) {
            if (diff < n && diff < json_array_size(want))
                fprintf(stderr, "  got %d want %lld\n", (int)ids[diff],
                        (long long)json_integer_value(json_array_get(want, diff)));
        }
        /* Decode the expected ids so a decode check does not depend on encode being right. */
        for (size_t i = 0; i < json_array_size(want); i++) {
            if (i >= n)
                ids = realloc(ids, (i + 1) * sizeof *ids);
            ids[i] = (int32_t)json_integer_value(json_array_get(want, i));
        }
        got = tokenizer_decode_new(t, ids, json_array_size(want));
        diff = test_first_diff(got, strlen(got), want_text, want_len);
        CHECK(strlen(got) == want_len && diff == want_len,
              "case %zu: decoded text differs at byte %zu: \"%s\" vs \"%s\"", idx, diff, got,
              want_text);
        free(got);
        free(ids);
    }
    json_decref(root);
}

/* Push ids one at a time; the chunks must be whole UTF-8 and add up to the decoded text. */
static void
test_stream_text(const tokenizer *t, const char *text)
{
    int32_t *ids = NULL;
    size_t n = 0, at = 0;
    char chunk[256], *all = malloc(4 * strlen(text) + 16), *want;
    tokenizer_stream s;
    int whole = 1;
    tokenizer_encode(t, text, strlen(text), &ids, &n);
    want = tokenizer_decode_new(t, ids, n);
    tokenizer_stream_init(&s);
    for (size_t i = 0; i < n; i++) {
        size_t len = tokenizer_stream_push(&s, t, ids[i], chunk, sizeof chunk);
        whole &= test_utf8_ok((const unsigned char *)chunk, len) && chunk[len] == '\0';
        memcpy(all + at, chunk, len);
        at += len;
    }
    at += tokenizer_stream_flush(&s, all + at, 16);
    all[at] = '\0';
    CHECK(whole, "stream of \"%s\": a chunk ends inside a UTF-8 sequence", text);
    CHECK(strcmp(all, want) == 0 && strcmp(all, text) == 0, "stream of \"%s\" gave \"%s\"", text,
          all);
    free(want);
    free(all);
    free(ids);
}

/* The id of one raw byte (encoding a lone ill-formed byte yields exactly it). */
static int32_t
test_byte_id(const tokenizer *t, unsigned char b)
{
    int32_t *ids = NULL, id = -1;
    size_t n = 0;
    tokenizer_encode(t, (const char *)&b, 1, &ids, &n);
    if (n == 1)
        id = ids[0];
    free(ids);
    return id;
}

static void
test_stream(const tokenizer *t)
{
    char out[256];
    tokenizer_stream s;
    int32_t e6 = test_byte_id(t, 0xE6), b97 = test_byte_id(t, 0x97), a = test_byte_id(t, 'a');
    int32_t f0 = test_byte_id(t, 0xF0);
    size_t len;

    test_stream_text(t, "naïve café — “quotes” and emojis 😀👍🏽");
    test_stream_text(t, "日本語のテキストと中文");
    test_stream_text(t, "家族👨‍👩‍👧‍👦 🇯🇵 𝔘𝔫𝔦");

    CHECK(e6 >= 0 && b97 >= 0 && a >= 0 && f0 >= 0, "single-byte ids missing");
    /* A held sequence broken by a byte that cannot continue it becomes U+FFFD. */
    tokenizer_stream_init(&s);
    len = tokenizer_stream_push(&s, t, e6, out, sizeof out);
    CHECK(len == 0, "lead byte alone emitted %zu bytes", len);
    len = tokenizer_stream_push(&s, t, b97, out, sizeof out);
    CHECK(len == 0, "two of three bytes emitted %zu bytes", len);
    len = tokenizer_stream_push(&s, t, 50295, out, sizeof out);
    CHECK(len == 0, "special id emitted %zu bytes", len);
    len = tokenizer_stream_push(&s, t, a, out, sizeof out);
    CHECK(len == 4 && strcmp(out, "\xEF\xBF\xBD\x61") == 0, "broken sequence gave \"%s\"", out);
    /* An incomplete sequence at the end is flushed as U+FFFD. */
    tokenizer_stream_push(&s, t, f0, out, sizeof out);
    len = tokenizer_stream_flush(&s, out, sizeof out);
    CHECK(len == 3 && strcmp(out, "\xEF\xBF\xBD") == 0, "flush gave \"%s\"", out);
    len = tokenizer_stream_flush(&s, out, sizeof out);
    CHECK(len == 0, "second flush gave %zu bytes", len);
    len = tokenizer_stream_push(&s, t, 51000, out, sizeof out);
    CHECK(len == 0 && out[0] == '\0', "id 51000 streamed %zu bytes", len);
}

/* Decoding raw bytes: known answers of the maximal-subpart replacement. */
static void
test_decode_bytes(const tokenizer *t)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"\xE6\x97x", "\xEF\xBF\xBDx"},
        {"\xFF", "\xEF\xBF\xBD"},
        {"\xF0\x9F\x98", "\xEF\xBF\xBD"},
        {"\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xE0\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"a\xC3", "a\xEF\xBF\xBD"},
        {"\xC3\xA9\x80", "\xC3\xA9\xEF\xBF\xBD"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        char *got;
        tokenizer_encode(t, cases[k].in, strlen(cases[k].in), &ids, &n);
        got = tokenizer_decode_new(t, ids, n);
        CHECK(strcmp(got, cases[k].want) == 0, "decode case %zu: wrong replacement", k);
        free(got);
        free(ids);
    }
}

/*
 * U+180E is not white space for the reference's pre-tokenizer (ids computed with the reference
 * regex and GPT-2 BPE); a NUL byte inside decoded text keeps what follows it.
 */
static void
test_mongolian_and_nul(const tokenizer *t)
{
    static const struct {
        const char *text;
        int32_t want[8];
        size_t n;
    } cases[] = {
        /* pieces "a", " \u180E!" (PCRE2's \s would give "a", " ", "\u180E", "!") */
        {"a \xE1\xA0\x8E!", {64, 28053, 254, 236, 0}, 5},
        /* pieces "x", "\u180E\u180E", " y" */
        {"x\xE1\xA0\x8E\xE1\xA0\x8E y", {87, 157, 254, 236, 157, 254, 236, 331}, 8},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        tokenizer_encode(t, cases[k].text, strlen(cases[k].text), &ids, &n);
        int same = n == cases[k].n;
        for (size_t i = 0; same && i < n; i++)
            same = ids[i] == cases[k].want[i];
        CHECK(same, "U+180E case %zu: %zu ids, first %d (want %zu ids, first %d)", k, n,
              n > 0 ? ids[0] : -1, cases[k].n, cases[k].want[0]);
        free(ids);
    }

    static const char with_nul[] = "a\0b c";
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    tokenizer_encode(t, with_nul, sizeof with_nul - 1, &ids, &n);
    char *back = tokenizer_decode_len_new(t, ids, n, &len);
    CHECK(len == sizeof with_nul - 1 && memcmp(back, with_nul, len) == 0,
          "text with a NUL byte decodes to %zu bytes, want %zu", len, sizeof with_nul - 1);
    free(back);
    free(ids);
}

static void
test_hostile(const tokenizer *t)
{
    static const int32_t bad[] = {-1, -2, INT32_MIN, INT32_MAX, 50297, 51199, 51200, 1 << 22};
    int all_empty = 1, all_ok = 1, all_valid = 1;
    char *got;
    for (int32_t id = 50297; id < 51200; id++) {
        size_t len = 99;
        tokenizer_piece_borrow(t, id, &len);
        got = tokenizer_decode_new(t, &id, 1);
        all_empty &= got[0] == '\0' && len == 0 && !tokenizer_is_special(t, id);
        free(got);
    }
    CHECK(all_empty, "ids 50297..51199 do not all decode to nothing");
    got = tokenizer_decode_new(t, bad, sizeof bad / sizeof *bad);
    CHECK(got[0] == '\0', "out-of-range ids decode to \"%s\"", got);
    free(got);
    got = tokenizer_decode_new(t, NULL, 0);
    CHECK(got[0] == '\0', "no ids decode to \"%s\"", got);
    free(got);

    /* Random bytes of many lengths: encode never fails and the pieces give the bytes back. */
    for (int round = 0; round < 300; round++) {
        size_t len = round < 200 ? (size_t)(testutil_random() % 64) : (size_t)(testutil_random() % 8192);
        unsigned char *buf = malloc(len + 1);
        int32_t *ids = NULL;
        size_t n = 0, plen;
        char *back;
        for (size_t i = 0; i < len; i++) {
            uint32_t r = testutil_random();
            /* Mostly high bytes and whitespace, where the edge cases are. */
            buf[i] = r % 3 == 0 ? (unsigned char)" \t\n<'"[r % 5] : (unsigned char)(r >> 8);
        }
        tokenizer_encode(t, (const char *)buf, len, &ids, &n);
        back = test_concat_pieces(t, ids, n, &plen);
        all_ok &= plen == len && memcmp(back, buf, len) == 0;
        free(back);
        back = tokenizer_decode_new(t, ids, n);
        all_valid &= test_utf8_ok((const unsigned char *)back, strlen(back));
        free(back);
        for (size_t i = 0; i < n; i++)
            all_ok &= ids[i] >= 0 && ids[i] < tokenizer_size(t);
        free(ids);
        free(buf);
    }
    CHECK(all_ok, "random bytes do not come back from their pieces");
    CHECK(all_valid, "decoding random bytes gave ill-formed UTF-8");
}

static void
test_round_trip(const tokenizer *t)
{
    static const char *const texts[] = {
        "The quick brown fox jumps over the lazy dog.",
        "  leading and trailing  \t\t\n",
        "int main(void)\n{\n\treturn 0;\n}\n",
        "Ünïcödé façade — 中文字符 and 한국어 and русский текст",
        "emoji 🙂🙃 zwj 👩‍💻 skin 👍🏿 keycap 1️⃣",
        "\r\n\r\n mixed\u00a0nbsp\u2003em-space",
        "numbers 3.14159265358979 and 1,000,000 and ٣٤٥",
        "'s't're've'm'll'd 'S 'T",
        "<imag <image <image> </s </s> <|endoftext|> < image>",
        "\t\t\t\t\t\t\t\t\t\t\t\t",
    };
    for (size_t k = 0; k < sizeof texts / sizeof *texts; k++) {
        int32_t *ids = NULL;
        size_t n = 0, plen;
        char *got, *pieces;
        int specials = strstr(texts[k], "</s>") != NULL;
        tokenizer_encode(t, texts[k], strlen(texts[k]), &ids, &n);
        got = tokenizer_decode_new(t, ids, n);
        pieces = test_concat_pieces(t, ids, n, &plen);
        if (specials)
            CHECK(strcmp(got, "<imag <image  </s   < image>") == 0, "specials kept: \"%s\"", got);
        else
            CHECK(strcmp(got, texts[k]) == 0, "round trip of \"%s\" gave \"%s\"", texts[k], got);
        free(got);
        free(pieces);
        free(ids);
    }

    /* Long words take the heap path; they must still come back whole. */
    {
        size_t len = 300000, n = 0, plen;
        char *text = malloc(len + 1);
        int32_t *ids = NULL;
        char *back;
        for (size_t i = 0; i < len; i++)
            text[i] = i < 100000 ? '\n' : i < 200000 ? "abcab"[i % 5] : "0123456789"[i % 10];
        text[len] = '\0';
        tokenizer_encode(t, text, len, &ids, &n);
        back = test_concat_pieces(t, ids, n, &plen);
        CHECK(plen == len && memcmp(back, text, len) == 0, "long runs do not round-trip");
        free(back);
        free(ids);
        free(text);
    }

    /* Encoding appends to what the caller already has. */
    {
        int32_t *ids = NULL;
        size_t n = 0;
        tokenizer_encode(t, "Hello", 5, &ids, &n);
        tokenizer_encode(t, " world", 6, &ids, &n);
        tokenizer_encode(t, "", 0, &ids, &n);
        CHECK(n == 2 && ids[0] == 15496 && ids[1] == 995, "append: n %zu", n);
        free(ids);
    }
}

/* Copy the tokenizer files into a fresh folder, optionally skipping one. */
static const char *
test_copy_files(const char *name, const char *skip)
{
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", testutil_tmpdir(name));
    for (size_t k = 0; k < sizeof test_tokenizer_files / sizeof *test_tokenizer_files; k++) {
        char rel[256], path[4200];
        size_t len;
        char *data;
        if (skip != NULL && strcmp(skip, test_tokenizer_files[k]) == 0)
            continue;
        snprintf(rel, sizeof rel, "imp-tiny/%s", test_tokenizer_files[k]);
        data = testutil_read_file(testutil_fixture_path(rel), &len);
        snprintf(path, sizeof path, "%s/%s", dir, test_tokenizer_files[k]);
        if (data == NULL || testutil_write_file(path, data, len) != 0) {
            fprintf(stderr, "cannot copy %s\n", rel);
            exit(99);
        }
        free(data);
    }
    return dir;
}

static void
test_write(const char *dir, const char *file, const char *content)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (testutil_write_file(path, content, strlen(content)) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(99);
    }
}

/* tokenizer_new must fail and its cause must contain each of the given words. */
static void
test_expect_error(const char *what, const char *dir, const char *word1, const char *word2)
{
    char *cause = NULL;
    tokenizer *t = tokenizer_new(dir, &cause);
    if (!CHECK(t == NULL, "%s: loaded anyway", what)) {
        tokenizer_free(t);
        return;
    }
    if (!CHECK(cause != NULL, "%s: no cause", what))
        return;
    CHECK(strstr(cause, word1) != NULL && (word2 == NULL || strstr(cause, word2) != NULL),
          "%s: cause \"%s\" lacks \"%s\"%s%s", what, cause, word1, word2 ? " or " : "",
          word2 ? word2 : "");
    free(cause);
}

static void
test_errors(void)
{
    const char *dir;
    char *cause = NULL, want[4300];
    tokenizer *t;

    dir = test_copy_files("tok-novocab", "vocab.json");
    snprintf(want, sizeof want, "%s/vocab.json: No such file or directory", dir);
    test_expect_error("missing vocab.json", dir, want, NULL);

    dir = test_copy_files("tok-badjson", NULL);
    test_write(dir, "vocab.json", "{\n  \"a\": 0,\n  \"b\": \n}\n");
    test_expect_error("malformed vocab.json", dir, "vocab.json: line 4: JSON error", NULL);

    dir = test_copy_files("tok-notint", NULL);
    test_write(dir, "vocab.json", "{\"a\": 0, \"b\": \"one\"}");
    test_expect_error("vocab value not an integer", dir, "vocab.json", "\"b\"");

    dir = test_copy_files("tok-notobj", NULL);
    test_write(dir, "vocab.json", "[1, 2]");
    test_expect_error("vocab.json not an object", dir, "vocab.json", "object");

    dir = test_copy_files("tok-nomerges", "merges.txt");
    test_expect_error("missing merges.txt", dir, "merges.txt: No such file or directory", NULL);

    dir = test_copy_files("tok-badmerge", NULL);
    test_write(dir, "merges.txt", "#version: 0.2\n\xC4\xA0 t\n\xC4\xA0 a\nthree symbols here\n");
    test_expect_error("three symbols", dir, "merges.txt: line 4: expected two symbols", NULL);
    test_write(dir, "merges.txt", "#version: 0.2\n\xC4\xA0 t\nlonely\n");
    test_expect_error("one symbol", dir, "merges.txt: line 3: expected two symbols", NULL);
    test_write(dir, "merges.txt", "#version: 0.2\n\xC4\xA0 t\nqqqqzz x\n");
    test_expect_error("unknown symbol", dir, "merges.txt: line 3", "qqqqzz");

    dir = test_copy_files("tok-noadded", "added_tokens.json");
    test_expect_error("missing added_tokens.json", dir,
                      "added_tokens.json: No such file or directory", NULL);

    dir = test_copy_files("tok-badadded", NULL);
    test_write(dir, "added_tokens.json", "{\"</s>\": 50295,\n\"<image>\": [] }");
    test_expect_error("added token not an integer", dir, "added_tokens.json", "<image>");

    dir = test_copy_files("tok-badconfig", NULL);
    test_write(dir, "tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {}}");
    test_expect_error("malformed tokenizer_config.json", dir, "tokenizer_config.json",
                      "JSON error");

    /* Without tokenizer_config.json the tokenizer still loads, and the specials stay special. */
    dir = test_copy_files("tok-noconfig", "tokenizer_config.json");
    t = tokenizer_new(dir, &cause);
    if (CHECK(t != NULL, "missing tokenizer_config.json refused: %s", cause ? cause : "?")) {
        int32_t *ids = NULL;
        size_t n = 0;
        tokenizer_encode(t, "<|endoftext|>hi</s>", 19, &ids, &n);
        CHECK(n == 3 && ids[0] == 50256 && ids[2] == 50295, "specials without config: n %zu", n);
        CHECK(tokenizer_is_special(t, 50256) && tokenizer_is_special(t, 50295) &&
                  tokenizer_is_special(t, 50296) && !tokenizer_is_special(t, 50286),
              "special flags without config");
        free(ids);
        tokenizer_free(t);
    }
    free(cause);
}

/* About 1 MB of English, code, CJK and emoji with varying words, timed once. */
static void
test_speed(const tokenizer *t)
{
    static const char *const parts[] = {
        "The assistant gives helpful, detailed, and polite answers to the user's questions. ",
        "for (int i = 0; i < n; i++) {\n    total += values[i] * 2;\n}\n",
        "日本語のテキストと中文の文章を混ぜて、トークナイザの速度を測ります。",
        "emoji 😀👍🏽🎉 and more ✨🚀 ",
        "    def forward(self, x):\n        return self.proj(x) + 3.14159\n",
        "Ünïcödé façade naïve café — “quotes” ",
        "\t\tindented\twith\ttabs  and  spaces\n",
    };
    size_t cap = (1 << 20) + 4096, len = 0, n = 0;
    char *text = malloc(cap);
    int32_t *ids = NULL;
    struct timespec a, b;
    double secs;
    while (len < (size_t)1 << 20) {
        const char *p = parts[testutil_random() % (sizeof parts / sizeof *parts)];
        len += (size_t)snprintf(text + len, cap - len, "%s word%u ", p, testutil_random() % 5000);
    }
    clock_gettime(CLOCK_MONOTONIC, &a);
    tokenizer_encode(t, text, len, &ids, &n);
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    printf("encode: %.2f MB in %.3f s (%.1f MB/s), %zu ids\n", (double)len / 1e6, secs,
           (double)len / 1e6 / (secs > 0 ? secs : 1e-9), n);
    {
        char *back = tokenizer_decode_new(t, ids, n);
        CHECK(strlen(back) == len && memcmp(back, text, len) == 0,
              "mixed text does not round-trip");
        free(back);
    }
    free(ids);
    free(text);
}

int
main(void)
{
    char *cause = NULL;
    tokenizer *t = tokenizer_new(testutil_fixture_path("imp-tiny"), &cause);
    if (!CHECK(t != NULL, "cannot load imp-tiny: %s", cause ? cause : "?")) {
        free(cause);
        return testutil_finish("test_tokenizer");
    }
    CHECK(tokenizer_size(t) == 50297, "size %d", tokenizer_size(t));
    CHECK(tokenizer_is_special(t, 50256) && tokenizer_is_special(t, 50295) &&
              tokenizer_is_special(t, 50296),
          "special ids not special");
    CHECK(!tokenizer_is_special(t, 50286) && !tokenizer_is_special(t, 198) &&
              !tokenizer_is_special(t, -1) && !tokenizer_is_special(t, 50297),
          "ordinary ids marked special");
    {
        size_t len;
        const char *p = tokenizer_piece_borrow(t, 50286, &len);
        CHECK(len == 2 && memcmp(p, "  ", 2) == 0, "piece of 50286");
        p = tokenizer_piece_borrow(t, 198, &len);
        CHECK(len == 1 && p[0] == '\n', "piece of 198");
        p = tokenizer_piece_borrow(t, 50295, &len);
        CHECK(len == 0 && p != NULL, "piece of a special");
    }

    test_expected_cases(t);
    test_stream(t);
    test_decode_bytes(t);
    test_mongolian_and_nul(t);
    test_hostile(t);
    test_round_trip(t);
    test_speed(t);
    tokenizer_free(t);
    test_errors();
    return testutil_finish("test_tokenizer");
}
