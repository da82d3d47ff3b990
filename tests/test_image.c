#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "image.h"
#include "testutil.h"
#include "xmalloc.h"

#define SIZE 384

static const char *tmp;

/* A cause for printing: never a null pointer. */
static const char *
show(const char *cause)
{
    return cause != NULL ? cause : "(null)";
}

/* A path inside the scratch folder (new string). */
static char *
tmp_path(const char *name)
{
    return xasprintf("%s/%s", tmp, name);
}

/* Standard CRC-32 of PNG chunks. */
static uint32_t
crc32_png(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Set the IHDR size of a PNG held in memory and recompute the chunk's CRC. */
static void
patch_ihdr(uint8_t *png, uint32_t w, uint32_t h)
{
    put_be32(png + 16, w);
    put_be32(png + 20, h);
    put_be32(png + 29, crc32_png(png + 12, 17));
}

/* Check that loading path fails with a message naming the path and containing word (and word2). */
static void
expect_refused(const char *what, const char *path, const char *word, const char *word2)
{
    image_rgb img = {1, 1, NULL};
    char *cause = NULL;
    int rc = image_load(&img, path, &cause);
    CHECK(rc == -1, "%s: load of %s should fail", what, path);
    CHECK(img.rgb == NULL && img.width == 0, "%s: failed load left pixels behind", what);
    if (rc == 0) {
        image_free(&img);
        return;
    }
    CHECK(cause != NULL, "%s: no cause", what);
    if (cause == NULL)
        return;
    printf("  %-22s -> %s\n", what, cause);
    CHECK(strstr(cause, path) != NULL, "%s: cause does not name the path: %s", what, cause);
    CHECK(strstr(cause, word) != NULL, "%s: cause lacks \"%s\": %s", what, word, cause);
    if (word2 != NULL)
        CHECK(strstr(cause, word2) != NULL, "%s: cause lacks \"%s\": %s", what, word2, cause);
    free(cause);
}

/* Write data to a scratch file; returns the new path. */
static char *
write_tmp(const char *name, const void *data, size_t len)
{
    char *path = tmp_path(name);
    if (testutil_write_file(path, data, len) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(99);
    }
    return path;
}

/* Load a fixture, resize, compare with expected/NAME.384.png and the expected pixel sum. */
static void
test_fixture(json_t *expected, const char *name, int ow, int oh, int tol)
{
    char *rel = xasprintf("images/%s", name);
    char *path = xstrdup(testutil_fixture_path(rel));
    char *base = xstrndup(name, strcspn(name, "."));
    free(rel);
    rel = xasprintf("expected/%s.384.png", base);
    char *want_path = xstrdup(testutil_fixture_path(rel));
    free(rel);
    char *cause = NULL;
    image_rgb orig, small;
    float *pix = xmalloc((size_t)3 * SIZE * SIZE * sizeof *pix);

    if (!CHECK(image_load(&orig, path, &cause) == 0, "%s: load failed: %s", name, show(cause))) {
        free(cause);
        goto out;
    }
    CHECK(orig.width == ow && orig.height == oh, "%s: size %dx%d, expected %dx%d", name, orig.width,
          orig.height, ow, oh);
    image_free(&orig);

    if (!CHECK(image_load_pixels(pix, &small, path, SIZE, &cause) == 0, "%s: %s", name,
               show(cause))) {
        free(cause);
        goto out;
    }
    CHECK(small.width == SIZE && small.height == SIZE, "%s: resized to %dx%d", name, small.width,
          small.height);

    int w, h, c;
    uint8_t *want = stbi_load(want_path, &w, &h, &c, 3);
    if (CHECK(want != NULL && w == SIZE && h == SIZE, "%s: cannot read %s", name, want_path)) {
        size_t n = (size_t)SIZE * SIZE * 3, ndiff = 0, first = 0;
        int maxdiff = 0;
        for (size_t i = 0; i < n; i++) {
            int d = abs((int)small.rgb[i] - (int)want[i]);
            if (d != 0 && ndiff++ == 0)
                first = i;
            if (d > maxdiff)
                maxdiff = d;
        }
        printf("  %-12s %dx%d -> 384: %zu of %zu bytes differ, max difference %d\n", name, ow, oh,
               ndiff, n, maxdiff);
        if (tol == 0) {
            CHECK(ndiff == 0,
                  "%s: %zu bytes differ from the expected image; first at pixel (x %zu, y %zu) "
                  "channel %zu: got %d want %d",
                  name, ndiff, first / 3 % SIZE, first / 3 / SIZE, first % 3, small.rgb[first],
                  want[first]);
        } else {
            CHECK(maxdiff <= tol, "%s: max difference %d > %d (%zu bytes differ)", name, maxdiff,
                  tol, ndiff);
        }
    }
    stbi_image_free(want);

    /* The float tensor must be the normalisation of exactly these 8-bit pixels. */
    double sum = 0.0;
    for (size_t i = 0; i < (size_t)3 * SIZE * SIZE; i++)
        sum += pix[i];
    json_t *entry = json_object_get(json_object_get(expected, "images"), name);
    json_t *js = json_object_get(entry, "pixel_sum");
    if (CHECK(json_is_number(js), "%s: no pixel_sum in expected.json", name)) {
        double ref = json_number_value(js);
        double rdiff = fabs(sum - ref) / fabs(ref);
        printf("  %-12s pixel sum %.6f, expected %.6f (relative difference %.2g)\n", name, sum, ref,
               rdiff);
        /* Decoders differ slightly for JPEG, so only PNGs must match closely. */
        CHECK(rdiff <= (tol == 0 ? 1e-6 : 1e-2), "%s: pixel sum %.9g, expected %.9g", name, sum,
              ref);
    }
    image_free(&small);
out:
    free(pix);
    free(path);
    free(base);
    free(want_path);
}

/* Decode through image_load_memory and check channel conversion on small synthetic images. */
static void
test_conversion(void)
{
    /* grey+alpha: grey replicated, alpha ignored. */
    uint8_t ga[6 * 2], rgba[6 * 4], grey[6];
    for (int i = 0; i < 6; i++) {
        ga[2 * i] = (uint8_t)(40 * i + 3);
        ga[2 * i + 1] = (uint8_t)(i * 50); /* includes fully transparent */
        grey[i] = (uint8_t)(255 - 30 * i);
        rgba[4 * i] = (uint8_t)(10 * i);
        rgba[4 * i + 1] = (uint8_t)(200 - 7 * i);
        rgba[4 * i + 2] = (uint8_t)(33 * i + 1);
        rgba[4 * i + 3] = i % 2 ? 0 : 128; /* transparent pixels keep their colour */
    }
    struct {
        const char *name;
        const uint8_t *data;
        int comp;
    } cases[] = {{"ga.png", ga, 2}, {"rgba.png", rgba, 4}, {"grey.png", grey, 1}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char *path = tmp_path(cases[c].name);
        image_rgb img;
        char *cause = NULL;
        CHECK(stbi_write_png(path, 3, 2, cases[c].comp, cases[c].data, 3 * cases[c].comp) != 0,
              "cannot write %s", path);
        if (!CHECK(image_load(&img, path, &cause) == 0, "%s: %s", cases[c].name, show(cause))) {
            free(cause);
            free(path);
            continue;
        }
        int bad = 0;
        for (int i = 0; i < 6; i++) {
            const uint8_t *s = cases[c].data + cases[c].comp * i;
            uint8_t r = s[0], g = cases[c].comp >= 3 ? s[1] : s[0],
                    b = cases[c].comp >= 3 ? s[2] : s[0];
            bad += img.rgb[3 * i] != r || img.rgb[3 * i + 1] != g || img.rgb[3 * i + 2] != b;
        }
        CHECK(img.width == 3 && img.height == 2 && bad == 0,
              "%s: %d pixels not converted as PIL's convert(\"RGB\")", cases[c].name, bad);
        image_free(&img);
        free(path);
    }
}

/* Properties of the resampler that hold whatever the reference images say. */
static void
test_resize_properties(void)
{
    image_rgb flat = {7, 5, xmalloc(7 * 5 * 3)}, big;
    for (int i = 0; i < 7 * 5; i++) {
        flat.rgb[3 * i] = 0;
        flat.rgb[3 * i + 1] = 137;
        flat.rgb[3 * i + 2] = 255;
    }
    image_resize_bicubic(&big, &flat, SIZE, SIZE);
    int bad = 0;
    for (int i = 0; i < SIZE * SIZE; i++)
        bad += big.rgb[3 * i] != 0 || big.rgb[3 * i + 1] != 137 || big.rgb[3 * i + 2] != 255;
    CHECK(bad == 0, "a flat 7x5 image is not flat after upscaling (%d pixels)", bad);
    image_free(&big);
    image_free(&flat);

    /* Both passes at once equal the horizontal pass then the vertical pass. */
    image_rgb src, both, wide, two;
    char *cause = NULL;
    if (!CHECK(image_load(&src, testutil_fixture_path("images/chelsea.png"), &cause) == 0, "%s",
               show(cause))) {
        free(cause);
        return;
    }
    image_resize_bicubic(&both, &src, 200, 517);
    image_resize_bicubic(&wide, &src, 200, src.height);
    image_resize_bicubic(&two, &wide, 200, 517);
    CHECK(memcmp(both.rgb, two.rgb, (size_t)200 * 517 * 3) == 0,
          "separate passes differ from the combined resize");
    image_free(&both);
    image_free(&wide);
    image_free(&two);

    /* Same size: a copy. */
    image_resize_bicubic(&two, &src, src.width, src.height);
    CHECK(memcmp(two.rgb, src.rgb, (size_t)src.width * src.height * 3) == 0,
          "same-size resize is not a copy");
    image_free(&two);
    image_free(&src);
}

static void
test_normalize(void)
{
    image_rgb img = {2, 1, (uint8_t[]){0, 128, 255, 1, 2, 3}};
    float out[6];
    image_normalize(&img, out);
    /* Channel-first: R of both pixels, then G, then B. */
    const uint8_t order[6] = {0, 1, 128, 2, 255, 3};
    int bad = 0;
    for (int i = 0; i < 6; i++) {
        float v = (float)((double)order[i] * (1.0 / 255.0));
        bad += out[i] != (v - 0.5f) / 0.5f;
    }
    CHECK(bad == 0, "image_normalize: %d values wrong", bad);
    CHECK(out[0] == -1.0f && out[4] == 1.0f, "0 and 255 must map to -1 and 1: %g %g", out[0],
          out[4]);
}

static void
test_write_png(void)
{
    image_rgb img, back;
    char *cause = NULL;
    char *path = tmp_path("roundtrip.png");
    if (!CHECK(image_load(&img, testutil_fixture_path("images/logo.png"), &cause) == 0, "%s",
               show(cause))) {
        free(cause);
        free(path);
        return;
    }
    CHECK(image_write_png(&img, path, &cause) == 0, "image_write_png: %s", show(cause));
    if (CHECK(image_load(&back, path, &cause) == 0, "reload: %s", show(cause))) {
        CHECK(back.width == img.width && back.height == img.height &&
                  memcmp(back.rgb, img.rgb, (size_t)img.width * img.height * 3) == 0,
              "PNG round trip changed the pixels");
        image_free(&back);
    }
    free(path);

    path = tmp_path("no-such-dir/out.png");
    cause = NULL;
    CHECK(image_write_png(&img, path, &cause) == -1, "writing into a missing folder succeeded");
    CHECK(cause != NULL && strstr(cause, path) != NULL, "write error does not name the path: %s",
          show(cause));
    if (cause != NULL)
        printf("  %-22s -> %s\n", "write failure", cause);
    free(cause);
    free(path);
    image_free(&img);
}

static void
test_bad_inputs(void)
{
    char *path;
    size_t len;

    puts("refusals:");
    path = tmp_path("missing.png");
    expect_refused("missing file", path, "No such file", NULL);
    free(path);

    path = xstrdup(testutil_fixture_path("images"));
    expect_refused("directory", path, "directory", NULL);
    free(path);

    path = write_tmp("empty.png", "", 0);
    expect_refused("empty file", path, "empty", NULL);
    free(path);

    path = xstrdup(testutil_fixture_path("images/not-an-image.png"));
    expect_refused("text named .png", path, "not an image", NULL);
    free(path);

    path = xstrdup(testutil_fixture_path("images/truncated.jpg"));
    expect_refused("truncated.jpg", path, "truncated", "JPEG");
    free(path);

    path = tmp_path("fifo.png");
    if (CHECK(mkfifo(path, 0600) == 0, "mkfifo %s failed", path))
        expect_refused("FIFO", path, "not a regular file", NULL);
    free(path);
    expect_refused("character device", "/dev/null", "not a regular file", NULL);

    /* A copy of a good image made unreadable. */
    char *good = testutil_read_file(testutil_fixture_path("images/grid384.png"), &len);
    CHECK(good != NULL, "cannot read grid384.png");
    path = write_tmp("unreadable.png", good, len);
    if (geteuid() == 0) {
        puts("  unreadable file       -> skipped: running as root, which can read any file");
    } else {
        CHECK(chmod(path, 0) == 0, "chmod %s failed", path);
        expect_refused("unreadable file", path, "Permission denied", NULL);
    }
    free(path);
    free(good);

    /* Sizes are refused from the header alone, before decoding. */
    char *small_path = tmp_path("small.png");
    uint8_t px[4 * 3 * 3] = {0};
    CHECK(stbi_write_png(small_path, 4, 3, 3, px, 4 * 3) != 0, "cannot write %s", small_path);
    uint8_t *png = (uint8_t *)testutil_read_file(small_path, &len);
    CHECK(png != NULL && len > 33, "cannot read back %s", small_path);
    free(small_path);
    if (png != NULL && len > 33) {
        patch_ihdr(png, 17000, 3);
        path = write_tmp("wide17000.png", png, len);
        expect_refused("17000 wide", path, "too large", "17000x3");
        free(path);

        patch_ihdr(png, 9000, 9000);
        path = write_tmp("big81mp.png", png, len);
        expect_refused("9000x9000", path, "too large", "64 megapixels");
        free(path);

        /*
         * Only signature + IHDR: were the file decoded (or its structure checked) before the size
         * check, the message would say truncated instead.
         */
        patch_ihdr(png, 20000, 10);
        path = write_tmp("header20000.png", png, 33);
        expect_refused("header only, 20000x10", path, "too large", "16384");
        free(path);
    }
    free(png);

    /* Truncated PNGs: cut in half, and complete but for the IEND chunk. */
    char *chelsea = testutil_read_file(testutil_fixture_path("images/chelsea.png"), &len);
    if (CHECK(chelsea != NULL, "cannot read chelsea.png")) {
        path = write_tmp("half.png", chelsea, len / 2);
        expect_refused("half a PNG", path, "truncated", "PNG");
        free(path);
        path = write_tmp("noiend.png", chelsea, len - 12);
        expect_refused("PNG without IEND", path, "truncated", "IEND");
        free(path);

        /* Bytes after IEND are ignored. */
        chelsea = realloc(chelsea, len + 100);
        memset(chelsea + len, 0xAB, 100);
        path = write_tmp("trailer.png", chelsea, len + 100);
        image_rgb img;
        char *cause = NULL;
        CHECK(image_load(&img, path, &cause) == 0, "PNG with trailing bytes refused: %s",
              show(cause));
        free(cause);
        image_free(&img);
        free(path);
    }
    free(chelsea);

    /* Truncated JPEGs: cut in half, and missing only the end-of-image marker. */
    char *rocket = testutil_read_file(testutil_fixture_path("images/rocket.jpg"), &len);
    if (CHECK(rocket != NULL, "cannot read rocket.jpg")) {
        path = write_tmp("half.jpg", rocket, len / 2);
        expect_refused("half a JPEG", path, "truncated", "JPEG");
        free(path);
        path = write_tmp("noeoi.jpg", rocket, len - 2);
        expect_refused("JPEG without EOI", path, "truncated", "end-of-image");
        free(path);

        /* Bytes after EOI are ignored (thumbnails, motion-photo trailers). */
        image_rgb a, b;
        char *cause = NULL;
        rocket = realloc(rocket, len + 100);
        memset(rocket + len, 0xFF, 50);
        memset(rocket + len + 50, 0x11, 50);
        path = write_tmp("trailer.jpg", rocket, len + 100);
        if (CHECK(image_load(&a, path, &cause) == 0, "JPEG with trailing bytes refused: %s",
                  show(cause))) {
            if (CHECK(image_load_memory(&b, rocket, len, "rocket.jpg", &cause) == 0, "%s",
                      show(cause))) {
                CHECK(memcmp(a.rgb, b.rgb, (size_t)a.width * a.height * 3) == 0,
                      "trailing bytes changed the decoded JPEG");
                image_free(&b);
            }
            image_free(&a);
        }
        free(cause);
        free(path);
    }
    free(rocket);

    /* In-memory errors name the given name. */
    image_rgb img;
    char *cause = NULL;
    CHECK(image_load_memory(&img, "", 0, "mem.png", &cause) == -1 && cause != NULL &&
              strstr(cause, "mem.png") != NULL && strstr(cause, "empty") != NULL,
          "image_load_memory of nothing: %s", show(cause));
    free(cause);

    float out[3];
    cause = NULL;
    CHECK(image_load_pixels(out, NULL, testutil_fixture_path("images/grid384.png"), 0, &cause) ==
              -1,
          "image_load_pixels accepted size 0");
    free(cause);
}

/*
 * Every fixture of images/pil/list.txt must decode to exactly the pixels PIL gives (stored by
 * scripts/make-image-fixtures.py as NAME.ref.png), EXIF orientation included.
 */
static void
test_pil_fixtures(void)
{
    FILE *list = fopen(testutil_fixture_path("images/pil/list.txt"), "r");
    char name[128];
    int want_w, want_h, count = 0;

    if (!CHECK(list != NULL, "cannot open images/pil/list.txt"))
        return;
    while (fscanf(list, "%127s %d %d", name, &want_w, &want_h) == 3) {
        char *rel = xasprintf("images/pil/%s", name);
        char *path = xstrdup(testutil_fixture_path(rel));
        free(rel);
        rel = xasprintf("images/pil/%s.ref.png", name);
        char *ref_path = xstrdup(testutil_fixture_path(rel));
        free(rel);
        image_rgb img;
        char *cause = NULL;
        count++;
        if (CHECK(image_load(&img, path, &cause) == 0, "%s: load failed: %s", name, show(cause))) {
            int w, h, c;
            uint8_t *want = stbi_load(ref_path, &w, &h, &c, 3);
            if (CHECK(want != NULL, "%s: cannot read %s", name, ref_path) &&
                CHECK(img.width == want_w && img.height == want_h && w == want_w && h == want_h,
                      "%s: decoded %dx%d, PIL gives %dx%d", name, img.width, img.height, w, h)) {
                size_t n = (size_t)w * h * 3, ndiff = 0, first = 0;
                int maxdiff = 0;
                for (size_t i = 0; i < n; i++) {
                    int d = abs((int)img.rgb[i] - (int)want[i]);
                    if (d != 0 && ndiff++ == 0)
                        first = i;
                    if (d > maxdiff)
                        maxdiff = d;
                }
                printf("  %-18s %3dx%-3d %zu of %zu bytes differ from PIL (max %d)\n", name, w, h,
                       ndiff, n, maxdiff);
                CHECK(ndiff == 0,
                      "%s: %zu bytes differ from PIL; first at pixel (x %zu, y %zu) channel %zu: "
                      "got %d want %d",
                      name, ndiff, first / 3 % (size_t)w, first / 3 / (size_t)w, first % 3,
                      img.rgb[first], want[first]);
            }
            stbi_image_free(want);
            image_free(&img);
        }
        free(cause);
        free(path);
        free(ref_path);
    }
    fclose(list);
    CHECK(count >= 20, "images/pil/list.txt lists only %d fixtures", count);
}

/* Read a fixture of images/pil/ (new buffer, length in *len); exits when it is missing. */
static uint8_t *
read_pil_fixture(const char *name, size_t *len)
{
    char *rel = xasprintf("images/pil/%s", name);
    uint8_t *data = (uint8_t *)testutil_read_file(testutil_fixture_path(rel), len);
    free(rel);
    if (data == NULL) {
        fprintf(stderr, "cannot read fixture %s\n", name);
        exit(99);
    }
    return data;
}

/* Check that decoding bytes from memory fails with a cause holding word (and word2). */
static void
expect_refused_memory(const char *what, const void *data, size_t len, const char *word,
                      const char *word2)
{
    image_rgb img = {1, 1, NULL};
    char *cause = NULL;
    int rc = image_load_memory(&img, data, len, what, &cause);
    CHECK(rc == -1, "%s: decoding should fail", what);
    if (rc == 0) {
        image_free(&img);
        return;
    }
    CHECK(img.rgb == NULL && img.width == 0, "%s: failed decode left pixels behind", what);
    CHECK(cause != NULL && strncmp(cause, what, strlen(what)) == 0, "%s: cause does not name it: %s",
          what, show(cause));
    CHECK(cause != NULL && strstr(cause, word) != NULL, "%s: cause lacks \"%s\": %s", what, word,
          show(cause));
    if (word2 != NULL)
        CHECK(cause != NULL && strstr(cause, word2) != NULL, "%s: cause lacks \"%s\": %s", what,
              word2, show(cause));
    printf("  %-26s -> %s\n", what, show(cause));
    free(cause);
}

/* Every accepted format cut short at several points is refused, never decoded with made-up pixels. */
static void
test_truncated_formats(void)
{
    static const char *const names[] = {"jpeg420.jpg",   "jpegprog.jpg",      "webplossy.webp",
                                        "webplossless.webp", "webpanim.webp", "gifalpha.gif",
                                        "bmp24.bmp",     "tga24.tga",         "tgarle.tga",
                                        "ppm8.ppm",      "pgm16.pgm",         "grey16.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n;
        uint8_t *data = read_pil_fixture(names[i], &n);
        int tga = strstr(names[i], ".tga") != NULL;
        /* A TGA ends with a footer after its pixels, so its last cut is inside the pixels. */
        size_t cuts[] = {1, 20, n / 4, n / 2, 3 * n / 4, tga ? n - 40 : n - 2};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            char *what = xasprintf("%s cut to %zu of %zu bytes", names[i], cuts[c], n);
            expect_refused_memory(what, data, cuts[c], "", NULL);
            free(what);
        }
        free(data);
    }
}

