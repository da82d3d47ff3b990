#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <stb_image.h>

#include "image.h"
#include "imagecheck.h"
#include "log.h"
#include "xmalloc.h"

/* Big-endian 32-bit read. */
static uint32_t
imagecheck_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Little-endian 16-bit read. */
static uint32_t
imagecheck_le16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

/* Little-endian 32-bit read. */
static uint32_t
imagecheck_le32(const uint8_t *p)
{
    return imagecheck_le16(p) | imagecheck_le16(p + 2) << 16;
}

int
imagecheck_size(const char *name, long width, long height, char **cause)
{
    if (width <= 0 || height <= 0)
        return log_cause(cause, "%s: image has no pixels (%ldx%ld)", name, width, height);
    if (width > IMAGE_MAX_SIDE || height > IMAGE_MAX_SIDE || width * height > IMAGE_MAX_PIXELS)
        return log_cause(cause, "%s: %ldx%ld is too large: at most %d a side and 64 megapixels",
                         name, width, height, IMAGE_MAX_SIDE);
    return 0;
}

/* ---------------------------------------------------------------- PNM */

/* Skip whitespace and comments, then read a decimal number; -1 when there is none or it is huge. */
static long
imagecheck_pnm_number(const uint8_t *p, size_t n, size_t *pos)
{
    for (;;) {
        while (*pos < n && strchr(" \t\r\n\v\f", p[*pos]) != NULL && p[*pos] != 0)
            (*pos)++;
        if (*pos < n && p[*pos] == '#') {
            while (*pos < n && p[*pos] != '\n' && p[*pos] != '\r')
                (*pos)++;
            continue;
        }
        break;
    }
    if (*pos >= n || p[*pos] < '0' || p[*pos] > '9')
        return -1;
    long v = 0;
    while (*pos < n && p[*pos] >= '0' && p[*pos] <= '9') {
        /* Anything past a billion is refused here rather than overflowing. */
        if (v > 1000000000L)
            return -2;
        v = v * 10 + (p[*pos] - '0');
        (*pos)++;
    }
    return v;
}

int
imagecheck_pnm_header(const uint8_t *p, size_t n, const char *name, imagecheck_pnm *h, char **cause)
{
    size_t pos = 2;
    h->channels = p[1] == '5' ? 1 : 3;
    h->width = imagecheck_pnm_number(p, n, &pos);
    h->height = h->width >= 0 ? imagecheck_pnm_number(p, n, &pos) : -1;
    h->maxval = h->height >= 0 ? imagecheck_pnm_number(p, n, &pos) : -1;
    if (h->width == -2 || h->height == -2 || h->maxval == -2)
        return log_cause(cause, "%s: PNM header with an absurd number (more than a billion)", name);
    if (h->maxval < 0 || pos >= n)
        return log_cause(cause, "%s: truncated PNM header", name);
    if (h->maxval != 255 && h->maxval != 65535)
        return log_cause(cause,
                         "%s: unsupported PNM maximum value %ld (only 255 and 65535 are accepted)",
                         name, h->maxval);
    if (strchr(" \t\r\n\v\f", p[pos]) == NULL || p[pos] == 0)
        return log_cause(cause, "%s: bad PNM header (no white space after the maximum value)", name);
    h->data = pos + 1; /* exactly one whitespace byte ends the header */
    return 0;
}

/* ---------------------------------------------------------------- sniffing */

