#!/usr/bin/env bash
# Make sure the MariaDB server the MySQL tests use answers on 127.0.0.1:3306
# (tests/conftest.py: root, empty password; DEJAVU_CN_MYSQL_* override).
#
# - No server installed: install Debian's mariadb-server, start it, and let
#   root in over TCP with an empty password, as the tests expect. Only a
#   server installed here, now, is changed: an existing server's accounts are
#   never touched.
# - Installed but down: start it.
# - Still unusable: say why and how to fix it (the MySQL tests then fail,
#   with their own message, rather than skip in CI).
set -uo pipefail
. "$(dirname "$0")/venv.sh"                # PyMySQL for logs_in, where setup.sh put it in .venv

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
HOST="${DEJAVU_CN_MYSQL_HOST:-127.0.0.1}"
PORT="${DEJAVU_CN_MYSQL_PORT:-3306}"
USER_="${DEJAVU_CN_MYSQL_USER:-root}"
PASSWORD="${DEJAVU_CN_MYSQL_PASSWORD:-}"
WAIT="${DEJAVU_CN_MYSQL_WAIT:-60}"        # seconds a server that was started may take to answer

answers() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }
logs_in() {                                # PyMySQL, installed by scripts/setup.sh
  H="$HOST" P="$PORT" U="$USER_" W="$PASSWORD" python3 -c 'import os, pymysql
pymysql.connect(host=os.environ["H"], port=int(os.environ["P"]), user=os.environ["U"],
                password=os.environ["W"], connect_timeout=5).close()' 2>/dev/null
}

if [ "$HOST" != "127.0.0.1" ] && [ "$HOST" != "localhost" ]; then
  exit 0                                   # a remote server: nothing to install or start here
fi

installed_now=0
if ! [ -x /usr/sbin/mariadbd ] && ! answers; then
  echo "MariaDB is not installed: installing Debian's mariadb-server for the MySQL tests" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client
  installed_now=1
fi

if ! answers && [ -x /usr/sbin/mariadbd ]; then
  $SUDO install -d -o mysql -g mysql /run/mysqld 2>/dev/null || true
  # --user: a server started as root runs as mysql (Debian's own my.cnf does not say so)
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 "$WAIT"); do
    answers && break
    sleep 1
  done
fi

if ! answers; then
  echo "MariaDB does not answer on $HOST:$PORT: the MySQL tests will fail." \
       "Start it (start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql)" \
       "or point DEJAVU_CN_MYSQL_HOST/PORT at a server." >&2
  exit 0
fi

if ! logs_in && [ "$installed_now" = 1 ] && [ "$USER_" = root ] && [ -z "$PASSWORD" ]; then
  # Debian's fresh server lets root in only through the Unix socket, as the
  # system's root: allow an empty password too, as the tests expect.
  $SUDO mysql --user=root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket
                                OR mysql_native_password USING PASSWORD('');
                              CREATE DATABASE IF NOT EXISTS test;" || true
fi

if ! logs_in; then
  echo "MariaDB answers on $HOST:$PORT but refuses $USER_ (password from DEJAVU_CN_MYSQL_PASSWORD):" \
       "the MySQL tests will fail. Set DEJAVU_CN_MYSQL_USER / DEJAVU_CN_MYSQL_PASSWORD to an account" \
       "that may create and drop databases." >&2
fi
exit 0
