#!/usr/bin/env bash
# Installs mastfs system-wide so that `mount -t fuse.mastfs` and /etc/fstab lines work:
# the binary on the PATH that mount.fuse3 searches, the man page and shell completions.
#
# Usage: scripts/install.sh [--prefix DIR] [--destdir DIR] [--binary FILE]
#   --prefix DIR   install under DIR (default /usr/local: DIR/bin/mastfs, DIR/share/...)
#   --destdir DIR  stage everything under DIR (for packaging), as DESTDIR does
#   --binary FILE  install this binary instead of building one (cargo build --release)
#
# How `mount -t fuse.mastfs SOURCE DIR -o OPTS` reaches mastfs: mount(8) looks for
# /sbin/mount.fuse.mastfs, finds none, and runs /sbin/mount.fuse (from Debian's fuse3,
# a link to mount.fuse3) for the "fuse" part of the type. mount.fuse3 runs
# `/bin/sh -c 'mastfs SOURCE DIR -o OPTS'` with PATH and HOME unset, so /bin/sh searches
# its built-in path (/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin), and
# mastfs reads /etc/mastfs/config.toml (or -o config=FILE) and caches under /var/cache/mastfs.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=/usr/local
destdir=
binary=
while [[ $# -gt 0 ]]; do
    case "$1" in
        --prefix) prefix="$2"; shift 2 ;;
        --destdir) destdir="$2"; shift 2 ;;
        --binary) binary="$2"; shift 2 ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [[ -z "$binary" ]]; then
    (cd "$repo" && cargo build --release --bin mastfs)
    binary="$repo/target/release/mastfs"
fi
[[ -x "$binary" ]] || { echo "install.sh: $binary is not an executable" >&2; exit 1; }

root="$destdir$prefix"
install -D -m 0755 "$binary" "$root/bin/mastfs"
echo "installed $root/bin/mastfs"

if [[ -f "$repo/docs/mastfs.1" ]]; then
    install -D -m 0644 "$repo/docs/mastfs.1" "$root/share/man/man1/mastfs.1"
    echo "installed $root/share/man/man1/mastfs.1"
fi

# Completions come from the binary itself, so they always match its flags.
if "$binary" completions bash >/dev/null 2>&1; then
    install -d "$root/share/bash-completion/completions" "$root/share/zsh/site-functions" \
        "$root/share/fish/vendor_completions.d"
    "$binary" completions bash >"$root/share/bash-completion/completions/mastfs"
    "$binary" completions zsh >"$root/share/zsh/site-functions/_mastfs"
    "$binary" completions fish >"$root/share/fish/vendor_completions.d/mastfs.fish"
    echo "installed completions for bash, zsh and fish under $root/share"
fi

if [[ -z "$destdir" ]]; then
    case ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:" in
        *":$prefix/bin:"*) ;;
        *) echo "note: $prefix/bin is not on the path mount.fuse3 searches;" \
            "mount -t fuse.mastfs will not find mastfs there (use --prefix /usr/local)" >&2 ;;
    esac
    if ! [[ -x /sbin/mount.fuse3 || -x /usr/sbin/mount.fuse3 ]]; then
        echo "note: mount.fuse3 is missing; install Debian's fuse3 package" \
            "(apt-get install fuse3) for mount -t fuse.mastfs and /etc/fstab" >&2
    fi
fi
