#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs what building and testing firec needs on Debian 12 (as root):
# systemd for systemd-analyze (tests/cli/service-files.sh; it need not be
# PID 1), bash-completion for its pkg-config file (where completions go),
# clang-format for `make format-check`, ansible-core for the Ansible
# collection's test (tests/e2e/ansible.sh).
set -eu
packages="build-essential autoconf automake pkg-config clang libclang-rt-14-dev
  libyaml-dev libcjson-dev libcurl4-openssl-dev libcap-dev nettle-dev libmnl-dev binutils
  python3 python3-jsonschema python3-yaml curl xz-utils
  tmux btrfs-progs iproute2 procps util-linux valgrind
  systemd bash-completion clang-format ansible-core"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages:$missing (run as root)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
