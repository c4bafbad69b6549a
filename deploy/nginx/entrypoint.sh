#!/bin/sh
# Renders nginx.conf.template with RECSYS_UPSTREAMS (the replicas, "host:port host:port ...") and
# RECSYS_LB_PORT (default 8000), then runs nginx in the foreground. Usage: entrypoint.sh [template] [config]
set -eu
template="${1:-/etc/nginx/recsys.conf.template}"
config="${2:-/tmp/recsys-lb.conf}"
: "${RECSYS_UPSTREAMS:?set RECSYS_UPSTREAMS to the API replicas, e.g. \"api-replica:8000\"}"
servers=""
for upstream in $RECSYS_UPSTREAMS; do
  servers="$servers server $upstream max_fails=1 fail_timeout=5s;"
done
sed -e "s|@SERVERS@|$servers|" -e "s|@PORT@|${RECSYS_LB_PORT:-8000}|" "$template" > "$config"
exec nginx -c "$config" -g "daemon off;"
