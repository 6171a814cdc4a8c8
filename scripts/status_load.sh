#!/usr/bin/env bash
# Load test of the public status page: wrk on loopback against fxdesk's `/` and
# `/api/v2/summary.json`, then against nginx serving the very same bytes as static files, in
# the same run and with the same wrk settings, and prints requests/s and the ratio (target:
# fxdesk >= 80 % of nginx).
#
# Usage: scripts/status_load.sh [duration_s=10] [connections=64] [wrk_threads=2]
# Needs wrk and nginx (installed with apt-get if missing) and builds fxdesk in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10}"
connections="${2:-64}"
threads="${3:-2}"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

cargo build --release -q -p fxdesk-cli
fxdesk="target/release/fxdesk"

work="$(mktemp -d /tmp/fxdesk-status-load.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
desk_port="$(free_port)"
nginx_port="$(free_port)"
desk="http://127.0.0.1:$desk_port"

# --- fxdesk desk with one incident and a published first notice --------------------------
FXDESK_ADMIN_PASSWORD="load test password" RUST_LOG=warn \
  "$fxdesk" desk --data-dir "$work/data" --listen "127.0.0.1:$desk_port" --bootstrap-admin admin \
  2>"$work/desk.log" &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "$desk/status.css" >/dev/null 2>&1 && break; sleep 0.1; done

token="$(curl -fs -H 'content-type: application/json' \
  -d '{"username":"admin","password":"load test password"}' "$desk/api/login" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
incident="$(curl -fs -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"component":"trading","title":"Trading stopped","impact":"major_outage"}' \
  "$desk/api/incidents" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
jar="$work/cookies"
curl -fs -c "$jar" -o /dev/null -d 'username=admin&password=load test password' "$desk/console/login"
csrf="$(curl -fs -b "$jar" "$desk/console/incidents/$incident" |
  sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)"
curl -fs -b "$jar" -o /dev/null -d "csrf=$csrf&kind=first&action=publish&message_en=Next+update+at+15:30&message_ja=15:30" \
  "$desk/console/incidents/$incident/notice"

# --- nginx serving the same bytes --------------------------------------------------------
root="$work/www"
mkdir -p "$root/api/v2"
curl -fs -H 'Accept-Language: ja' "$desk/" -o "$root/index.html"
curl -fs "$desk/api/v2/summary.json" -o "$root/api/v2/summary.json"
grep -q "Trading stopped" "$root/index.html"
cat >"$work/nginx.conf" <<CONF
user root;
worker_processes 2;
error_log $work/nginx-error.log;
pid $work/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  types { text/html html; application/json json; }
  default_type application/octet-stream;
  client_body_temp_path $work/nginx-body;
  proxy_temp_path $work/nginx-proxy;
  fastcgi_temp_path $work/nginx-fastcgi;
  uwsgi_temp_path $work/nginx-uwsgi;
  scgi_temp_path $work/nginx-scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $root;
    index index.html;
  }
}
CONF
"$nginx_bin" -c "$work/nginx.conf" -p "$work" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$nginx_port/" >/dev/null 2>&1 && break; sleep 0.1; done
cmp -s "$root/index.html" <(curl -fs "http://127.0.0.1:$nginx_port/")

# --- measure -----------------------------------------------------------------------------
rps() { # url -> requests per second
  wrk -t"$threads" -c"$connections" -d"${duration}s" -H 'Accept-Language: ja' "$1" |
    awk '/^Requests\/sec:/ { print $2 }'
}
echo "wrk -t$threads -c$connections -d${duration}s on loopback, $(nproc) cores"
printf '%-24s %14s %14s %8s\n' path fxdesk_rps nginx_rps ratio
status=0
for path in / /api/v2/summary.json; do
  ours="$(rps "$desk$path")"
  theirs="$(rps "http://127.0.0.1:$nginx_port$path")"
  ratio="$(python3 -c "print(f'{$ours / $theirs * 100:.0f}%')")"
  printf '%-24s %14s %14s %8s\n' "$path" "$ours" "$theirs" "$ratio"
  python3 -c "import sys; sys.exit(0 if $ours >= 0.8 * $theirs else 1)" || status=1
done
[ "$status" -eq 0 ] && echo "target met: fxdesk >= 80 % of nginx" || echo "target missed: fxdesk < 80 % of nginx on some path"
exit "$status"
