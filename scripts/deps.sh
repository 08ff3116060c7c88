#!/usr/bin/env bash
# Installs the Debian 12 packages tokyoia needs to build, test and run, when they are
# missing. As root it runs apt-get; otherwise it prints the one line to run and fails.
set -euo pipefail

pkgs=(gcc make cmake pkg-config libpq-dev libsqlite3-dev libjansson-dev libssl-dev
      libcmocka-dev libcurl4-openssl-dev libmicrohttpd-dev postgresql sqlite3
      wrk zlib1g-dev libjs-dygraphs chromium nodejs fonts-noto-color-emoji faketime
      clang libclang-rt-14-dev valgrind curl)
# npm comes with Debian's nodejs as its own package; NodeSource's nodejs carries it.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "tokyoia needs these Debian packages; run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
