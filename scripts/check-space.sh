#!/usr/bin/env bash
# Before the install: enough free disk where the virtualenv goes and where pip unpacks its
# downloads ($TMPDIR), so a full disk stops here with one line saying so instead of a pip
# traceback halfway through (the wheels unpack to about 3 GiB: tensorflow alone is over 1).
# Usage: check-space.sh VENV_DIR GIB
set -euo pipefail
venv=$1 need_gib=$2
where=$(dirname "$(realpath -m "$venv")")
for dir in "$where" "${TMPDIR:-/tmp}"; do
    free_kib=$(df -Pk "$dir" | awk 'NR == 2 {print $4}')
    if [ "$free_kib" -lt $((need_gib * 1024 * 1024)) ]; then
        echo "gelu-edge: the install needs about ${need_gib} GiB free in $dir; it has" \
             "$((free_kib / 1024)) MiB. Free some space (or set TMPDIR to a roomier disk) and" \
             "run make again." >&2
        exit 2
    fi
done
