#!/bin/sh
set -eu
cat > /etc/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER:-guest}
default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}
loopback_users = none
listeners.tcp.default = 5672
CONF
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
if [ "$1" = "rabbitmq-server" ]; then
  shift
  # The server itself, not Debian's wrapper, so that it gets docker's SIGTERM and stops cleanly.
  export HOME=/var/lib/rabbitmq
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
fi
exec "$@"
