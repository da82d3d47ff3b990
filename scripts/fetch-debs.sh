#!/bin/sh
# Prepare .deps/ (git-ignored) for scripts/gpu-check.sh on a GPU machine that has a compiler and
# CUDA but neither network nor the build's libraries:
#   .deps/debs/   the Debian packages of the libraries, their headers and everything their .pc
#                 files require (plus pkgconf and make, used there only when missing), fetched
#                 with apt-get download and checked with pkg-config after unpacking;
#   .deps/gen/    the generated build system (configure, Makefile.in, ...), so no autotools are
#                 needed there, with a stamp of the configure.ac and Makefile.am it came from.
# Run it on Debian or Ubuntu with network, from anywhere in the tree: scripts/fetch-debs.sh
set -eu
cd "$(dirname "$0")/.."

PACKAGES="libjansson-dev libjansson4
libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3
libstb-dev libstb0
libjpeg-dev libjpeg62-turbo-dev libjpeg62-turbo
libwebp-dev libwebp7 libwebpmux3 libwebpdemux2
libncurses-dev libncursesw6 libtinfo6
libchafa-dev libchafa0
libglib2.0-dev libglib2.0-0 libglib2.0-dev-bin
libffi-dev libffi8 libmount-dev libmount1 libblkid-dev libblkid1
libselinux1-dev libselinux1 libsepol-dev libsepol2 zlib1g-dev zlib1g
pkgconf pkgconf-bin libpkgconf3 make"
# what configure asks pkg-config for, and what those modules require
MODULES="jansson libpcre2-8 stb libjpeg libwebp libwebpdemux ncursesw chafa glib-2.0 gio-2.0 gobject-2.0"

rm -rf .deps/debs .deps/gen
mkdir -p .deps/debs .deps/gen
# shellcheck disable=SC2086
(cd .deps/debs && apt-get download $PACKAGES)

# every module resolves from the unpacked packages alone
check=$(mktemp -d)
trap 'rm -rf "$check"' EXIT
for deb in .deps/debs/*.deb; do
    dpkg-deb -x "$deb" "$check"
done
# shellcheck disable=SC2086
if ! PKG_CONFIG_LIBDIR="$check/usr/lib/x86_64-linux-gnu/pkgconfig:$check/usr/share/pkgconfig" \
    PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR="$check" \
    pkg-config --print-errors --cflags --libs $MODULES >/dev/null; then
    echo "fetch-debs: a module above is missing from the packages; add its package" >&2
    exit 1
fi

# the generated build system, from the current configure.ac and Makefile.am
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
    autoreconf -fi
fi
tar -czf .deps/gen/buildsys.tar.gz configure Makefile.in config.h.in aclocal.m4 build-aux
sha256sum configure.ac Makefile.am >.deps/gen/stamp
set -- .deps/debs/*.deb
echo "fetch-debs: $# packages, $(du -sh .deps | cut -f1) in .deps"
