#!/usr/bin/env bash
# A MariaDB cluster for dejavu-cn on this machine, from Debian's packages:
#
#   bash scripts/cluster.sh up spider   # a head and DEJAVU_CN_SHARDS (4) data nodes; the fingerprint table
#                                       # is a Spider table on the head, partitioned by hash key across them
#   bash scripts/cluster.sh up galera   # 3 Galera nodes (synchronous multi-primary replication)
#   bash scripts/cluster.sh status      # what runs
#   bash scripts/cluster.sh start NAME  # start a stopped instance again (a Galera node rejoins and catches up)
#   bash scripts/cluster.sh database DB # another database on the running cluster (its config path printed); drop DB
#   bash scripts/cluster.sh down        # stops what `up` started (by its pid files) and removes its data
#
# `up` prints, as its last line, the path of a dejavu-cn configuration that
# uses the cluster. Every instance is its own mariadbd (own datadir, port,
# socket and pid file) on 127.0.0.1, under $DEJAVU_CN_CLUSTER_DIR
# (default /tmp/dejavu-cn-cluster), run as the mysql user. Ports: Spider head
# $DEJAVU_CN_SPIDER_PORT (3310), data nodes the next ones; Galera clients
# $DEJAVU_CN_GALERA_PORT (3320) and the next two; replication G, G+10, G+20
# with G = $DEJAVU_CN_GALERA_GCOMM_PORT (4567), incremental state transfer
# G+1, G+11, G+21, rsync state transfer G-123, G-113, G-103 (4444...).
#
# Spider: songs, sketches and the other small tables live on the head (one
# copy, InnoDB); the fingerprints, 99 % of the bytes, are spread by hash over
# the data nodes, so a lookup of a hash goes to one node and each node holds
# about 1/N of the index. The hash is a SHA-1, uniform, so equal ranges of
# its first two bytes make equal shards (PARTITION BY RANGE COLUMNS);
# MariaDB's PARTITION BY KEY on a BINARY(10) column spreads badly (16 %, 42 %,
# 17 % and 25 % of the rows over 4 nodes, measured). On real hosts: one data node per server, the same
# CREATE SERVER / PARTITION statements with their addresses.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${DEJAVU_CN_CLUSTER_DIR:-/tmp/dejavu-cn-cluster}"
SHARDS="${DEJAVU_CN_SHARDS:-4}"
# each instance's InnoDB cache: DEJAVU_CN_BUFFER_POOL (default 256M; a registration's batch of 1 M rows locks
# more than the server's default 128 MB holds)
DB="dejavu"
HEAD_PORT="${DEJAVU_CN_SPIDER_PORT:-3310}"
GALERA_BASE="${DEJAVU_CN_GALERA_PORT:-3320}"
GALERA_PORTS=("$GALERA_BASE" $((GALERA_BASE + 1)) $((GALERA_BASE + 2)))
GCOMM="${DEJAVU_CN_GALERA_GCOMM_PORT:-4567}"
WAIT=60                                     # s an instance may take to answer

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

sql() {                                     # sql PORT STATEMENTS
  mariadb --protocol=tcp -h 127.0.0.1 -P "$1" -u root --batch --skip-column-names -e "$2"
}

answers() { sql "$1" "SELECT 1" >/dev/null 2>&1; }

wait_for() {                                # wait_for PORT NAME
  local i
  for ((i = 0; i < WAIT * 2; i++)); do
    answers "$1" && return 0
    sleep 0.5
  done
  echo "cluster: $2 (port $1) did not answer within ${WAIT} s; see $DIR/$2/error.log" >&2
  tail -n 20 "$DIR/$2/error.log" >&2 || true
  return 1
}

init_datadir() {                            # init_datadir NAME
  local d="$DIR/$1"
  mkdir -p "$d/data"
  chown -R mysql:mysql "$d"
  mariadb-install-db --no-defaults --datadir="$d/data" --user=mysql --auth-root-authentication-method=normal \
    --skip-test-db >"$d/install.log" 2>&1 || { cat "$d/install.log" >&2; return 1; }
}

start_instance() {                          # start_instance NAME PORT [mariadbd options...]
  local name="$1" port="$2" d="$DIR/$1"
  shift 2
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
    echo "cluster: $name already runs (pid $(cat "$d/pid"))" >&2
    return 0
  fi
  local args=(--no-defaults --user=mysql --datadir="$d/data" --port="$port" --bind-address=127.0.0.1
              --socket="$d/mysqld.sock" --pid-file="$d/pid" --log-error="$d/error.log"
              --innodb-buffer-pool-size="${DEJAVU_CN_BUFFER_POOL:-256M}" --max-connections=200 "$@")
  setsid /usr/sbin/mariadbd "${args[@]}" </dev/null >/dev/null 2>&1 &
  echo "$port" >"$d/port"
  printf '%s\n' "${args[@]}" | grep -v -- '--wsrep-new-cluster' >"$d/args"    # for `start NAME` (rejoins)
}

