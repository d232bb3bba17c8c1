#!/usr/bin/env bash
# Installs everything the build, the test stack and the benchmarks need on Debian 12:
# system packages (apt) and the Python venv for the test stack (pip, pinned).
# Idempotent: skips apt when every package is already installed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

APT_PACKAGES=(
  pkg-config libsecret-1-dev libglib2.0-dev        # build: CLibSecret
  gnome-keyring dbus dbus-x11 libglib2.0-bin libsecret-tools   # Secret Service + gdbus + secret-tool
  chromium chromium-driver                          # the real browser
  python3 python3-venv                              # authorization server, Jira stand-in
  libapache2-mod-oauth2                             # the API gateway: Apache httpd + mod_oauth2
  curl util-linux procps psmisc openssl             # clients, setpriv, ps, fuser, test CA + certificates
  apache2-bin tinyproxy                             # mod_ssl (in apache2-bin), the forward proxy
  nginx-light wrk hyperfine                         # benchmarks' baselines and load
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: apt-get install ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

venv="$here/.venv"
req="$here/tests/stack/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: python venv $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
