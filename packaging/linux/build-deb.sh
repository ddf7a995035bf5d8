#!/usr/bin/env bash
# Wrap dist/erigolem (built by scripts/package) into dist/erigolem_<version>_amd64.deb with
# dpkg-deb (Debian's own tool; no debhelper needed). Layout:
#   /opt/erigolem/                 the one-folder bundle (app + CLI + runtime in one binary)
#   /opt/erigolem/bin/anvil        anvil for local dev chains (from node_modules, MIT/Apache-2.0)
#   /usr/bin/erigolem              launcher (packaging/linux/deb/erigolem.sh)
#   /usr/share/applications/erigolem.desktop, /usr/share/icons/hicolor/scalable/apps/erigolem.svg
#   /usr/share/doc/erigolem/copyright
# Depends (packaging/linux/deb/control.in): what the bundle's Qt libraries and plugins load from
# the system (found with ldd on dist/erigolem/_internal), and nginx. No test tools go in.
#   DEB_COMPRESS=gzip|xz|zstd|none (default gzip: xz of ~250 MB takes minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/../.."

BUNDLE=dist/erigolem
SRC=packaging/linux/deb
if [ ! -x "$BUNDLE/erigolem" ]; then
    echo "build-deb: $BUNDLE/erigolem is missing; run scripts/package first" >&2
    exit 1
fi
command -v dpkg-deb >/dev/null || { echo "build-deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }
ANVIL=${ANVIL:-node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil}
if [ ! -x "$ANVIL" ]; then
    echo "build-deb: anvil binary not found at $ANVIL; run scripts/bootstrap (npm ci) or set ANVIL=" >&2
    exit 1
fi
# the bundle's own version (its copied metadata), not whatever .venv holds now
VERSION=$(basename "$(ls -d "$BUNDLE"/_internal/erigolem_desktop-*.dist-info)" | sed 's/^erigolem_desktop-//; s/\.dist-info$//')
DEB=dist/erigolem_${VERSION}_amd64.deb
STAGE=build/deb/erigolem_${VERSION}_amd64
rm -rf "$STAGE"
mkdir -p "$STAGE/DEBIAN" "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
    "$STAGE/usr/share/icons/hicolor/scalable/apps" "$STAGE/usr/share/doc/erigolem"

cp -a "$BUNDLE" "$STAGE/opt/erigolem"
install -D -m 0755 "$ANVIL" "$STAGE/opt/erigolem/bin/anvil"
install -m 0755 "$SRC/erigolem.sh" "$STAGE/usr/bin/erigolem"
install -m 0644 resources/erigolem.desktop "$STAGE/usr/share/applications/erigolem.desktop"
install -m 0644 resources/icons/app.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/erigolem.svg"
install -m 0644 "$SRC/copyright" "$STAGE/usr/share/doc/erigolem/copyright"
install -m 0755 "$SRC/postinst" "$SRC/postrm" "$STAGE/DEBIAN/"
chmod -R u+rwX,go+rX,go-w "$STAGE"

SIZE_KB=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@INSTALLED_SIZE@/$SIZE_KB/" "$SRC/control.in" >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 md5sum) \
    >"$STAGE/DEBIAN/md5sums"

start=$(date +%s.%N)
dpkg-deb --root-owner-group -Z"${DEB_COMPRESS:-gzip}" --build "$STAGE" "$DEB" >/dev/null
end=$(date +%s.%N)
echo "build-deb: $DEB: $(du -h "$DEB" | cut -f1) (installed $((SIZE_KB / 1024)) MB)," \
    "packed in $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }') s"
