# Sourced by bench/token-api.sh, bench/proxy.sh and scripts/profile-link-order.sh.
#   free_port                   prints a free TCP port on 127.0.0.1
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Inside a keyring session:
#   fixture_connection ID BASE_URL DIR
# writes a catalog with one default connection ID whose Jira and endpoints are under
# BASE_URL, points XDG_CONFIG_HOME, XDG_CONFIG_DIRS and JIRA_AUTH_AGENT_RUNTIME_DIR into DIR,
# and stores a token set valid for a day under the agent's schema (no refresh during a run,
# no authorization server needed).
fixture_connection() {
  local id=$1 base=$2 dir=$3
  export XDG_CONFIG_HOME=$dir/config XDG_CONFIG_DIRS=$dir/system JIRA_AUTH_AGENT_RUNTIME_DIR=$dir/run
  mkdir -p "$XDG_CONFIG_HOME/jira-auth-agent" "$XDG_CONFIG_DIRS"
  cat > "$XDG_CONFIG_HOME/jira-auth-agent/connections.toml" <<TOML
[[connection]]
id = "$id"
jira_url = "$base/"
authorization_url = "$base/authorize"
token_url = "$base/token"
client_id = "$id"
client_auth = "none"
default = true
TOML
  local now
  now=$(date +%s)
  _fixture_random() { head -c 30 /dev/urandom | base64 | tr -d '/+='; }
  printf '{"access_token":"%s","refresh_token":"r-%s","token_type":"Bearer","expires_at":%d,"obtained_at":%d,"account":"%s"}' \
    "$(_fixture_random)" "$(_fixture_random)" $((now + 86400)) "$now" "$id" |
    secret-tool store --label="Jira tokens — $id" xdg:schema io.github.jira-auth-agent.Tokens \
      connection "$id" jira_url "$base/" account "$id"
}
