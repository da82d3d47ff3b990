#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image.h>
#include <stb_image_write.h>

#include "image.h"
#include "imagecheck.h"
#include "imageexif.h"
#include "imagejpeg.h"
#include "imagewebp.h"
#include "log.h"
#include "regfile.h"
#include "xmalloc.h"

/*
 * JPEG goes through libjpeg-turbo and WebP through libwebp (imagejpeg.c, imagewebp.c); the other
 * formats but PNM use stb_image (the implementation comes from Debian's libstb, so no
 * STB_IMAGE_IMPLEMENTATION here). stbi_failure_reason() is thread-local only when libstb was built
 * with thread-local storage, otherwise a process-wide global: a message may then name another
 * thread's failure. That is acceptable for the messages built from it here.
 */

/* Fixed-point precision of the 8-bit resampler (MODEL.md B5). */
#define IMAGE_PRECISION_BITS 22

/* ---------------------------------------------------------------- loading */

/*
 * Convert stb_image's output with comp channels to RGB as PIL's convert("RGB") does: grey is
 * replicated, alpha is dropped without compositing onto any background.
 */
static void
image_to_rgb(uint8_t *dst, const uint8_t *src, size_t npix, int comp)
{
    size_t i;
    switch (comp) {
    case 1:
        for (i = 0; i < npix; i++) {
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[i];
        }
        break;
    case 2:
        for (i = 0; i < npix; i++) {
            dst[3 * i] = dst[3 * i + 1] = dst[3 * i + 2] = src[2 * i];
        }
        break;
    case 3:
        memcpy(dst, src, npix * 3);
        break;
    default:
        for (i = 0; i < npix; i++) {
            dst[3 * i] = src[4 * i];
            dst[3 * i + 1] = src[4 * i + 1];
            dst[3 * i + 2] = src[4 * i + 2];
        }
        break;
    }
}

/*
 * Decode a P5/P6 file (checked whole by imagecheck_complete) into img: stb_image's reader
 * mishandles 16-bit samples, and the format is simple enough to read here. 16-bit samples keep
 * their high byte.
 */
static int
image_decode_pnm(image_rgb *img, const uint8_t *p, size_t len, const char *name, char **cause)
{
    imagecheck_pnm h;
    if (imagecheck_pnm_header(p, len, name, &h, cause) != 0)
        return -1;
    if (imagecheck_complete(IMAGECHECK_PNM, p, len, name, cause) != 0)
        return -1;
    size_t npix = (size_t)h.width * (size_t)h.height;
    size_t step = h.maxval > 255 ? 2 : 1; /* bytes a sample, big-endian */
    const uint8_t *in = p + h.data;
    img->rgb = xmalloc(npix * 3);
    for (size_t i = 0; i < npix; i++) {
        for (int c = 0; c < 3; c++) {
            size_t sample = h.channels == 1 ? i : 3 * i + (size_t)c;
            img->rgb[3 * i + (size_t)c] = in[sample * step];
        }
    }
    img->width = (int)h.width;
    img->height = (int)h.height;
    return 0;
}

/*
 * Paint the part of a GIF's screen outside its first frame as PIL does: the colour of the
 * transparent index, or of index 0 (stb_image paints the background colour there).
 */
static void
image_gif_fill_outside(uint8_t *rgb, int w, int h, const imagecheck_gif_frame *f)
{
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            if (x >= f->x && x - f->x < f->width && y >= f->y && y - f->y < f->height)
                continue;
            memcpy(rgb + ((size_t)y * w + x) * 3, f->fill, 3);
        }
    }
}