int
imagecheck_sniff(const uint8_t *p, size_t n, const char *name, imagecheck_format *format,
                 char **cause)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    int w, h, comp;

    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
        *format = IMAGECHECK_JPEG;
    else if (n >= 8 && memcmp(p, png_sig, 8) == 0)
        *format = IMAGECHECK_PNG;
    else if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        *format = IMAGECHECK_WEBP;
    else if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        *format = IMAGECHECK_GIF;
    else if (n >= 2 && p[0] == 'B' && p[1] == 'M')
        *format = IMAGECHECK_BMP;
    else if (n >= 2 && p[0] == 'P' && (p[1] == '5' || p[1] == '6'))
        *format = IMAGECHECK_PNM;
    else if (n >= 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '7')
        return log_cause(cause,
                         "%s: unsupported PNM variant P%c (accepted: P5 and P6); supported "
                         "formats: %s",
                         name, p[1], IMAGECHECK_SUPPORTED);
    else if ((n >= 2 && memcmp(p, "#?", 2) == 0) || (n >= 4 && memcmp(p, "8BPS", 4) == 0) ||
             (n >= 4 && imagecheck_be32(p) == 0x5380F634u))
        return log_cause(cause, "%s: unsupported image format (%s); supported formats: %s", name,
                         p[0] == '#'   ? "Radiance HDR"
                         : p[0] == '8' ? "PSD"
                                       : "Softimage PIC",
                         IMAGECHECK_SUPPORTED);
    else if (n >= 18 && p[1] <= 1 && p[2] != 0 && strchr("\x01\x02\x03\x09\x0a\x0b", p[2]) &&
             stbi_info_from_memory(p, (int)(n > 0x7FFFFFFF ? 0x7FFFFFFF : n), &w, &h, &comp))
        *format = IMAGECHECK_TGA; /* TGA has no signature; stb_image's own test decides */
    else
        return log_cause(cause, "%s: not an image in a supported format (%s)", name,
                         IMAGECHECK_SUPPORTED);
    return 0;
}

/* ---------------------------------------------------------------- completeness per format */

/* Walk the JPEG marker segments and entropy-coded data up to the end-of-image marker. */
static int
imagecheck_jpeg(const uint8_t *p, size_t n, const char *name, char **cause)
{
    size_t pos = 2; /* after SOI */
    for (;;) {
        /* Skip stray bytes (libjpeg does too) and fill bytes before a marker. */
        while (pos < n && p[pos] != 0xFF)
            pos++;
        while (pos < n && p[pos] == 0xFF)
            pos++;
        if (pos >= n)
            break;
        uint8_t m = p[pos++];
        if (m == 0xD9)
            return 0;
        /* Markers without a length field. */
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7))
            continue;
        if (n - pos < 2)
            break;
        size_t len = (size_t)p[pos] << 8 | p[pos + 1];
        if (len < 2)
            return 0; /* malformed, not short: the decoder reports it */
        if (n - pos < len)
            break;
        pos += len;
        if (m != 0xDA)
            continue;
        /* Scan data runs to the next marker that is neither a stuffed 0xFF00 nor a restart. */
        for (;;) {
            const uint8_t *ff = pos < n ? memchr(p + pos, 0xFF, n - pos) : NULL;
            if (ff == NULL)
                return log_cause(cause, "%s: truncated JPEG (no end-of-image marker)", name);
            size_t q = (size_t)(ff - p) + 1;
            while (q < n && p[q] == 0xFF)
                q++;
            if (q >= n)
                return log_cause(cause, "%s: truncated JPEG (no end-of-image marker)", name);
            if (p[q] == 0x00 || (p[q] >= 0xD0 && p[q] <= 0xD7)) {
                pos = q + 1;
                continue;
            }
            pos = q - 1; /* the 0xFF just before the marker byte */
            break;
        }
    }
    return log_cause(cause, "%s: truncated JPEG (no end-of-image marker)", name);
}

/* Walk the PNG chunks up to IEND. */
static int
imagecheck_png(const uint8_t *p, size_t n, const char *name, char **cause)
{
    size_t pos = 8; /* after the signature */
    for (;;) {
        if (n - pos < 8)
            return log_cause(cause, "%s: truncated PNG (no IEND chunk)", name);
        size_t len = imagecheck_be32(p + pos);
        if (len > 0x7FFFFFFFu)
            return 0; /* malformed, not short: the decoder reports it */
        if (n - pos - 8 < len + 4)
            return log_cause(cause, "%s: truncated PNG (the file ends inside a chunk)", name);
        if (memcmp(p + pos + 4, "IEND", 4) == 0)
            return 0;
        pos += 12 + len;
    }
}

