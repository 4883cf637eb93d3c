#!/usr/bin/env bash
# The main job on a fresh machine, on SQLite: install everything, register a
# folder of real music (Debian's singularity-music), then recognise a noisy
# 5-second excerpt of one track resampled to 48 kHz, as a user's clip would be.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/venv.sh
SUDO=""; [ "$(id -u)" != "0" ] && SUDO="sudo"
dpkg-query -W -f='${Status}' singularity-music 2>/dev/null | grep -q "install ok installed" || {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq singularity-music
}
mkdir -p example
MUSIC=/usr/share/games/singularity/music
dejavu-cn --config config.json register "$MUSIC"
TRACK="$MUSIC/Awakening.ogg"
ffmpeg -nostdin -loglevel error -y -ss 42.5 -t 5 -i "$TRACK" \
  -af "volume=0.5" -ar 48000 -ac 1 example/clip.wav
sox -n -r 48000 -c 1 example/noise.wav synth 5 pinknoise vol 0.05
sox -m example/clip.wav example/noise.wav example/noisy_clip.wav
echo "--- recognising example/noisy_clip.wav (an excerpt of Awakening at 0:42.50):"
dejavu-cn --config config.json recognize file example/noisy_clip.wav
dejavu-cn --config config.json stats
