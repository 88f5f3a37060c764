#!/bin/sh
# Entrypoint of the guest-cluster example image: render this node's view of
# its cluster from the environment maestro gives the container, show it, and
# serve it over HTTP (GET /nodes.conf) so that it can be read back.
set -eu

# the port this container listens on: its own `http` port, 8080 when the
# environment does not name one
port=$(maestro-guest get-port http --default 8080)

# all the nodes of this container's service (itself included), host:port each
maestro-guest render /usr/share/guest-cluster/nodes.conf.j2 -o /etc/cluster/nodes.conf

echo "--- /etc/cluster/nodes.conf"
cat /etc/cluster/nodes.conf
echo "--- serving /etc/cluster on port $port"
exec httpd -f -p "$port" -h /etc/cluster