/* A BMP must hold the rows its header declares (uncompressed and bit-field layouts). */
static int
imagecheck_bmp(const uint8_t *p, size_t n, const char *name, char **cause)
{
    if (n < 26)
        return log_cause(cause, "%s: truncated BMP header", name);
    uint32_t offset = imagecheck_le32(p + 10), hsz = imagecheck_le32(p + 14);
    long w, h;
    uint32_t bpp, compression = 0;
    if (hsz == 12) {
        w = (long)imagecheck_le16(p + 18);
        h = (long)imagecheck_le16(p + 20);
        bpp = imagecheck_le16(p + 24);
    } else {
        if (n < 34)
            return log_cause(cause, "%s: truncated BMP header", name);
        w = (long)(int32_t)imagecheck_le32(p + 18);
        h = (long)(int32_t)imagecheck_le32(p + 22);
        bpp = imagecheck_le16(p + 28);
        compression = imagecheck_le32(p + 30);
    }
    if (h < 0)
        h = -h; /* top-down rows */
    if (imagecheck_size(name, w, h, cause) != 0)
        return -1;
    if (compression != 0 && compression != 3 && compression != 6)
        return 0; /* run-length data: the decoder refuses it */
    if (bpp == 0 || bpp > 32)
        return 0;
    unsigned long long row = ((unsigned long long)w * bpp + 31) / 32 * 4;
    unsigned long long need = (unsigned long long)offset + row * (unsigned long long)h;
    if (need > n)
        return log_cause(cause, "%s: truncated BMP: %llu bytes of pixel data expected, %zu found",
                         name, row * (unsigned long long)h, n > offset ? n - offset : 0);
    return 0;
}

/* A TGA must hold every pixel: raw data by size, run-length data by walking its packets. */
static int
imagecheck_tga(const uint8_t *p, size_t n, const char *name, char **cause)
{
    long w = (long)imagecheck_le16(p + 12), h = (long)imagecheck_le16(p + 14);
    if (imagecheck_size(name, w, h, cause) != 0)
        return -1;
    size_t bytes = ((size_t)p[16] + 7) / 8;
    size_t cmap = p[1] ? (size_t)imagecheck_le16(p + 5) * (((size_t)p[7] + 7) / 8) : 0;
    size_t pos = 18 + (size_t)p[0] + cmap;
    unsigned long long total = (unsigned long long)w * (unsigned long long)h;
    if (bytes == 0)
        return 0; /* malformed: the decoder refuses it */
    if (p[2] < 8) {
        if (pos > n || (n - pos) / bytes < total)
            return log_cause(cause, "%s: truncated TGA: %llu pixels declared, the data ends early",
                             name, total);
        return 0;
    }
    unsigned long long seen = 0;
    while (seen < total) {
        if (pos >= n)
            return log_cause(cause, "%s: truncated TGA: %llu of %llu pixels present", name, seen,
                             total);
        uint8_t head = p[pos++];
        size_t count = (size_t)(head & 0x7F) + 1;
        size_t data = head & 0x80 ? bytes : bytes * count;
        if (n - pos < data)
            return log_cause(cause, "%s: truncated TGA: %llu of %llu pixels present", name, seen,
                             total);
        pos += data;
        seen += count;
    }
    return 0;
}

/* A P5/P6 file must hold width x height samples after its header. */
static int
imagecheck_pnm_data(const uint8_t *p, size_t n, const char *name, char **cause)
{
    imagecheck_pnm h = {0};
    if (imagecheck_pnm_header(p, n, name, &h, cause) != 0)
        return -1;
    if (imagecheck_size(name, h.width, h.height, cause) != 0)
        return -1;
    unsigned long long need = (unsigned long long)h.width * (unsigned long long)h.height *
                              (unsigned long long)h.channels * (h.maxval > 255 ? 2u : 1u);
    if (h.data > n || n - h.data < need)
        return log_cause(cause, "%s: truncated PNM: %llu bytes of pixel data expected, %zu found",
                         name, need, h.data > n ? 0 : n - h.data);
    return 0;
}

