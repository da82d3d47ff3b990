#include "config.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image.h"
#include "imagecheck.h"
#include "imagejpeg.h"
#include "log.h"
#include "xmalloc.h"

/* libjpeg's error manager extended with the way back out of a fatal error. */
typedef struct {
    struct jpeg_error_mgr base;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
    int max_scans;      /* IMAGEJPEG_MAX_SCANS, fewer for a large image */
    int too_many_scans; /* set by the progress monitor before it bails out */
    int data_missing;   /* a warning that libjpeg padded missing data: the picture is not whole */
    char warning[JMSG_LENGTH_MAX];
} imagejpeg_error;

/* Fatal libjpeg error: keep the message and jump back to imagejpeg_decode. */
static void
imagejpeg_error_exit(j_common_ptr cinfo)
{
    imagejpeg_error *err = (imagejpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->escape, 1);
}

/*
 * Warnings: libjpeg pads a file that ends early (or a scan cut short by a marker) and goes on.
 * Those two are remembered and refused after decoding; other warnings (extra bytes between
 * markers, common in camera files) are accepted, as PIL accepts them.
 */
static void
imagejpeg_emit_message(j_common_ptr cinfo, int level)
{
    imagejpeg_error *err = (imagejpeg_error *)cinfo->err;
    if (level >= 0)
        return; /* trace messages */
    cinfo->err->num_warnings++;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF || cinfo->err->msg_code == JWRN_HIT_MARKER) {
        if (!err->data_missing)
            (*cinfo->err->format_message)(cinfo, err->warning);
        err->data_missing = 1;
    }
}

/* Called while the input is absorbed: stops a progressive file with absurdly many scans. */
static void
imagejpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    imagejpeg_error *err = (imagejpeg_error *)cinfo->err;
    if (!cinfo->is_decompressor || err->max_scans == 0 || d->input_scan_number <= err->max_scans)
        return;
    err->too_many_scans = 1;
    snprintf(err->message, sizeof err->message,
             "more than %d progressive scans (the most allowed for %ux%u)", err->max_scans,
             d->image_width, d->image_height);
    longjmp(err->escape, 1);
}

/* PIL's CMYK to RGB: each channel is (255 - k) - c * (255 - k) / 255 with its rounding. */
static void
imagejpeg_cmyk_row(uint8_t *dst, const uint8_t *src, int width)
{
    for (int x = 0; x < width; x++) {
        /* libjpeg hands over the file's Adobe-inverted values; PIL inverts them back first. */
        int c[3] = {255 - src[4 * x], 255 - src[4 * x + 1], 255 - src[4 * x + 2]};
        int nk = src[4 * x + 3]; /* 255 - k, with k inverted back */
        for (int i = 0; i < 3; i++) {
            int t = c[i] * nk + 128;
            int v = nk - (((t >> 8) + t) >> 8);
            dst[3 * x + i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

int
imagejpeg_decode(image_rgb *img, const uint8_t *data, size_t len, const char *name, char **cause)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    imagejpeg_error err;
    uint8_t *volatile row = NULL;
    uint8_t *volatile rgb = NULL;

    img->width = img->height = 0;
    img->rgb = NULL;
    memset(&err, 0, sizeof err);
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = imagejpeg_error_exit;
    err.base.emit_message = imagejpeg_emit_message;
    if (setjmp(err.escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        if (err.too_many_scans)
            return log_cause(cause, "%s: JPEG with %s refused", name, err.message);
        return log_cause(cause, "%s: cannot decode JPEG: %s", name, err.message);
    }
    jpeg_create_decompress(&cinfo);
    /* Working memory beyond the decoded image itself (coefficient buffers of progressive files). */
    cinfo.mem->max_memory_to_use = 1024L * 1024 * 1024;
    progress.progress_monitor = imagejpeg_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);

    if (imagecheck_size(name, (long)cinfo.image_width, (long)cinfo.image_height, cause) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    /* The scan limit starts to count once the size is known. */
    double megapixels = (double)cinfo.image_width * cinfo.image_height / 1e6;
    err.max_scans = IMAGEJPEG_MAX_SCANS;
    if (megapixels * IMAGEJPEG_MAX_SCANS > IMAGEJPEG_MAX_SCAN_MEGAPIXELS)
        err.max_scans = (int)(IMAGEJPEG_MAX_SCAN_MEGAPIXELS / megapixels);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.do_block_smoothing = TRUE;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    int comps = cinfo.output_components;
    row = xmalloc((size_t)w * (size_t)comps);
    rgb = xmalloc((size_t)w * (size_t)h * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *out = rgb + (size_t)cinfo.output_scanline * (size_t)w * 3;
        JSAMPROW rows[1] = {cmyk ? row : out};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1)
            break;
        if (cmyk)
            imagejpeg_cmyk_row(out, row, w);
    }
    if (cinfo.output_scanline == cinfo.output_height)
        jpeg_finish_decompress(&cinfo);
    /* libjpeg pads a short file with grey and only warns: such a picture is not the user's. */
    if (cinfo.output_scanline < cinfo.output_height || err.data_missing) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(rgb);
        return log_cause(cause, "%s: truncated JPEG: %s", name,
                         err.data_missing ? err.warning : "the pixel data ends early");
    }
    jpeg_destroy_decompress(&cinfo);
    free(row);
    img->width = w;
    img->height = h;
    img->rgb = rgb;
    return 0;
}