start_again() {                             # start_again NAME: an instance `up` made, stopped since (a node rejoins)
  local d="$DIR/$1"
  [ -f "$d/args" ] || { echo "cluster: no instance $1 in $DIR" >&2; return 2; }
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
    echo "cluster: $1 runs already" >&2
    return 0
  fi
  mapfile -t args <"$d/args"
  setsid /usr/sbin/mariadbd "${args[@]}" </dev/null >/dev/null 2>&1 &
  wait_for "$(cat "$d/port")" "$1"
}

root_over_tcp() {                           # the tests and the configs log in as root, no password, over TCP
  sql "$1" "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" \
    2>/dev/null || true
}

fingerprint_table() {                       # the table's columns, as sql/mysql.sql declares them
  awk '/CREATE TABLE IF NOT EXISTS fingerprints \(/,/\) ENGINE=InnoDB;/' sql/mysql.sql \
    | sed -e 's/CREATE TABLE IF NOT EXISTS fingerprints (/CREATE TABLE fingerprints (/' -e 's/--.*$//' -e 's/) ENGINE=InnoDB;/)/'
}

write_config() {                            # write_config NAME JSON-OF-DATABASE
  local path="$DIR/$1.json"
  printf '{\n  "database_type": "mysql",\n  "database": %s\n}\n' "$2" >"$path"
  echo "$path"
}

up_spider() {
  need_packages mariadb-server mariadb-client mariadb-plugin-spider
  mkdir -p "$DIR"
  local i port
  for ((i = 0; i < SHARDS; i++)); do
    port=$((HEAD_PORT + 1 + i))
    [ -d "$DIR/dn$i/data" ] || init_datadir "dn$i"
    start_instance "dn$i" "$port"
  done
  [ -d "$DIR/head/data" ] || init_datadir head
  # settings measured for this workload (many small lookups, bulk inserts): connections kept, IN lists not
  # turned into joins, no semi-transactions; INSERT IGNORE sent to the nodes as is. Not spider_internal_xa:
  # with it every song insert failed ("This xid member already exists", MariaDB 10.11), so a data node
  # that dies in the middle of a commit (not before) can leave part of a song on the others.
  # Lookups are a join the head batches (the store sets Batched Key Access on its sessions): each node gets
  # its hashes in one temporary table and one SELECT. spider_quick_mode=0: a node's answer is read whole
  # into memory at once, not row by row through a cursor (median latency x1.55 -> x1.41 of one node on the
  # benchmark's clips). Tried and left at their defaults: spider_bgs_mode 1 and 2 (background reads: no
  # gain within noise, the partitions are still read one after another) and spider_bka_mode 2 (the hashes
  # as a UNION ALL instead of a temporary table: the same within noise)
  start_instance head "$HEAD_PORT" --plugin-load-add=ha_spider --loose-spider-conn-recycle-mode=1 \
    --loose-spider-semi-trx=0 --loose-spider-direct-dup-insert=1 --loose-spider-multi-split-read=100000 \
    --loose-spider-quick-mode=0 --in-predicate-conversion-threshold=0
  for ((i = 0; i < SHARDS; i++)); do
    wait_for $((HEAD_PORT + 1 + i)) "dn$i"
    root_over_tcp $((HEAD_PORT + 1 + i))
  done
  wait_for "$HEAD_PORT" head
  root_over_tcp "$HEAD_PORT"
  echo spider >"$DIR/kind"
  spider_database "$DB" spider
}

spider_database() {                         # spider_database NAME [CONFIG]: a database whose index is spread over
  local name="$1" config="${2:-$1}" i port bound server partitions="" table   # the nodes; its config CONFIG.json
  table="$(fingerprint_table)"
  for ((i = 0; i < SHARDS; i++)); do
    port=$((HEAD_PORT + 1 + i))
    sql "$port" "CREATE DATABASE IF NOT EXISTS \`$name\`; USE \`$name\`; $(echo "$table" | sed 's/CREATE TABLE/CREATE TABLE IF NOT EXISTS/') ENGINE=InnoDB;"
    server="$(server_name "$name" "$i")"
    sql "$HEAD_PORT" "CREATE OR REPLACE SERVER $server FOREIGN DATA WRAPPER mysql OPTIONS (HOST '127.0.0.1', DATABASE '$name', USER 'root', PASSWORD '', PORT $port)"
    if ((i < SHARDS - 1)); then bound="$(printf '0x%04X' $((65536 * (i + 1) / SHARDS)))"; else bound=MAXVALUE; fi
    partitions+="${partitions:+, }PARTITION p$i VALUES LESS THAN ($bound) COMMENT = 'srv \"$server\"'"
  done
  if [ -z "$(sql "$HEAD_PORT" "SELECT 1 FROM information_schema.tables WHERE table_schema = '$name' AND table_name = 'fingerprints'")" ]; then
    sql "$HEAD_PORT" "CREATE DATABASE IF NOT EXISTS \`$name\`; USE \`$name\`; $table ENGINE=SPIDER
      COMMENT = 'wrapper \"mysql\", table \"fingerprints\"' PARTITION BY RANGE COLUMNS (hash) ($partitions);"
  fi
  write_config "$config" "{\"host\": \"127.0.0.1\", \"port\": $HEAD_PORT, \"user\": \"root\", \"password\": \"\", \"database\": \"$name\"}"
}

