#include "config.h"

#include <assert.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "imagecache.h"
#include "xmalloc.h"

typedef struct {
    int live;               /* holds pixels or features; a free slot is reused */
    unsigned char hash[32]; /* SHA-256 of the original size and the resized pixels */
    char *name;
    float *pixels;          /* (3, image, image) on the host, until encoded (unless kept) */
    float *features;        /* (patches, hidden) on the backend, once encoded */
    int refs;
    unsigned long used;     /* the cache's clock at the last add or reference */
} imagecache_slot;

struct imagecache {
    backend *be;
    int side;               /* the model's image size */
    size_t pixel_bytes, feature_bytes;
    imagecache_slot *slots;
    int nslots;
    size_t bytes, limit;
    unsigned long clock;
    int evicted;
    int keep_pixels;        /* pixels stay after encoding */
};

imagecache *
imagecache_new(backend *be, const imp_config *cfg, size_t limit)
{
    imagecache *c = xcalloc(1, sizeof *c);
    c->be = be;
    c->side = cfg->vis_image;
    c->pixel_bytes = (size_t)3 * cfg->vis_image * cfg->vis_image * sizeof(float);
    c->feature_bytes = (size_t)cfg->vis_patches * cfg->hidden * sizeof(float);
    c->limit = limit;
    return c;
}

/* Free a slot's data; its number may be given to the next new picture. */
static void
imagecache_slot_clear(imagecache *c, imagecache_slot *s)
{
    if (s->pixels != NULL)
        c->bytes -= c->pixel_bytes;
    if (s->features != NULL) {
        c->bytes -= c->feature_bytes;
        c->be->ops->buf_free(c->be, s->features);
    }
    free(s->pixels);
    free(s->name);
    memset(s, 0, sizeof *s);
}

void
imagecache_free(imagecache *c)
{
    if (c == NULL)
        return;
    for (int i = 0; i < c->nslots; i++)
        imagecache_slot_clear(c, &c->slots[i]);
    free(c->slots);
    free(c);
}

/* Free unreferenced slots, least recently used first, until the bytes are within the limit. */
static void
imagecache_trim(imagecache *c)
{
    while (c->bytes > c->limit) {
        imagecache_slot *oldest = NULL;
        for (int i = 0; i < c->nslots; i++) {
            imagecache_slot *s = &c->slots[i];
            if (s->live && s->refs == 0 && (oldest == NULL || s->used < oldest->used))
                oldest = s;
        }
        if (oldest == NULL)
            return; /* everything left is in use: the conversation needs it */
        imagecache_slot_clear(c, oldest);
        c->evicted++;
    }
}

int
imagecache_add_rgb(imagecache *c, const image_rgb *img, const char *name)
{
    image_rgb sized;
    image_resize_bicubic(&sized, img, c->side, c->side);

    /* the content hash covers what the model sees plus the original size */
    unsigned char hash[32];
    gsize hlen = sizeof hash;
    GChecksum *sum = g_checksum_new(G_CHECKSUM_SHA256);
    int dims[2] = {img->width, img->height};
    g_checksum_update(sum, (const guchar *)dims, sizeof dims);
    g_checksum_update(sum, sized.rgb, (gssize)((size_t)c->side * c->side * 3));
    g_checksum_get_digest(sum, hash, &hlen);
    g_checksum_free(sum);

    int slot = -1, free_slot = -1;
    for (int i = 0; i < c->nslots && slot < 0; i++) {
        if (c->slots[i].live && memcmp(c->slots[i].hash, hash, sizeof hash) == 0)
            slot = i;
        else if (!c->slots[i].live && free_slot < 0)
            free_slot = i;
    }
    if (slot < 0) {
        if (free_slot < 0) {
            c->slots = xreallocarray(c->slots, (size_t)c->nslots + 1, sizeof *c->slots);
            free_slot = c->nslots++;
        }
        slot = free_slot;
        imagecache_slot *s = &c->slots[slot];
        memset(s, 0, sizeof *s);
        s->live = 1;
        memcpy(s->hash, hash, sizeof hash);
        s->name = xstrdup(name);
        s->pixels = xmalloc(c->pixel_bytes);
        image_normalize(&sized, s->pixels);
        c->bytes += c->pixel_bytes;
    }
    image_free(&sized);
    c->slots[slot].refs++;
    c->slots[slot].used = ++c->clock;
    imagecache_trim(c);
    return slot;
}

int
imagecache_add(imagecache *c, const char *path, char **cause)
{
    image_rgb img;
    if (image_load(&img, path, cause) != 0)
        return -1;
    int slot = imagecache_add_rgb(c, &img, path);
    image_free(&img);
    return slot;
}

void
imagecache_ref(imagecache *c, int slot)
{
    assert(slot >= 0 && slot < c->nslots && c->slots[slot].live);
    c->slots[slot].refs++;
    c->slots[slot].used = ++c->clock;
}

void
imagecache_unref(imagecache *c, int slot)
{
    assert(slot >= 0 && slot < c->nslots && c->slots[slot].refs > 0);
    c->slots[slot].refs--;
    imagecache_trim(c);
}

const float *
imagecache_pixels_borrow(const imagecache *c, int slot)
{
    return c->slots[slot].pixels;
}

const float *
imagecache_features_borrow(imagecache *c, int slot)
{
    c->slots[slot].used = ++c->clock;
    return c->slots[slot].features;
}

void
imagecache_set_features(imagecache *c, int slot, float *features)
{
    imagecache_slot *s = &c->slots[slot];
    assert(s->features == NULL);
    s->features = features;
    c->bytes += c->feature_bytes;
    if (s->pixels != NULL && !c->keep_pixels) {
        free(s->pixels);
        s->pixels = NULL;
        c->bytes -= c->pixel_bytes;
    }
    imagecache_trim(c);
}

void
imagecache_keep_pixels(imagecache *c)
{
    c->keep_pixels = 1;
}

void
imagecache_move(imagecache *c, backend *be)
{
    assert(c->keep_pixels);
    for (int i = 0; i < c->nslots; i++) {
        imagecache_slot *s = &c->slots[i];
        if (s->features != NULL) {
            c->be->ops->buf_free(c->be, s->features);
            s->features = NULL;
            c->bytes -= c->feature_bytes;
        }
    }
    c->be = be;
}

const char *
imagecache_name(const imagecache *c, int slot)
{
    return c->slots[slot].name;
}

void
imagecache_set_limit(imagecache *c, size_t limit)
{
    c->limit = limit;
    imagecache_trim(c);
}

void
imagecache_get_stats(const imagecache *c, imagecache_stats *st)
{
    memset(st, 0, sizeof *st);
    for (int i = 0; i < c->nslots; i++) {
        const imagecache_slot *s = &c->slots[i];
        if (!s->live)
            continue;
        st->images++;
        st->encoded += s->features != NULL;
        st->in_use += s->refs > 0;
    }
    st->bytes = c->bytes;
    st->limit = c->limit;
    st->evicted = c->evicted;
}
