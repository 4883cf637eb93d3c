#!/usr/bin/env bash
# Install everything dejavu-cn and its tests need on Debian 12 (run as root,
# or with sudo available), then install the project itself (editable).
# Idempotent: a second run changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

APT_PACKAGES=(
  ffmpeg sox espeak-ng                       # decoding, test audio, speech synthesis
  asterisk-core-sounds-en-gsm                # real recorded speech for the speech tests
  portaudio19-dev pulseaudio pulseaudio-utils libasound2-plugins   # PyAudio + virtual microphone
  chromium chromium-driver                   # browser tests (headless)
  python3-dev gcc                            # builds PyAudio
  openssl                                    # certificates for the MariaDB TLS tests
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"
