#!/usr/bin/env bash
# Make sure MariaDB, Redis and RabbitMQ answer on 127.0.0.1, starting (or installing, then
# starting) the ones that do not. Used by `make test`; safe to run again.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port seconds
  for _ in $(seq "$3"); do listening "$2" && return 0; sleep 1; done
  echo "ensure-services: $1 did not come up on 127.0.0.1:$2" >&2
  return 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "ensure-services: need root to run: $*" >&2; return 1
  fi
}

install_missing() { # binary package
  command -v "$1" >/dev/null && return 0
  echo "ensure-services: installing $2"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

if ! listening 6379; then
  install_missing redis-server redis-server
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 6379 30
fi

if ! listening 3306; then
  install_missing mariadbd mariadb-server
  as_root mkdir -p /run/mysqld && as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for MariaDB 3306 60
fi

if ! listening 5672; then
  install_missing rabbitmq-server rabbitmq-server
  as_root rabbitmq-server -detached
  wait_for RabbitMQ 5672 120
fi

# The broker creates RabbitMQ vhosts and users through the management HTTP API.
if ! listening 15672; then
  as_root rabbitmq-plugins enable --quiet rabbitmq_management >/dev/null
  wait_for "RabbitMQ management API" 15672 60
fi

echo "ensure-services: MariaDB, Redis and RabbitMQ answer on 127.0.0.1"
