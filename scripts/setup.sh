#!/bin/sh
# Install what the build needs (Debian/Ubuntu, with sudo when not root), then configure and build.
# Usage: scripts/setup.sh [configure options]
set -e
cd "$(dirname "$0")/.."

PACKAGES="build-essential autoconf automake pkg-config libjansson-dev libpcre2-dev libstb-dev
libchafa-dev libglib2.0-dev libncurses-dev libopenblas-dev libutf8proc-dev libjpeg-dev libwebp-dev"
# downloading the model; the fake hub of the download tests
PACKAGES="$PACKAGES libcurl4-openssl-dev python3"
# the chat's screen tests run it in a private tmux server; terminfo for TERM fallbacks
PACKAGES="$PACKAGES tmux ncurses-base procps"
# the graphics test: sixel in a real xterm under a virtual X display, read back with xwd
PACKAGES="$PACKAGES xvfb xterm x11-apps"
# --enable-fuzzing: clang and its libFuzzer and sanitizer runtimes
case " $* " in
*" --enable-fuzzing "*) PACKAGES="$PACKAGES clang libclang-rt-dev" ;;
esac

missing=
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    sudo=
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    echo "setup: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
fi

if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
    autoreconf -fi
fi
if [ ! -f Makefile ] || [ -n "$*" ] || [ configure -nt Makefile ]; then
    ./configure "$@"
fi
make -j"$(nproc)"