/* Decode the formats left to stb_image (PNG, GIF, BMP, TGA) into img. */
static int
image_decode_stb(image_rgb *img, imagecheck_format format, const uint8_t *p, size_t len,
                 const char *name, char **cause)
{
    int w, h, comp;

    /*
     * The size comes from the header alone, so a huge image is refused (naming its size) before
     * anything is allocated; then the file must hold all the data the header promises.
     */
    if (!stbi_info_from_memory(p, (int)len, &w, &h, &comp)) {
        if (imagecheck_complete(format, p, len, name, cause) != 0)
            return -1; /* a header cut short is reported as a truncated file */
        return log_cause(cause, "%s: cannot decode image: %s", name, stbi_failure_reason());
    }
    if (imagecheck_size(name, w, h, cause) != 0)
        return -1;
    if (imagecheck_complete(format, p, len, name, cause) != 0)
        return -1;

    /*
     * req_comp 0 keeps the file's own channel count so the RGB conversion below is explicit.
     * 16-bit samples come back as 8 bits (the high byte), which is what PIL keeps for 16-bit
     * colour; PIL clips 16-bit greyscale instead, a rare case where the two differ.
     * A GIF's transparent index is decoded as its palette colour, as PIL's convert("RGB") gives.
     */
    uint8_t *opaque = format == IMAGECHECK_GIF ? imagecheck_gif_opaque_new(p, len) : NULL;
    uint8_t *pix = stbi_load_from_memory(opaque != NULL ? opaque : p, (int)len, &w, &h, &comp, 0);
    free(opaque);
    if (pix == NULL)
        return log_cause(cause, "%s: cannot decode image: %s", name, stbi_failure_reason());
    if (imagecheck_size(name, w, h, NULL) != 0 || comp < 1 || comp > 4) {
        stbi_image_free(pix);
        return log_cause(cause, "%s: decoder returned an unexpected %dx%d image with %d channels",
                         name, w, h, comp);
    }
    size_t npix = (size_t)w * (size_t)h;
    img->rgb = xmalloc(npix * 3);
    image_to_rgb(img->rgb, pix, npix, comp);
    stbi_image_free(pix);
    imagecheck_gif_frame frame;
    if (format == IMAGECHECK_GIF && imagecheck_gif_first_frame(p, len, &frame) == 0)
        image_gif_fill_outside(img->rgb, w, h, &frame);
    img->width = w;
    img->height = h;
    return 0;
}

int
image_load_memory(image_rgb *img, const void *data, size_t len, const char *name, char **cause)
{
    const uint8_t *p = data;
    imagecheck_format format;
    int rc;

    img->width = img->height = 0;
    img->rgb = NULL;
    if (len == 0)
        return log_cause(cause, "%s: empty file", name);
    if (len > INT_MAX)
        return log_cause(cause, "%s: file too large to decode (%zu bytes)", name, len);
    if (imagecheck_sniff(p, len, name, &format, cause) != 0)
        return -1;
    switch (format) {
    case IMAGECHECK_JPEG:
        /* libjpeg pads a file without its end marker; such a file is refused first. */
        rc = imagecheck_complete(format, p, len, name, cause);
        if (rc == 0)
            rc = imagejpeg_decode(img, p, len, name, cause);
        break;
    case IMAGECHECK_WEBP:
        rc = imagewebp_decode(img, p, len, name, cause);
        break;
    case IMAGECHECK_PNM:
        rc = image_decode_pnm(img, p, len, name, cause);
        break;
    default:
        rc = image_decode_stb(img, format, p, len, name, cause);
        break;
    }
    if (rc != 0)
        return -1;
    /* The picture as the user's viewer shows it, as PIL's ImageOps.exif_transpose gives it. */
    imageexif_apply(img, imageexif_orientation(p, len));
    return 0;
}

int
image_load(image_rgb *img, const char *path, char **cause)
{
    struct stat st;
    int fd;

    img->width = img->height = 0;
    img->rgb = NULL;

    /* devices, FIFOs and folders are refused without being opened for reading */
    fd = regfile_open(path, NULL, cause);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return log_cause(cause, "%s: %s", path, strerror(e));
    }
    if (st.st_size == 0) {
        close(fd);
        return log_cause(cause, "%s: empty file", path);
    }
    if (st.st_size > INT_MAX) {
        close(fd);
        return log_cause(cause, "%s: file too large to decode (%lld bytes)", path,
                         (long long)st.st_size);
    }

    size_t want = (size_t)st.st_size, got = 0;
    uint8_t *buf = xmalloc(want);
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
            break; /* the file shrank: decode what is there, the checks will judge it */
        got += (size_t)r;
    }
    close(fd);

    int rc = image_load_memory(img, buf, got, path, cause);
    free(buf);
    return rc;
}