/* Skip a chain of GIF data sub-blocks from *pos; 0 at the terminator, -1 when the data ends. */
static int
imagecheck_gif_blocks(const uint8_t *p, size_t n, size_t *pos)
{
    for (;;) {
        if (*pos >= n)
            return -1;
        size_t size = p[(*pos)++];
        if (size == 0)
            return 0;
        if (n - *pos < size)
            return -1;
        *pos += size;
    }
}

/*
 * Count the pixels an LZW stream of GIF data sub-blocks (starting at pos, after the minimum code
 * size) produces, without producing them: only the length of each table entry is kept. Stops at
 * the end code, at a bad code or at the block terminator; stops early once want pixels are seen.
 */
static unsigned long long
imagecheck_gif_lzw_count(const uint8_t *p, size_t n, size_t pos, int min_size,
                         unsigned long long want)
{
    uint32_t lengths[4096]; /* on the stack: images load in several threads */
    unsigned long long out = 0;
    uint32_t clear = 1u << min_size, next = clear + 2, bits = 0, nbits = 0;
    int size = min_size + 1, prev = -1;
    size_t block = 0; /* bytes left in the current sub-block */

    for (uint32_t i = 0; i < clear; i++)
        lengths[i] = 1;
    while (out < want) {
        while (nbits < (uint32_t)size) {
            if (block == 0) {
                if (pos >= n || p[pos] == 0)
                    return out;
                block = p[pos++];
            }
            if (pos >= n)
                return out;
            bits |= (uint32_t)p[pos++] << nbits;
            nbits += 8;
            block--;
        }
        uint32_t code = bits & ((1u << size) - 1);
        bits >>= size;
        nbits -= (uint32_t)size;
        if (code == clear) {
            next = clear + 2;
            size = min_size + 1;
            prev = -1;
            continue;
        }
        if (code == clear + 1)
            return out;
        uint32_t len;
        if (prev < 0) {
            if (code >= clear)
                return out; /* a first code must be a root */
            len = 1;
        } else if (code < next) {
            len = lengths[code];
        } else if (code == next) {
            len = lengths[prev] + 1;
        } else {
            return out; /* a code not yet defined: the decoder stops here too */
        }
        out += len;
        if (prev >= 0 && next < 4096) {
            lengths[next] = lengths[prev] + 1;
            next++;
            if (next == (1u << size) && size < 12)
                size++;
        }
        prev = (int)code;
    }
    return out;
}

/*
 * Walk a GIF's blocks to the end of the first image's data. With patch set, the transparency
 * flags of graphic control extensions before that image are cleared in place. Returns 0 when
 * the first image's data is whole, 1 when the file ends first, 2 when it is malformed.
 */
static int
imagecheck_gif_walk(uint8_t *patch, const uint8_t *p, size_t n)
{
    if (n < 13)
        return 1;
    size_t pos = 13;
    if (p[10] & 0x80)
        pos += 3 * ((size_t)2 << (p[10] & 7));
    for (;;) {
        if (pos >= n)
            return 1;
        uint8_t kind = p[pos++];
        if (kind == 0x21) {
            if (pos >= n)
                return 1;
            uint8_t label = p[pos++];
            if (label == 0xF9 && pos + 2 < n && p[pos] == 4 && patch != NULL)
                patch[pos + 1] &= (uint8_t)~1u;
            if (imagecheck_gif_blocks(p, n, &pos) != 0)
                return 1;
        } else if (kind == 0x2C) {
            if (n - pos < 10)
                return 1;
            unsigned long long pixels =
                (unsigned long long)imagecheck_le16(p + pos + 4) * imagecheck_le16(p + pos + 6);
            uint8_t flags = p[pos + 8];
            pos += 9;
            if (flags & 0x80)
                pos += 3 * ((size_t)2 << (flags & 7));
            if (pos >= n)
                return 1;
            int min_size = p[pos++]; /* LZW minimum code size */
            if (min_size < 2 || min_size > 11)
                return 2;
            size_t data = pos;
            if (imagecheck_gif_blocks(p, n, &pos) != 0)
                return 1;
            /* Whole blocks can still hold too few codes: stb_image leaves those pixels blank. */
            if (patch == NULL && imagecheck_gif_lzw_count(p, n, data, min_size, pixels) < pixels)
                return 1;
            return 0;
        } else {
            return 2; /* a trailer before any image, or garbage: the decoder reports it */
        }
    }
}

