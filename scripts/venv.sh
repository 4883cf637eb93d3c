# Sourced by the other scripts: use the project's .venv when scripts/setup.sh
# made one (Debian's own Python refuses pip installs into the system, PEP 668)
# and no virtual environment is active already. Works from any directory.
_dejavu_venv="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.venv"
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f "$_dejavu_venv/bin/activate" ]; then
  . "$_dejavu_venv/bin/activate"
fi
unset _dejavu_venv
