#!/usr/bin/python3
"""Write the small image fixtures of tests/fixtures/images/pil/ and what PIL makes of each.

Run once with Debian's python3-pil (Pillow 9.4, libjpeg-turbo 2.1.5, libwebp 1.2.4); the files are
committed, so the tests need no Python. For each NAME.EXT the reference NAME.ref.png holds the
pixels of ImageOps.exif_transpose(Image.open(NAME.EXT)).convert("RGB") -- except 16-bit files,
whose reference keeps each sample's high byte (imp-chat's documented choice; PIL clips 16-bit grey).
list.txt names the fixtures with their decoded width and height.
"""
import os
import struct
import subprocess
import sys
import tempfile

from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures", "images", "pil")
SOURCE = os.path.join(HERE, "..", "tests", "fixtures", "images", "chelsea.png")


def crop(w, h, x=180, y=60):
    return Image.open(SOURCE).convert("RGB").crop((x, y, x + w, y + h))


# PIL 9.4 cannot write restart markers: a few lines of libjpeg do (cc and libjpeg-dev needed).
RESTART_WRITER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>
int main(int argc, char **argv) {
    int w, h, maxval;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out || fscanf(in, "P6 %d %d %d", &w, &h, &maxval) != 3) return 1;
    fgetc(in);
    unsigned char *px = malloc((size_t)w * h * 3);
    if (fread(px, 3, (size_t)w * h, in) != (size_t)w * h) return 1;
    struct jpeg_compress_struct c; struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e); jpeg_create_compress(&c); jpeg_stdio_dest(&c, out);
    c.image_width = w; c.image_height = h; c.input_components = 3; c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c); jpeg_set_quality(&c, 90, TRUE); c.restart_interval = 2;
    jpeg_start_compress(&c, TRUE);
    for (int y = 0; y < h; y++) { JSAMPROW r = px + (size_t)y * w * 3; jpeg_write_scanlines(&c, &r, 1); }
    jpeg_finish_compress(&c); fclose(out); return 0;
}
"""


def save_with_restarts(im, path):
    with tempfile.TemporaryDirectory() as tmp:
        src, exe, ppm = (os.path.join(tmp, n) for n in ("w.c", "w", "in.ppm"))
        with open(src, "w") as f:
            f.write(RESTART_WRITER)
        subprocess.run(["cc", "-o", exe, src, "-ljpeg"], check=True)
        im.save(ppm)
        subprocess.run([exe, ppm, path], check=True)


def small_frame_gif(transparent):
    """A 6x5 GIF whose only frame (3x2 at 2,1) leaves most of the screen to be filled: PIL fills it
    with the transparent index, or index 0 -- not the background index (1 here)."""
    pal = bytes([10, 20, 30, 200, 100, 50, 0, 255, 0, 1, 2, 3])
    head = b"GIF89a" + struct.pack("<HH", 6, 5) + bytes([0x81, 1, 0]) + pal
    if transparent:
        head += b"\x21\xf9\x04\x01\x00\x00\x03\x00"
    codes, size, bits, nbits, data, nxt = [4, 2, 2, 2, 2, 2, 2, 5], 3, 0, 0, bytearray(), 6
    for i, c in enumerate(codes):
        bits |= c << nbits
        nbits += size
        while nbits >= 8:
            data.append(bits & 255)
            bits >>= 8
            nbits -= 8
        if c not in (4, 5) and i > 1:
            nxt += 1
            if nxt == 1 << size and size < 12:
                size += 1
    if nbits:
        data.append(bits & 255)
    frame = b"\x2c" + struct.pack("<HHHH", 2, 1, 3, 2) + b"\x00\x02" + bytes([len(data)]) + data
    return head + frame + b"\x00\x3b"


def reference(path):
    with Image.open(path) as im:
        im.seek(0)
        return ImageOps.exif_transpose(im).convert("RGB")


def high_byte_reference(im16):
    """An I;16 image as imp-chat reads it: the high byte of each sample, replicated to RGB."""
    grey = Image.frombytes("L", im16.size, bytes(v >> 8 for v in im16.getdata()))
    return grey.convert("RGB")


def main():
    os.makedirs(OUT, exist_ok=True)
    made = []

    def save(name, im, **kw):
        path = os.path.join(OUT, name)
        im.save(path, **kw)
        made.append((name, reference(path)))

    save("jpeg444.jpg", crop(61, 47), quality=90, subsampling=0)
    save("jpeg422.jpg", crop(61, 47), quality=90, subsampling=1)
    save("jpeg420.jpg", crop(63, 45), quality=85, subsampling=2)
    save("jpeg411odd.jpg", crop(33, 17, 200, 90), quality=75, subsampling=2)
    path = os.path.join(OUT, "jpegrestart.jpg")
    save_with_restarts(crop(53, 41), path)
    made.append(("jpegrestart.jpg", reference(path)))
    save("jpegprog.jpg", crop(77, 51), quality=85, progressive=True)
    save("jpeggrey.jpg", crop(61, 47).convert("L"), quality=90)
    save("jpegcmyk.jpg", crop(41, 29).convert("CMYK"), quality=90)
    save("webplossy.webp", crop(61, 47), quality=80)
    save("webplossless.webp", crop(61, 47), lossless=True)
    frames = [crop(45, 33), crop(45, 33, 10, 10)]
    save("webpanim.webp", frames[0], save_all=True, append_images=frames[1:], duration=100,
         lossless=True)
    for n in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = n
        save("exif%d.jpg" % n, crop(40, 24), quality=95, exif=exif.tobytes())
    # orientation stored as a LONG rather than the standard SHORT: PIL honours it too
    long6 = b"II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x04\x00\x01\x00\x00\x00\x06\x00\x00\x00" \
            b"\x00\x00\x00\x00"
    save("exif6long.jpg", crop(40, 24), quality=95, exif=b"Exif\x00\x00" + long6)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif6.png", crop(20, 12), exif=exif.tobytes())
    save("exif8.webp", crop(20, 12), lossless=True, exif=exif.tobytes().replace(
        b"\x12\x01\x03\x00\x01\x00\x00\x00\x06", b"\x12\x01\x03\x00\x01\x00\x00\x00\x08"))
    pal = crop(37, 23).quantize(16)
    save("gifalpha.gif", pal, transparency=3)
    for name, transparent in (("gifframe.gif", False), ("gifframetrns.gif", True)):
        path = os.path.join(OUT, name)
        with open(path, "wb") as f:
            f.write(small_frame_gif(transparent))
        made.append((name, reference(path)))
    save("bmp24.bmp", crop(37, 23))
    save("tga24.tga", crop(37, 23))
    save("tgarle.tga", crop(37, 23), compression="tga_rle")
    save("ppm8.ppm", crop(37, 23))
    save("pgm8.pgm", crop(37, 23).convert("L"))

    # 16-bit grey PNG and PGM: the reference is the high byte (PIL would clip to 255)
    grey16 = Image.new("I;16", (29, 19))
    grey16.putdata([(x * 2311 + y * 977) % 65536 for y in range(19) for x in range(29)])
    grey16.save(os.path.join(OUT, "grey16.png"))
    made.append(("grey16.png", high_byte_reference(grey16)))
    with open(os.path.join(OUT, "pgm16.pgm"), "wb") as f:  # PIL cannot write 16-bit PGM
        f.write(b"P5\n# 16-bit\n29 19\n65535\n")
        f.write(b"".join(v.to_bytes(2, "big") for v in grey16.getdata()))
    made.append(("pgm16.pgm", high_byte_reference(grey16)))

    # what --preprocess must write for a few: PIL's 384x384 bicubic resize of the reference
    for name in ("jpeg422.jpg", "exif6.jpg", "webplossy.webp", "gifalpha.gif"):
        ref = dict(made)[name]
        ref.resize((384, 384), Image.BICUBIC, reducing_gap=None).save(
            os.path.join(OUT, name + ".384.ref.png"))

    with open(os.path.join(OUT, "list.txt"), "w") as f:
        for name, ref in made:
            ref.save(os.path.join(OUT, name + ".ref.png"))
            f.write("%s %d %d\n" % (name, ref.width, ref.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