/* A progressive JPEG whose last scan is repeated 600 times is refused quickly. */
static void
test_many_scans(void)
{
    size_t n;
    uint8_t *data = read_pil_fixture("jpegprog.jpg", &n);
    size_t last = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (data[i] == 0xFF && data[i + 1] == 0xDA)
            last = i;
    if (!CHECK(last > 0 && data[n - 2] == 0xFF && data[n - 1] == 0xD9, "jpegprog.jpg: no scan found"))
        return;
    size_t scan = n - 2 - last, copies = 600;
    size_t len = last + scan * copies + 2;
    uint8_t *big = xmalloc(len);
    /* The first half of the scans and then the end marker: libjpeg would pad the rest. */
    memcpy(big, data, n / 2);
    big[n / 2] = 0xFF;
    big[n / 2 + 1] = 0xD9;
    expect_refused_memory("progressive JPEG cut, end marker kept", big, n / 2 + 2, "truncated JPEG",
                          NULL);
    size_t n420;
    uint8_t *base = read_pil_fixture("jpeg420.jpg", &n420);
    memcpy(big, base, n420 / 2);
    big[n420 / 2] = 0xFF;
    big[n420 / 2 + 1] = 0xD9;
    expect_refused_memory("baseline JPEG cut, end marker kept", big, n420 / 2 + 2, "truncated JPEG",
                          NULL);
    free(base);

    memcpy(big, data, last);
    for (size_t c = 0; c < copies; c++)
        memcpy(big + last + c * scan, data + last, scan);
    big[len - 2] = 0xFF;
    big[len - 1] = 0xD9;
    expect_refused_memory("600 progressive scans", big, len, "more than 500 progressive scans",
                          NULL);
    /* The same scans declared over 16384x4096 pixels: large images get fewer scans. */
    for (size_t i = 0; i + 8 < last; i++) {
        if (big[i] == 0xFF && big[i + 1] == 0xC2) {
            big[i + 5] = 0x10, big[i + 6] = 0x00; /* height 4096 */
            big[i + 7] = 0x40, big[i + 8] = 0x00; /* width 16384 */
            break;
        }
    }
    expect_refused_memory("600 scans over 16384x4096", big, len, "more than 47 progressive scans",
                          "16384x4096");
    free(big);
    free(data);
}

