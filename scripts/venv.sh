# Sourced by the other scripts: use the project's .venv when scripts/setup.sh
# made one (Debian's own Python refuses pip installs into the system, PEP 668)
# and no virtual environment is active already.
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then
  . .venv/bin/activate
fi