server_name() {                             # server_name DB I: the head's name for data node I of DB
  if [ "$1" = "$DB" ]; then echo "dn$2"; else echo "${1}_dn$2"; fi
}

drop_database() {                           # drop_database NAME: and its tables on every instance
  local kind i
  kind="$(cat "$DIR/kind")"
  if [ "$kind" = spider ]; then
    sql "$HEAD_PORT" "DROP DATABASE IF EXISTS \`$1\`" || true
    for ((i = 0; i < SHARDS; i++)); do
      sql "$HEAD_PORT" "DROP SERVER IF EXISTS $(server_name "$1" "$i")" || true
      sql $((HEAD_PORT + 1 + i)) "DROP DATABASE IF EXISTS \`$1\`" || true
    done
  else
    sql "${GALERA_PORTS[0]}" "DROP DATABASE IF EXISTS \`$1\`" || true
  fi
  rm -f "$DIR/$1.json"
}

galera_database() {                         # galera_database NAME [CONFIG]
  local hosts="" port
  sql "${GALERA_PORTS[0]}" "CREATE DATABASE IF NOT EXISTS \`$1\`"
  for port in "${GALERA_PORTS[@]}"; do hosts+="${hosts:+, }\"127.0.0.1:$port\""; done
  write_config "${2:-$1}" "{\"host\": \"127.0.0.1\", \"port\": ${GALERA_PORTS[0]}, \"hosts\": [$hosts], \"user\": \"root\", \"password\": \"\", \"database\": \"$1\"}"
}

up_galera() {
  need_packages mariadb-server mariadb-client galera-4 rsync
  mkdir -p "$DIR"
  local i port gport address=""
  for ((i = 0; i < 3; i++)); do
    address+="${address:+,}127.0.0.1:$((GCOMM + 10 * i))"
  done
  for ((i = 0; i < 3; i++)); do
    port="${GALERA_PORTS[$i]}"
    gport=$((GCOMM + 10 * i))
    [ -d "$DIR/g$i/data" ] || init_datadir "g$i"
    local first=()
    if [ "$i" = 0 ]; then first=(--wsrep-new-cluster); fi
    start_instance "g$i" "$port" --wsrep-on=ON --wsrep-provider=/usr/lib/galera/libgalera_smm.so \
      --wsrep-cluster-name=dejavu-cn --wsrep-cluster-address="gcomm://$address" \
      --wsrep-node-name="g$i" --wsrep-node-address="127.0.0.1:$gport" \
      --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$gport;ist.recv_addr=127.0.0.1:$((gport + 1));evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S;evs.install_timeout=PT4S;evs.keepalive_period=PT1S" \
      --wsrep-sst-method=rsync --wsrep-sst-receive-address="127.0.0.1:$((GCOMM - 123 + 10 * i))" \
      --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 "${first[@]}"
    wait_for "$port" "g$i"                  # one at a time: each joins the cluster the one before formed
    root_over_tcp "$port"
  done
  echo galera >"$DIR/kind"
  galera_database "$DB" galera
}

instances() { find "$DIR" -mindepth 2 -maxdepth 2 -name pid 2>/dev/null | sort; }

down() {
  [ -d "$DIR" ] || { echo "cluster: nothing runs (no $DIR)" >&2; return 0; }
  local pidfile pid name
  # the head first: it holds connections to the data nodes
  for pidfile in $( (ls "$DIR"/head/pid 2>/dev/null; instances | grep -v '/head/pid$') || true); do
    pid="$(cat "$pidfile" 2>/dev/null || true)"
    name="$(basename "$(dirname "$pidfile")")"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
      echo "cluster: stopped $name (pid $pid)" >&2
    fi
  done
  rm -rf "$DIR"
}

status() {
  [ -d "$DIR" ] || { echo "no cluster (no $DIR)"; return 0; }
  echo "$(cat "$DIR/kind" 2>/dev/null || echo unknown) cluster in $DIR"
  local pidfile pid name port
  for pidfile in $(instances); do
    name="$(basename "$(dirname "$pidfile")")"
    pid="$(cat "$pidfile")"
    port="$(cat "$DIR/$name/port" 2>/dev/null || echo '?')"
    if kill -0 "$pid" 2>/dev/null && answers "$port"; then
      echo "  $name  port $port  pid $pid  answers"
    else
      echo "  $name  port $port  pid $pid  DOWN"
    fi
  done
}

case "${1:-}" in
  up)
    case "${2:-}" in
      spider) up_spider ;;
      galera) up_galera ;;
      *) echo "usage: $0 up spider|galera" >&2; exit 2 ;;
    esac ;;
  down) down ;;
  status) status ;;
  start) start_again "${2:?usage: $0 start NAME}" ;;
  database)                                 # database NAME: a new database on the running cluster; prints its config
    "$(cat "$DIR/kind")_database" "${2:?usage: $0 database NAME}" ;;
  drop) drop_database "${2:?usage: $0 drop NAME}" ;;
  *) echo "usage: $0 up spider|galera | start NAME | status | down" >&2; exit 2 ;;
esac