/* Headers declaring huge sizes in tiny files, absurd numbers, and unsupported formats. */
static void
test_hostile_headers(void)
{
    size_t n;
    uint8_t *jpeg = read_pil_fixture("jpeg444.jpg", &n);
    for (size_t i = 0; i + 8 < n; i++) {
        if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
            jpeg[i + 5] = 0x4E, jpeg[i + 6] = 0x20; /* height 20000 */
            jpeg[i + 7] = 0x4E, jpeg[i + 8] = 0x20; /* width 20000 */
            break;
        }
    }
    expect_refused_memory("JPEG declaring 20000x20000", jpeg, n, "20000x20000 is too large",
                          "at most 16384 a side and 64 megapixels");
    free(jpeg);

    uint8_t *gif = read_pil_fixture("gifalpha.gif", &n);
    gif[6] = 0x20, gif[7] = 0x4E, gif[8] = 0x10, gif[9] = 0x27; /* 20000 x 10000 */
    expect_refused_memory("GIF declaring 20000x10000", gif, n, "20000x10000 is too large", NULL);
    free(gif);

    uint8_t *bmp = read_pil_fixture("bmp24.bmp", &n);
    bmp[18] = 0x00, bmp[19] = 0x20, bmp[20] = 0, bmp[21] = 0; /* width 8192 */
    bmp[22] = 0x00, bmp[23] = 0x20, bmp[24] = 0, bmp[25] = 0; /* height 8192 */
    expect_refused_memory("BMP declaring 8192x8192", bmp, n, "truncated BMP", NULL);
    free(bmp);

    static const char pnm_huge[] = "P6\n16384 16384\n255\n\x01\x02\x03";
    expect_refused_memory("PNM declaring 16384x16384", pnm_huge, sizeof pnm_huge - 1,
                          "16384x16384 is too large", NULL);
    static const char pnm_overflow[] = "P6\n99999999999999999999 3\n255\n\x01\x02\x03";
    expect_refused_memory("PNM with an overflowing width", pnm_overflow, sizeof pnm_overflow - 1,
                          "absurd number", NULL);
    static const char pnm_wrap[] = "P5 4294967297 4294967297 255\n\x01";
    expect_refused_memory("PNM with 2^32+1 sides", pnm_wrap, sizeof pnm_wrap - 1, "is too large",
                          NULL);
    static const char pnm_maxval[] = "P5 2 2 1000\n\x01\x02\x03\x04\x05\x06\x07\x08";
    expect_refused_memory("PNM with maximum value 1000", pnm_maxval, sizeof pnm_maxval - 1,
                          "unsupported PNM maximum value 1000", NULL);
    static const char pnm_glued[] = "P5 2 1 255X\x01\x02";
    expect_refused_memory("PNM with data glued to its header", pnm_glued, sizeof pnm_glued - 1,
                          "bad PNM header", NULL);
    static const char pbm[] = "P4 8 1\n\x55";
    expect_refused_memory("PBM (P4)", pbm, sizeof pbm - 1, "unsupported PNM variant P4", NULL);

    static const char hdr[] = "#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 2 +X 2\n\x02\x02";
    expect_refused_memory("Radiance HDR", hdr, sizeof hdr - 1, "unsupported image format (Radiance HDR)",
                          "PNG, JPEG, WebP, GIF, BMP, TGA, PNM");
    static const char psd[] = "8BPS\x00\x01\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x02"
                              "\x00\x00\x00\x02\x00\x08\x00\x03";
    expect_refused_memory("PSD", psd, sizeof psd - 1, "unsupported image format (PSD)", NULL);
    uint8_t pic[128] = {0x53, 0x80, 0xF6, 0x34};
    memcpy(pic + 88, "PICT", 4);
    expect_refused_memory("Softimage PIC", pic, sizeof pic, "unsupported image format (Softimage PIC)",
                          NULL);

    /* A 4x4 GIF whose LZW codes end after one pixel, its sub-blocks properly terminated. */
    static const uint8_t gif_short[] = {'G', 'I', 'F', '8', '9', 'a', 4, 0, 4, 0, 0x80, 0, 0,
                                        0, 0, 0, 255, 255, 255, 0x2C, 0, 0, 0, 0, 4, 0, 4, 0, 0,
                                        2, 2, 0x44, 0x01, 0, 0x3B};
    expect_refused_memory("GIF with 1 of 16 pixels coded", gif_short, sizeof gif_short,
                          "truncated GIF", NULL);

    uint8_t noise[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (uint8_t)(x >> 16);
    }
    noise[0] = 0x55; /* no format's signature */
    expect_refused_memory("random bytes", noise, sizeof noise, "not an image", NULL);
    static const uint8_t nine[] = {0xFF, 0xD8, 0xFF, 0xC4, 0x00, 0x05, 0x00, 0xFF, 0xFF};
    expect_refused_memory("9-byte JPEG", nine, sizeof nine, "JPEG", NULL);
}

int
main(void)
{
    json_error_t jerr;
    json_t *expected = json_load_file(testutil_fixture_path("expected/expected.json"), 0, &jerr);
    if (expected == NULL) {
        fprintf(stderr, "cannot read expected.json: %s\n", jerr.text);
        return 99;
    }
    tmp = xstrdup(testutil_tmpdir("test_image"));

    puts("fixtures:");
    test_fixture(expected, "chelsea.png", 451, 300, 0);
    test_fixture(expected, "logo.png", 500, 500, 0);
    test_fixture(expected, "camera.png", 512, 512, 0);
    test_fixture(expected, "grid384.png", 384, 384, 0);
    /* JPEG through libjpeg-turbo with PIL's settings: exact. */
    test_fixture(expected, "rocket.jpg", 640, 427, 0);
    puts("decoded as PIL decodes them:");
    test_pil_fixtures();
    test_conversion();
    test_resize_properties();
    test_normalize();
    test_write_png();
    test_bad_inputs();
    puts("hostile files:");
    test_truncated_formats();
    test_many_scans();
    test_hostile_headers();

    json_decref(expected);
    return testutil_finish("test_image");
}
