#!/bin/sh
# Install what is missing, build, and start imp-chat. Without MODEL_DIR, imp-chat finds the model
# (Hugging Face cache, its own store) or offers to download it; --demo runs the tiny offline model.
# Usage: scripts/chat.sh [MODEL_DIR] [imp-chat options]
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh" >&2
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    model=$1
    shift
    exec "$top/imp-chat" -m "$model" "$@"
fi
exec "$top/imp-chat" "$@"
