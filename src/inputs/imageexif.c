#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "imageexif.h"
#include "xmalloc.h"

/* A 16- or 32-bit TIFF number in the byte order of the EXIF block. */
static uint32_t
imageexif_get(const uint8_t *p, int bytes, int big)
{
    uint32_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint32_t)p[big ? i : bytes - 1 - i] << (8 * (bytes - 1 - i));
    return v;
}

/* The orientation tag of IFD0 in a TIFF block (optionally preceded by "Exif\0\0"). */
static int
imageexif_tiff(const uint8_t *p, size_t n)
{
    if (n >= 6 && memcmp(p, "Exif\0\0", 6) == 0) {
        p += 6;
        n -= 6;
    }
    if (n < 8 || !((p[0] == 'I' && p[1] == 'I') || (p[0] == 'M' && p[1] == 'M')))
        return 1;
    int big = p[0] == 'M';
    uint32_t ifd = imageexif_get(p + 4, 4, big);
    if (ifd > n || n - ifd < 2)
        return 1;
    uint32_t count = imageexif_get(p + ifd, 2, big);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e > n || n - e < 12)
            return 1;
        if (imageexif_get(p + e, 2, big) != 0x0112)
            continue;
        /* A SHORT (type 3) as the standard says, or a LONG (4), which PIL reads too. */
        uint32_t type = imageexif_get(p + e + 2, 2, big);
        if (type != 3 && type != 4)
            return 1;
        uint32_t v = imageexif_get(p + e + 8, type == 3 ? 2 : 4, big);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* JPEG: the first APP1 segment that holds EXIF, before the scan data. */
static int
imageexif_jpeg(const uint8_t *p, size_t n)
{
    size_t pos = 2;
    while (n - pos >= 4 && p[pos] == 0xFF) {
        uint8_t m = p[pos + 1];
        size_t len = (size_t)p[pos + 2] << 8 | p[pos + 3];
        if (m == 0xDA || m == 0xD9 || len < 2 || n - pos - 2 < len)
            return 1;
        if (m == 0xE1 && len >= 8 && memcmp(p + pos + 4, "Exif\0\0", 6) == 0)
            return imageexif_tiff(p + pos + 4, len - 2);
        pos += 2 + len;
    }
    return 1;
}

/* PNG: the eXIf chunk. */
static int
imageexif_png(const uint8_t *p, size_t n)
{
    size_t pos = 8;
    while (n - pos >= 12) {
        size_t len = imageexif_get(p + pos, 4, 1);
        if (len > n - pos - 12)
            return 1;
        if (memcmp(p + pos + 4, "eXIf", 4) == 0)
            return imageexif_tiff(p + pos + 8, len);
        if (memcmp(p + pos + 4, "IEND", 4) == 0)
            return 1;
        pos += 12 + len;
    }
    return 1;
}

/* WebP: the EXIF chunk of an extended file. */
static int
imageexif_webp(const uint8_t *p, size_t n)
{
    size_t pos = 12;
    while (n - pos >= 8) {
        size_t len = imageexif_get(p + pos + 4, 4, 0);
        if (len > n - pos - 8)
            return 1;
        if (memcmp(p + pos, "EXIF", 4) == 0)
            return imageexif_tiff(p + pos + 8, len);
        pos += 8 + len + (len & 1);
    }
    return 1;
}

int
imageexif_orientation(const uint8_t *p, size_t n)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 4 && p[0] == 0xFF && p[1] == 0xD8)
        return imageexif_jpeg(p, n);
    if (n >= 8 && memcmp(p, png_sig, 8) == 0)
        return imageexif_png(p, n);
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return imageexif_webp(p, n);
    return 1;
}

void
imageexif_apply(image_rgb *img, int orientation)
{
    if (orientation < 2 || orientation > 8)
        return;
    int w = img->width, h = img->height;
    int swap = orientation >= 5; /* 5..8 exchange width and height */
    int ow = swap ? h : w, oh = swap ? w : h;
    uint8_t *out = xmalloc((size_t)w * (size_t)h * 3);
    for (int y = 0; y < oh; y++) {
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            switch (orientation) {
            case 2: /* mirrored left-right */
                sx = w - 1 - x, sy = y;
                break;
            case 3: /* turned 180 degrees */
                sx = w - 1 - x, sy = h - 1 - y;
                break;
            case 4: /* mirrored top-bottom */
                sx = x, sy = h - 1 - y;
                break;
            case 5: /* transposed */
                sx = y, sy = x;
                break;
            case 6: /* turned 90 degrees clockwise to show */
                sx = y, sy = h - 1 - x;
                break;
            case 7: /* transversed */
                sx = w - 1 - y, sy = h - 1 - x;
                break;
            default: /* 8: turned 90 degrees anticlockwise to show */
                sx = w - 1 - y, sy = x;
                break;
            }
            memcpy(out + ((size_t)y * ow + x) * 3, img->rgb + ((size_t)sy * w + sx) * 3, 3);
        }
    }
    free(img->rgb);
    img->rgb = out;
    img->width = ow;
    img->height = oh;
}