void
image_free(image_rgb *img)
{
    if (img == NULL)
        return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

/* ---------------------------------------------------------------- bicubic resize */

/* Fixed-point resampling weights for one axis. */
typedef struct {
    int ksize;  /* stride of k: the most taps any output sample uses */
    int *start; /* per output sample: first input index */
    int *count; /* per output sample: number of taps */
    int32_t *k; /* per output sample: ksize weights, PRECISION_BITS fixed point */
} image_coeffs;

/* The bicubic kernel with a = -0.5 (support 2). */
static double
image_bicubic(double x)
{
    const double a = -0.5;
    if (x < 0.0)
        x = -x;
    if (x < 1.0)
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
    if (x < 2.0)
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
    return 0.0;
}

/*
 * Weights mapping n_in samples onto n_out over the box [0, n_in], computed in double, normalised
 * to sum 1 and rounded half away from zero to fixed point, as PIL's 8-bit path does.
 */
static void
image_coeffs_init(image_coeffs *c, int n_in, int n_out)
{
    double scale = (double)n_in / n_out;
    double fs = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * fs;
    /* Multiply by the reciprocal as PIL does (dividing gave identical weights in every test). */
    double inv_fs = 1.0 / fs;
    int ksize = (int)ceil(support) * 2 + 1;
    double *w = xmalloc((size_t)ksize * sizeof *w);

    c->ksize = ksize;
    c->start = xmalloc((size_t)n_out * sizeof *c->start);
    c->count = xmalloc((size_t)n_out * sizeof *c->count);
    c->k = xcalloc((size_t)n_out * (size_t)ksize, sizeof *c->k);
    for (int o = 0; o < n_out; o++) {
        double center = (o + 0.5) * scale;
        int xmin = (int)(center - support + 0.5);
        int xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > n_in)
            xmax = n_in;
        int cnt = xmax - xmin;
        if (cnt > ksize)
            cnt = ksize; /* cannot happen; guards the fixed-size row */
        double sum = 0.0;
        for (int t = 0; t < cnt; t++) {
            w[t] = image_bicubic((t + xmin - center + 0.5) * inv_fs);
            sum += w[t];
        }
        int32_t *k = c->k + (size_t)o * ksize;
        for (int t = 0; t < cnt; t++) {
            double v = sum != 0.0 ? w[t] / sum : w[t];
            double s = v * (double)(1 << IMAGE_PRECISION_BITS);
            k[t] = (int32_t)(v < 0.0 ? s - 0.5 : s + 0.5);
        }
        c->start[o] = xmin;
        c->count[o] = cnt;
    }
    free(w);
}

/* Free the weights. */
static void
image_coeffs_free(image_coeffs *c)
{
    free(c->start);
    free(c->count);
    free(c->k);
}

/* Round a fixed-point accumulator (which already holds the half) to a clamped byte. */
static inline uint8_t
image_clip8(int32_t acc)
{
    /* Negative values clamp to 0, so no shift of a negative number is needed. */
    if (acc < 0)
        return 0;
    acc >>= IMAGE_PRECISION_BITS;
    return acc > 255 ? 255 : (uint8_t)acc;
}

/* Horizontal pass over rows [y0, y0 + rows) of src into dst (rows x c->n_out pixels). */
static void
image_resize_rows(uint8_t *dst, int out_w, const uint8_t *src, int in_w, int y0, int rows,
                  const image_coeffs *c)
{
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)(y0 + y) * in_w * 3;
        uint8_t *out = dst + (size_t)y * out_w * 3;
        for (int x = 0; x < out_w; x++) {
            const int32_t *k = c->k + (size_t)x * c->ksize;
            const uint8_t *p = in + (size_t)c->start[x] * 3;
            int32_t r = 1 << (IMAGE_PRECISION_BITS - 1), g = r, b = r;
            for (int t = 0; t < c->count[x]; t++) {
                r += p[3 * t] * k[t];
                g += p[3 * t + 1] * k[t];
                b += p[3 * t + 2] * k[t];
            }
            out[3 * x] = image_clip8(r);
            out[3 * x + 1] = image_clip8(g);
            out[3 * x + 2] = image_clip8(b);
        }
    }
}

/* Vertical pass: src rows are numbered from y0 (the first row the weights refer to). */
static void
image_resize_cols(uint8_t *dst, int out_h, const uint8_t *src, int w, int y0, const image_coeffs *c)
{
    size_t row = (size_t)w * 3;
    int32_t *acc = xmalloc(row * sizeof *acc);
    for (int y = 0; y < out_h; y++) {
        const int32_t *k = c->k + (size_t)y * c->ksize;
        for (size_t i = 0; i < row; i++)
            acc[i] = 1 << (IMAGE_PRECISION_BITS - 1);
        /* Integer sums are order-independent, so accumulating row by row gives PIL's result. */
        for (int t = 0; t < c->count[y]; t++) {
            const uint8_t *in = src + (size_t)(c->start[y] - y0 + t) * row;
            int32_t kt = k[t];
            for (size_t i = 0; i < row; i++)
                acc[i] += in[i] * kt;
        }
        uint8_t *out = dst + (size_t)y * row;
        for (size_t i = 0; i < row; i++)
            out[i] = image_clip8(acc[i]);
    }
    free(acc);
}

