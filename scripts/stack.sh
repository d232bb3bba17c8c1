#!/usr/bin/env bash
# stack.sh start|start-jira|stop|status — the real test stack on 127.0.0.1, in the background:
# the authorization server (django-oauth-toolkit), the API gateway (Apache httpd + mod_oauth2:
# RFC 7662 introspection as client jira-gateway) and, behind the gateway, the Jira stand-in.
# The corporate network pieces: a test CA with a server and a client certificate (openssl), the
# gateway also on TLS (GATEWAY_HTTPS_PORT) and on mutual TLS + a static API key field
# (GATEWAY_MTLS_PORT), and a forward proxy with Basic authentication (tinyproxy, CONNECT only to
# the two TLS ports and the authorization server's port).
#
# Environment: STACK_STATE_DIR (default <repo>/.run/stack), AS_PORT (18080), GATEWAY_PORT (18090,
# the Jira URL clients use), JIRA_PORT (18091, the stand-in, internal), GATEWAY_HTTPS_PORT (18092),
# GATEWAY_MTLS_PORT (18093), FORWARD_PROXY_PORT (18094), JIRA_CONTEXT (""),
# AS_ACCESS_TOKEN_SECONDS (300), GATEWAY_CACHE_SECONDS (1), GATEWAY_LOG (0; 1 adds an access log),
# STACK_PYTHON (<repo>/.venv/bin/python).
# start writes $STACK_STATE_DIR/stack.env (sourceable; secrets only as *_FILE paths), PIDs in
# *.pid (each server leads its own process group) and logs in *.log.
# start-jira starts only a gateway (plain http, no TLS ports, no forward proxy) + stand-in pair in
# front of an authorization server that is already running (AS_URL and GATEWAY_CLIENT_SECRET_FILE
# required), e.g. a second Jira for a test.
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
state=${STACK_STATE_DIR:-$repo/.run/stack}
mkdir -p -m 700 "$state"
state=$(cd "$state" && pwd)
export STACK_STATE_DIR=$state
python=${STACK_PYTHON:-$repo/.venv/bin/python}
as_port=${AS_PORT:-18080}
gateway_port=${GATEWAY_PORT:-18090}
jira_port=${JIRA_PORT:-18091}
https_port=${GATEWAY_HTTPS_PORT:-18092}
mtls_port=${GATEWAY_MTLS_PORT:-18093}
proxy_port=${FORWARD_PROXY_PORT:-18094}
tls=  # set by start: the gateway gets its TLS ports; start-jira leaves them out
jira_context=${JIRA_CONTEXT:-}
cache_seconds=${GATEWAY_CACHE_SECONDS:-1}
as_url=${AS_URL:-http://127.0.0.1:$as_port}
gateway_secret_file=${GATEWAY_CLIENT_SECRET_FILE:-$state/jira-gateway.secret}
jira_url=http://127.0.0.1:$gateway_port$jira_context
jira_direct_url=http://127.0.0.1:$jira_port$jira_context
SERVERS=(authserver jira gateway forward-proxy)
APACHE=${APACHE_BIN:-/usr/sbin/apache2}
TINYPROXY=${TINYPROXY_BIN:-/usr/bin/tinyproxy}
tls_dir=$state/tls
gateway_key_file=$state/gateway-api.key
proxy_user=stack-proxy
proxy_password_file=$state/forward-proxy.password
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}

alive() { local pid; pid=$(cat "$state/$1.pid" 2>/dev/null) && ps -o stat= -p "$pid" | grep -qv '^Z'; }
# Live (non-zombie) members of process group $1: zombies linger here until PID 1 reaps them.
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'; }

# wait_until NAME URL [SECONDS]: until URL answers (any HTTP status), failing early if NAME
# died. SECONDS (60) only guards against a hang: Django's first start on a loaded machine is slow.
wait_until() {
  local bound=${3:-60}
  local deadline=$((SECONDS + bound))
  while ((SECONDS < deadline)); do
    if [[ $2 == https:* ]]; then
      curl -s -o /dev/null --max-time 1 --cacert "$tls_dir/ca.pem" "$2" && return 0
    else
      curl -s -o /dev/null --max-time 1 "$2" && return 0
    fi
    alive "$1" || { echo "stack: $1 exited; last lines of $state/$1.log:" >&2; tail -n 15 "$state/$1.log" >&2; return 1; }
    sleep 0.05
  done
  echo "stack: $1 did not answer at $2 within $bound s" >&2
  return 1
}

