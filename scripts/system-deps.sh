#!/usr/bin/env bash
# Debian packages the emulated-Pi and SSH parity paths (and their tests) need:
# qemu-user-static (qemu-aarch64-static, QEMU 7.2: the fallback when Debian trixie's QEMU 10,
# which the emulated Pi's setup fetches itself, cannot be reached; the tests of that fallback
# use it), openssh-client and openssh-server (sshd, ssh-keygen),
# and chromium, which the tests use to open parity.html headless.
# Installs only what is missing, with the machine's own apt configuration.
set -euo pipefail

missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
command -v ssh >/dev/null && command -v scp >/dev/null || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null; then
    sudo=(sudo)
else
    echo "gelu-edge: need the Debian packages ${missing[*]}; install them as root:" \
         "apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# The server is installed for the tests, which start their own on loopback; it is not enabled.
"${sudo[@]}" env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