void
image_resize_bicubic(image_rgb *dst, const image_rgb *src, int width, int height)
{
    int need_h = width != src->width, need_v = height != src->height;
    size_t out_bytes = (size_t)width * (size_t)height * 3;

    dst->width = width;
    dst->height = height;
    dst->rgb = xmalloc(out_bytes);
    if (!need_h && !need_v) {
        memcpy(dst->rgb, src->rgb, out_bytes);
        return;
    }

    image_coeffs ch, cv;
    if (need_v)
        image_coeffs_init(&cv, src->height, height);
    if (need_h) {
        image_coeffs_init(&ch, src->width, width);
        /* Only the source rows the vertical pass reads need the horizontal pass. */
        int y0 = 0, y1 = src->height;
        if (need_v) {
            y0 = cv.start[0];
            y1 = cv.start[height - 1] + cv.count[height - 1];
        }
        if (!need_v) {
            image_resize_rows(dst->rgb, width, src->rgb, src->width, 0, src->height, &ch);
        } else {
            uint8_t *tmp = xmalloc((size_t)width * (size_t)(y1 - y0) * 3);
            image_resize_rows(tmp, width, src->rgb, src->width, y0, y1 - y0, &ch);
            image_resize_cols(dst->rgb, height, tmp, width, y0, &cv);
            free(tmp);
        }
        image_coeffs_free(&ch);
    } else {
        image_resize_cols(dst->rgb, height, src->rgb, width, 0, &cv);
    }
    if (need_v)
        image_coeffs_free(&cv);
}

/* ---------------------------------------------------------------- normalisation and output */

void
image_normalize(const image_rgb *img, float *out)
{
    size_t plane = (size_t)img->width * (size_t)img->height;
    for (size_t i = 0; i < plane; i++) {
        for (int c = 0; c < 3; c++) {
            /* Rescale in double then cast, normalise in float: the reference's exact roundings. */
            float v = (float)((double)img->rgb[3 * i + c] * (1.0 / 255.0));
            out[(size_t)c * plane + i] = (v - 0.5f) / 0.5f;
        }
    }
}

/* State for writing stb_image_write's output to a stdio stream with error checking. */
typedef struct {
    FILE *f;
    int err; /* errno of the first failed write, 0 when none failed */
} image_writer;

/* stb_image_write callback: append the encoded bytes. */
static void
image_write_cb(void *ctx, void *data, int size)
{
    image_writer *wr = ctx;
    if (wr->err != 0 || size <= 0)
        return;
    errno = 0;
    if (fwrite(data, 1, (size_t)size, wr->f) != (size_t)size)
        wr->err = errno != 0 ? errno : EIO;
}

int
image_write_png(const image_rgb *img, const char *path, char **cause)
{
    image_writer wr = {NULL, 0};

    /*
     * stbi_write_png ignores fwrite errors (a full disk would go unnoticed), so encode through
     * the callback variant into a stream opened and checked here.
     */
    wr.f = fopen(path, "wb");
    if (wr.f == NULL)
        return log_cause(cause, "%s: cannot write PNG: %s", path, strerror(errno));
    int ok = stbi_write_png_to_func(image_write_cb, &wr, img->width, img->height, 3, img->rgb,
                                    img->width * 3);
    if (!ok || wr.err != 0) {
        fclose(wr.f);
        remove(path);
        if (!ok)
            return log_cause(cause, "%s: cannot encode PNG", path);
        return log_cause(cause, "%s: cannot write PNG: %s", path, strerror(wr.err));
    }
    if (fclose(wr.f) != 0) {
        int e = errno;
        remove(path);
        return log_cause(cause, "%s: cannot write PNG: %s", path, strerror(e));
    }
    return 0;
}

int
image_load_pixels(float *out, image_rgb *resized, const char *path, int size, char **cause)
{
    image_rgb img, small;

    if (resized != NULL) {
        resized->width = resized->height = 0;
        resized->rgb = NULL;
    }
    if (size <= 0 || size > IMAGE_MAX_SIDE)
        return log_cause(cause, "%s: bad target image size %d", path, size);
    if (image_load(&img, path, cause) != 0)
        return -1;
    image_resize_bicubic(&small, &img, size, size);
    image_free(&img);
    image_normalize(&small, out);
    if (resized != NULL)
        *resized = small;
    else
        image_free(&small);
    return 0;
}