# launch NAME CMD...: in its own session/process group (setsid without fork: $! is the leader),
# with no descriptor but 0-2. An inherited one would keep the caller's pipes or sockets open for
# the server's lifetime: Foundation's Process (StandIn.swift) waits for a socket it gives its
# child to close before it reaps it, so `stack.sh start-jira` run from Swift never "exited".
launch() {
  local name=$1; shift
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      ((fd > 2)) && eval "exec $fd>&-" 2>/dev/null
    done
    exec setsid "$@"
  ) </dev/null >>"$state/$name.log" 2>&1 &
  echo $! >"$state/$name.pid"
}

# random_file FILE BYTES: BYTES random bytes as hex into FILE (0600), unless FILE already holds
# one: secrets are random per state dir and never pass through a command line.
random_file() {
  [ -s "$1" ] && return 0
  (umask 077; openssl rand -hex "$2" >"$1.tmp") && mv "$1.tmp" "$1"
}

# The test CA, the gateway's server certificate (127.0.0.1 and localhost) and the agent's client
# certificate, P-256 keys without passphrase (0600) in $tls_dir. Kept while the CA and both
# certificates are valid for another day; otherwise made anew (~0.1 s).
make_tls() {
  local d=$tls_dir f ok=1
  mkdir -p -m 700 "$d"
  for f in ca server client; do
    openssl x509 -in "$d/$f.pem" -noout -checkend 86400 >/dev/null 2>&1 && [ -s "$d/$f.key" ] || ok=
  done
  [ -n "$ok" ] && return 0
  rm -f "$d"/*.pem "$d"/*.key "$d"/*.srl
  (
    umask 077
    set -e
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc -days 30 \
      -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/O=jira-auth-agent test stack/CN=Test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc \
      -keyout "$d/server.key" -out "$d/server.csr" -subj "/O=jira-auth-agent test stack/CN=127.0.0.1"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 30 \
      -out "$d/server.pem" -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:127.0.0.1,DNS:localhost")
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc \
      -keyout "$d/client.key" -out "$d/client.csr" -subj "/O=jira-auth-agent test stack/CN=jira-auth-agent"
    openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAserial "$d/ca.srl" -days 30 \
      -out "$d/client.pem" -extfile <(printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=clientAuth")
    rm -f "$d/server.csr" "$d/client.csr"
    chmod 600 "$d"/*.key
    chmod 644 "$d"/*.pem
  ) >>"$state/tls.log" 2>&1 || { echo "stack: making the test certificates failed, see $state/tls.log" >&2; return 1; }
}

# The gateway's TLS listeners (start only, not start-jira): GATEWAY_HTTPS_PORT exactly like the
# plain one; GATEWAY_MTLS_PORT also requires a client certificate from the test CA and the static
# API key field X-Gateway-Key (checked at URL translation, before the token check: 403), which is
# then removed so that the stand-in never sees it. The key is in the 0600 config, like the secret.
gateway_tls_conf() {
  local key
  key=$(<"$gateway_key_file")
  [[ $key =~ ^[0-9a-f]+$ ]] || { echo "stack: $gateway_key_file is not a hex key" >&2; return 1; }
  cat <<CONF
LoadModule socache_shmcb_module $APACHE_MODULES/mod_socache_shmcb.so
LoadModule ssl_module $APACHE_MODULES/mod_ssl.so
LoadModule rewrite_module $APACHE_MODULES/mod_rewrite.so
Listen 127.0.0.1:$https_port
Listen 127.0.0.1:$mtls_port
SSLSessionCache shmcb:$state/gateway-run/ssl_scache(512000)
SSLProtocol -all +TLSv1.2 +TLSv1.3
SSLHonorCipherOrder off
SSLCertificateFile $tls_dir/server.pem
SSLCertificateKeyFile $tls_dir/server.key
<VirtualHost 127.0.0.1:$https_port>
  SSLEngine on
</VirtualHost>
<VirtualHost 127.0.0.1:$mtls_port>
  SSLEngine on
  SSLCACertificateFile $tls_dir/ca.pem
  SSLVerifyClient require
  SSLVerifyDepth 1
  RewriteEngine on
  RewriteCond %{HTTP:X-Gateway-Key} !=$key
  RewriteRule ^ - [F]
  RequestHeader unset X-Gateway-Key
</VirtualHost>
CONF
}

# The gateway's httpd configuration, mode 0600 in the state dir: it holds the jira-gateway client
# secret (URL-encoded into mod_oauth2's option string), which never appears on a command line.
# As root, httpd reads it and opens the log before its workers switch to nobody.
write_gateway_conf() {
  local secret user_lines="" access_log=""
  [ -s "$gateway_secret_file" ] || { echo "stack: no gateway client secret at $gateway_secret_file" >&2; return 1; }
  secret=$("$python" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read().strip(), safe=""))' "$gateway_secret_file")
  [ "$(id -u)" = 0 ] && user_lines="User nobody
Group $(id -gn nobody)"
  [ "${GATEWAY_LOG:-0}" = 1 ] && access_log='CustomLog /dev/stderr "%h:%{local}p %t \"%r\" %>s %b %D us user=%u"'
  mkdir -p -m 700 "$state/gateway-run"
  local tls_conf=""
  if [ -n "$tls" ]; then tls_conf=$(gateway_tls_conf) || return 1; fi
  (umask 077; cat >"$state/gateway.conf.tmp" <<CONF
# Written by scripts/stack.sh: the test stack's API gateway. Mode 0600: holds a client secret.
ServerRoot $APACHE_MODULES
ServerName 127.0.0.1
Listen 127.0.0.1:$gateway_port
PidFile $state/gateway-run/httpd.pid
DefaultRuntimeDir $state/gateway-run
ErrorLog /dev/stderr
LogLevel warn
$user_lines
LoadModule mpm_event_module $APACHE_MODULES/mod_mpm_event.so
LoadModule authn_core_module $APACHE_MODULES/mod_authn_core.so
LoadModule authz_core_module $APACHE_MODULES/mod_authz_core.so
LoadModule authz_user_module $APACHE_MODULES/mod_authz_user.so
LoadModule headers_module $APACHE_MODULES/mod_headers.so
LoadModule proxy_module $APACHE_MODULES/mod_proxy.so
LoadModule proxy_http_module $APACHE_MODULES/mod_proxy_http.so
LoadModule oauth2_module $APACHE_MODULES/mod_oauth2.so
$access_log
StartServers 1
ServerLimit 4
ThreadsPerChild 32
MaxRequestWorkers 128
MinSpareThreads 8
MaxSpareThreads 96
MaxKeepAliveRequests 0
KeepAliveTimeout 15
Timeout 120
AllowEncodedSlashes NoDecode

# The user identity comes only from the gateway: drop whatever a client sent, before anything.
RequestHeader unset X-Authenticated-User early
ProxyPass / http://127.0.0.1:$jira_port/ nocanon
<Location />
  AuthType oauth2
  # Introspection (RFC 7662) as client jira-gateway; positive results cached $cache_seconds s
  # (mod_oauth2's shared-memory cache, keyed by the token's SHA-256; negatives are not cached).
  OAuth2TokenVerify introspect $as_url/o/introspect/ introspect.auth=client_secret_basic&client_id=jira-gateway&client_secret=$secret&expiry=$cache_seconds
  # The introspection's "username" claim becomes REMOTE_USER and the X-Authenticated-User field.
  OAuth2TargetPass remote_user_claim=username&authn_header=X-Authenticated-User&headers=off&envvars=off
  Require valid-user
</Location>
# The stand-in's test hooks pass through without a token (they are test-only and at the root).
<LocationMatch "^/test/(stats|reset-stats|reject-all|reject-token)\$">
  AuthType None
  Require all granted
</LocationMatch>
$tls_conf
CONF
  )
  mv "$state/gateway.conf.tmp" "$state/gateway.conf"
}
# The forward proxy's configuration, 0600 (it holds the proxy password; tinyproxy reads it as
# root before it switches to nobody). Its log goes to stderr, which launch sends to
# forward-proxy.log: opened by this script, so nobody needs no way into the 0700 state dir.
# LogLevel Connect records every connection and request line ("CONNECT host:port HTTP/1.1"),
# never a request field, so never the Proxy-Authorization credentials.
write_forward_proxy_conf() {
  local password group
  password=$(<"$proxy_password_file")
  [[ $password =~ ^[0-9a-f]+$ ]] || { echo "stack: $proxy_password_file is not a hex password" >&2; return 1; }
  mkdir -p -m 700 "$state/forward-proxy-run"
  group=$(id -gn nobody)
  (umask 077; cat >"$state/forward-proxy.conf.tmp" <<CONF
# Written by scripts/stack.sh: the test stack's forward proxy. Mode 0600: holds the password.
User nobody
Group $group
Listen 127.0.0.1
Port $proxy_port
Timeout 120
PidFile "$state/forward-proxy-run/tinyproxy.pid"
LogLevel Connect
MaxClients 64
Allow 127.0.0.1
BasicAuth $proxy_user $password
DisableViaHeader Yes
ConnectPort $https_port
ConnectPort $mtls_port
ConnectPort $as_port
CONF
  )
  mv "$state/forward-proxy.conf.tmp" "$state/forward-proxy.conf"
}

write_env() {
  local tmp=$state/stack.env.tmp
  {
    echo "# Written by scripts/stack.sh start. Source it: set -a; . stack.env; set +a"
    for kv in \
      "AS_URL=$as_url" \
      "AS_ISSUER=$as_url/o" \
      "AS_DISCOVERY_URL=$as_url/o/.well-known/openid-configuration" \
      "AS_AUTHORIZE_URL=$as_url/o/authorize/" \
      "AS_TOKEN_URL=$as_url/o/token/" \
      "AS_REVOKE_URL=$as_url/o/revoke_token/" \
      "AS_INTROSPECT_URL=$as_url/o/introspect/" \
      "AS_DEVICE_URL=$as_url/o/device-authorization/" \
      "AS_ACCESS_TOKEN_SECONDS=${AS_ACCESS_TOKEN_SECONDS:-300}" \
      "JIRA_URL=$jira_url" \
      "JIRA_DIRECT_URL=$jira_direct_url" \
      "JIRA_STATS_URL=http://127.0.0.1:$jira_port/test/stats" \
      "GATEWAY_CACHE_SECONDS=$cache_seconds" \
      "GATEWAY_HTTPS_URL=https://127.0.0.1:$https_port$jira_context" \
      "GATEWAY_MTLS_URL=https://127.0.0.1:$mtls_port$jira_context" \
      "STACK_GATEWAY_KEY_FILE=$gateway_key_file" \
      "STACK_CA_FILE=$tls_dir/ca.pem" \
      "STACK_CLIENT_CERT_FILE=$tls_dir/client.pem" \
      "STACK_CLIENT_KEY_FILE=$tls_dir/client.key" \
      "FORWARD_PROXY_URL=http://127.0.0.1:$proxy_port" \
      "FORWARD_PROXY_USER=$proxy_user" \
      "FORWARD_PROXY_PASSWORD_FILE=$proxy_password_file" \
      "FORWARD_PROXY_LOG=$state/forward-proxy.log" \
      "CLIENT_ID=jira-agent" \
      "CLIENT_SECRET_FILE=$state/jira-agent.secret" \
      "FIXED_CLIENT_ID=jira-agent-fixed" \
      "FIXED_CLIENT_SECRET_FILE=$state/jira-agent-fixed.secret" \
      "FIXED_REDIRECT_PORT=47931" \
      "DEVICE_CLIENT_ID=jira-agent-device" \
      "GATEWAY_CLIENT_ID=jira-gateway" \
      "GATEWAY_CLIENT_SECRET_FILE=$gateway_secret_file" \
      "BROWSER=$repo/tests/stack/browser" \
      "STACK_PYTHON=$python" \
      "STACK_STATE_DIR=$state"; do
      printf 'export %s=%q\n' "${kv%%=*}" "${kv#*=}"
    done
  } >"$tmp"
  mv "$tmp" "$state/stack.env"
}

# The stand-in, then the gateway in front of it (after the authorization server has its clients).
start_jira() {
  local data=${JIRA_DATA_DIR:-$state/jira-data}
  mkdir -p "$data"
  JIRA_PORT=$jira_port JIRA_CONTEXT=$jira_context JIRA_BASE_URL=$jira_url JIRA_DATA_DIR=$data \
    launch jira "$python" "$repo/tests/stack/jira_standin.py"
  write_gateway_conf
  launch gateway "$APACHE" -f "$state/gateway.conf" -D FOREGROUND
  wait_until jira "http://127.0.0.1:$jira_port/test/stats" 60 || return 1
  wait_until gateway "http://127.0.0.1:$gateway_port/test/stats" 30 || return 1
  if [ -n "$tls" ]; then
    wait_until gateway "https://127.0.0.1:$https_port/test/stats" 30 || return 1
  fi
}

start_forward_proxy() {
  write_forward_proxy_conf || return 1
  launch forward-proxy "$TINYPROXY" -d -c "$state/forward-proxy.conf"
  wait_until forward-proxy "http://127.0.0.1:$proxy_port/" 30
}

start() {
  if alive authserver && alive jira && alive gateway && alive forward-proxy; then echo "stack: already running ($state)"; return 0; fi
  stop >/dev/null
  umask 077
  local t0=$SECONDS
  tls=1
  make_tls || return 1
  random_file "$gateway_key_file" 32 && random_file "$proxy_password_file" 24 \
    || { echo "stack: could not write the gateway key or proxy password" >&2; return 1; }
  AS_PORT=$as_port "$python" "$repo/tests/stack/authserver/manage.py" stack_setup >>"$state/authserver.log" 2>&1 \
    || { echo "stack: setup failed, see $state/authserver.log" >&2; tail -n 15 "$state/authserver.log" >&2; return 1; }
  AS_PORT=$as_port launch authserver "$python" "$repo/tests/stack/authserver/manage.py" runserver --noreload "127.0.0.1:$as_port"
  start_jira || { stop; return 1; }
  start_forward_proxy || { stop; return 1; }
  wait_until authserver "$as_url/o/.well-known/openid-configuration" 60 || { stop; return 1; }
  write_env
  echo "stack: started in $((SECONDS - t0)) s: $as_url (issuer $as_url/o), $jira_url (gateway; TLS :$https_port, mTLS :$mtls_port; stand-in $jira_direct_url), forward proxy :$proxy_port; env: $state/stack.env"
}

start_jira_only() {
  [ -n "${AS_URL:-}" ] && [ -n "${GATEWAY_CLIENT_SECRET_FILE:-}" ] \
    || { echo "stack: start-jira needs AS_URL and GATEWAY_CLIENT_SECRET_FILE" >&2; return 64; }
  stop >/dev/null
  umask 077
  start_jira || { stop; return 1; }
  echo "stack: started $jira_url (gateway; stand-in $jira_direct_url)"
}

stop() {
  local name pid i
  for name in "${SERVERS[@]}"; do
    pid=$(cat "$state/$name.pid" 2>/dev/null) || continue
    kill -TERM -- "-$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      group_alive "$pid" || break
      sleep 0.05
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$state/$name.pid"
    echo "stack: stopped $name (pid $pid)"
  done
  rm -f "$state/stack.env"
}

status() {
  local name rc=0
  for name in "${SERVERS[@]}"; do
    if alive "$name"; then echo "$name: running, pid $(cat "$state/$name.pid")"; else echo "$name: stopped"; rc=3; fi
  done
  [ $rc = 0 ] && echo "env: $state/stack.env"
  return $rc
}

case "${1:-}" in
  start|stop|status) "$1" ;;
  start-jira) start_jira_only ;;
  *) echo "usage: $0 start|start-jira|stop|status" >&2; exit 64 ;;
esac
