#!/usr/bin/env bash
# The Debian packages the tests need beyond Python and Node: a real browser for the
# Galata tests (and CJK fonts for the Chinese ones) and a real OpenSSH client and server
# for the SSH tests. Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO="sudo -n"
fi

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
# the panel in Chinese (Galata with the zh_CN locale): CJK glyphs come from the system's fonts
dpkg-query -W -f='${Status}' fonts-noto-cjk 2>/dev/null | grep -q "ok installed" || need+=(fonts-noto-cjk)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# every CodeLab instance logs in as ma-user: the SSH end-to-end test does too. sshd (UsePAM no)
# refuses key logins to a locked account ('!' password), useradd's default: '*' is "no password".
id ma-user >/dev/null 2>&1 || $SUDO useradd -m -s /bin/sh -p '*' ma-user
$SUDO usermod -p '*' ma-user
$SUDO mkdir -p /run/sshd
echo "system packages ready: chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'), $(ssh -V 2>&1)"
