#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "image.h"
#include "imagecheck.h"
#include "imagewebp.h"
#include "log.h"
#include "xmalloc.h"

/* Decode one still WebP bitstream (a whole file or an animation frame) into img. */
static int
imagewebp_still(image_rgb *img, const uint8_t *data, size_t len, const char *name, char **cause)
{
    int w, h;
    if (!WebPGetInfo(data, len, &w, &h))
        return log_cause(cause, "%s: corrupt or truncated WebP", name);
    if (imagecheck_size(name, w, h, cause) != 0)
        return -1;
    size_t bytes = (size_t)w * (size_t)h * 3;
    uint8_t *rgb = xmalloc(bytes);
    if (WebPDecodeRGBInto(data, len, rgb, bytes, w * 3) == NULL) {
        free(rgb);
        return log_cause(cause, "%s: corrupt or truncated WebP", name);
    }
    img->width = w;
    img->height = h;
    img->rgb = rgb;
    return 0;
}

int
imagewebp_decode(image_rgb *img, const uint8_t *data, size_t len, const char *name, char **cause)
{
    WebPBitstreamFeatures features;

    img->width = img->height = 0;
    img->rgb = NULL;
    if (WebPGetFeatures(data, len, &features) != VP8_STATUS_OK)
        return log_cause(cause, "%s: corrupt or truncated WebP", name);
    if (!features.has_animation)
        return imagewebp_still(img, data, len, name, cause);

    /* An animation: its canvas size is checked, then the first frame is decoded. */
    WebPData whole = {data, len};
    WebPDemuxer *demux = WebPDemux(&whole);
    if (demux == NULL)
        return log_cause(cause, "%s: corrupt or truncated animated WebP", name);
    long cw = (long)WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
    long ch = (long)WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
    if (imagecheck_size(name, cw, ch, cause) != 0) {
        WebPDemuxDelete(demux);
        return -1;
    }
    WebPIterator it;
    if (!WebPDemuxGetFrame(demux, 1, &it)) {
        WebPDemuxDelete(demux);
        return log_cause(cause, "%s: animated WebP without a frame", name);
    }
    image_rgb frame;
    int rc = imagewebp_still(&frame, it.fragment.bytes, it.fragment.size, name, cause);
    if (rc == 0 &&
        (it.x_offset != 0 || it.y_offset != 0 || frame.width != cw || frame.height != ch)) {
        /* A first frame smaller than the canvas: place it on a black canvas. */
        uint8_t *canvas = xcalloc((size_t)cw * (size_t)ch, 3);
        for (int y = 0; y < frame.height && it.y_offset + y < ch; y++) {
            int n = frame.width;
            if (it.x_offset + n > cw)
                n = (int)cw - it.x_offset;
            if (n > 0)
                memcpy(canvas + ((size_t)(it.y_offset + y) * cw + it.x_offset) * 3,
                       frame.rgb + (size_t)y * frame.width * 3, (size_t)n * 3);
        }
        image_free(&frame);
        frame.rgb = canvas;
        frame.width = (int)cw;
        frame.height = (int)ch;
    }
    WebPDemuxReleaseIterator(&it);
    WebPDemuxDelete(demux);
    if (rc == 0)
        *img = frame;
    return rc;
}
