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
  python3-pip python3-venv                   # pip, and a venv where Debian's Python is externally managed
  openssl                                    # certificates for the MariaDB TLS tests
  mariadb-plugin-spider galera-4 rsync       # the cluster tests (scripts/cluster.sh: Spider shards, Galera nodes)
)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's own Python is "externally managed" (PEP 668): pip installs nothing
# into it, so the project goes into .venv there (scripts/venv.sh activates it)
if python3 -c 'import os, sys, sysconfig
sys.exit(sys.prefix != sys.base_prefix
         or not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
  [ -x .venv/bin/python3 ] || python3 -m venv .venv
fi
. scripts/venv.sh
# every optional part (microphone, web page, plots) and the test tools: see setup.py's extras
python3 -m pip install -q --disable-pip-version-check -e ".[all,test]"
if [ -n "${VIRTUAL_ENV:-}" ] && [ "$VIRTUAL_ENV" -ef .venv ]; then
  echo "dejavu-cn is installed in .venv: '. .venv/bin/activate' puts the dejavu-cn command on PATH" >&2
fi
