#!/bin/sh
# Install what is missing, build, and start imp-chat on a model folder.
# Usage: scripts/chat.sh MODEL_DIR [imp-chat options]
set -e
if [ $# -lt 1 ]; then
    echo "usage: scripts/chat.sh MODEL_DIR [imp-chat options]" >&2
    echo "MODEL_DIR is the folder downloaded from the hub (MILVLG/imp-v1-3b)" >&2
    exit 2
fi
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/setup.sh" >&2
model=$1
shift
exec "$top/imp-chat" -m "$model" "$@"