/* A GIF's first image must reach the terminator of its data sub-blocks. */
static int
imagecheck_gif(const uint8_t *p, size_t n, const char *name, char **cause)
{
    if (n < 13)
        return log_cause(cause, "%s: truncated GIF header", name);
    if (imagecheck_size(name, (long)imagecheck_le16(p + 6), (long)imagecheck_le16(p + 8), cause) !=
        0)
        return -1;
    if (imagecheck_gif_walk(NULL, p, n) == 1)
        return log_cause(cause, "%s: truncated GIF: the first image's data ends early", name);
    return 0;
}

int
imagecheck_gif_first_frame(const uint8_t *p, size_t n, imagecheck_gif_frame *frame)
{
    const uint8_t *palette = NULL;
    size_t colours = 0, pos = 13;
    int fill_index = 0;

    if (n < 13)
        return -1;
    if (p[10] & 0x80) {
        palette = p + 13;
        colours = (size_t)2 << (p[10] & 7);
        pos += 3 * colours;
    }
    while (pos < n) {
        uint8_t kind = p[pos++];
        if (kind == 0x21) {
            if (pos >= n)
                return -1;
            uint8_t label = p[pos++];
            /* graphic control: size 4, flags, delay (2), transparent index */
            if (label == 0xF9 && n - pos > 4 && p[pos] == 4 && (p[pos + 1] & 1))
                fill_index = p[pos + 4];
            if (imagecheck_gif_blocks(p, n, &pos) != 0)
                return -1;
        } else if (kind == 0x2C) {
            if (n - pos < 9)
                return -1;
            frame->x = (int)imagecheck_le16(p + pos);
            frame->y = (int)imagecheck_le16(p + pos + 2);
            frame->width = (int)imagecheck_le16(p + pos + 4);
            frame->height = (int)imagecheck_le16(p + pos + 6);
            uint8_t flags = p[pos + 8];
            if (flags & 0x80) {
                palette = p + pos + 9;
                colours = (size_t)2 << (flags & 7);
            }
            memset(frame->fill, 0, 3);
            if (palette != NULL && (size_t)fill_index < colours &&
                (size_t)(palette - p) + 3 * colours <= n)
                memcpy(frame->fill, palette + 3 * fill_index, 3);
            return 0;
        } else {
            return -1;
        }
    }
    return -1;
}

uint8_t *
imagecheck_gif_opaque_new(const uint8_t *p, size_t n)
{
    uint8_t *copy = xmalloc(n);
    memcpy(copy, p, n);
    imagecheck_gif_walk(copy, p, n);
    if (memcmp(copy, p, n) == 0) {
        free(copy);
        return NULL;
    }
    return copy;
}

int
imagecheck_complete(imagecheck_format format, const uint8_t *p, size_t n, const char *name,
                    char **cause)
{
    switch (format) {
    case IMAGECHECK_JPEG:
        return imagecheck_jpeg(p, n, name, cause);
    case IMAGECHECK_PNG:
        return imagecheck_png(p, n, name, cause);
    case IMAGECHECK_BMP:
        return imagecheck_bmp(p, n, name, cause);
    case IMAGECHECK_TGA:
        return imagecheck_tga(p, n, name, cause);
    case IMAGECHECK_PNM:
        return imagecheck_pnm_data(p, n, name, cause);
    case IMAGECHECK_GIF:
        return imagecheck_gif(p, n, name, cause);
    case IMAGECHECK_WEBP:
        return 0; /* libwebp checks its own data */
    }
    return 0;
}
