#!/usr/bin/env bash
# The README's two pictures (docs/page.png, docs/match.png): see
# scripts/docs_images.py. Needs singularity-music, ffmpeg, SoX and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
exec python3 scripts/docs_images.py "$@"
