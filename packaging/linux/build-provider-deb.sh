#!/usr/bin/env bash
# Build dist/erigolem-provider_<version>_all.deb with dpkg-deb: the provider tools without Qt.
#   /opt/erigolem-provider/lib/   wheels of erigolem-provider, erigolem-runtime and libpass
#                                 (all pure Python), unpacked; compiled by the system python3
#                                 on first run only if writable (it is not: no .pyc in the package)
#   /usr/bin/erigolem-provider, /usr/bin/erigolem-runtime   launchers (provider-deb/launcher.in)
#   /usr/share/doc/erigolem-provider/copyright
# Depends (provider-deb/control.in): python3 >= 3.11 (Debian 12's), nginx. Wheels come from
# `uv build` (ours) and .venv (libpass, the version uv.lock pins). Takes a few seconds.
#   OUT=dir (default dist) for the .deb, WORKDIR=dir (default build/provider-deb) for the staging
set -euo pipefail
cd "$(dirname "$0")/../.."

SRC=packaging/linux/provider-deb
UV=${UV:-uv}
command -v "$UV" >/dev/null || UV=.tools/bin/uv
command -v dpkg-deb >/dev/null || { echo "build-provider-deb: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }
[ -x .venv/bin/python ] || { echo "build-provider-deb: no .venv; run scripts/bootstrap first" >&2; exit 1; }

OUT=${OUT:-dist}
WORKDIR=${WORKDIR:-build/provider-deb}
WHEELS=$WORKDIR/wheels
rm -rf "$WORKDIR" && mkdir -p "$WHEELS"
"$UV" build -q --wheel --out-dir "$WHEELS" runtime
"$UV" build -q --wheel --out-dir "$WHEELS" provider_tools
VERSION=$(ls "$WHEELS"/erigolem_provider-*.whl | sed 's/.*erigolem_provider-\([^-]*\)-.*/\1/')
STAGE=$WORKDIR/erigolem-provider_${VERSION}_all
LIB=$STAGE/opt/erigolem-provider/lib
mkdir -p "$STAGE/DEBIAN" "$LIB" "$STAGE/usr/bin" "$STAGE/usr/share/doc/erigolem-provider"
for whl in "$WHEELS"/*.whl; do
    .venv/bin/python -m zipfile -e "$whl" "$LIB"
done
# libpass as uv.lock pins it in .venv (pure Python): its package and metadata, by its RECORD
SITE=$(.venv/bin/python -c 'import passlib, os; print(os.path.dirname(os.path.dirname(passlib.__file__)))')
DIST=$(cd "$SITE" && ls -d libpass-*.dist-info)
cut -d, -f1 "$SITE/$DIST/RECORD" | grep -v '__pycache__\|\.pyc$' | while read -r path; do
    install -D -m 0644 "$SITE/$path" "$LIB/$path"
done
find "$LIB" -name '__pycache__' -prune -exec rm -rf {} +
for pair in erigolem-provider:erigolem_provider.cli erigolem-runtime:erigolem_runtime.cli; do
    cmd=${pair%%:*} module=${pair#*:}
    sed "s/@COMMAND@/$cmd/; s/@MODULE@/$module/" "$SRC/launcher.in" >"$STAGE/usr/bin/$cmd"
    chmod 0755 "$STAGE/usr/bin/$cmd"
done
install -m 0644 packaging/linux/deb/copyright "$STAGE/usr/share/doc/erigolem-provider/copyright"
find "$STAGE" -type d -exec chmod 0755 {} + && find "$LIB" -type f -exec chmod 0644 {} +
SIZE=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed "s/@VERSION@/$VERSION/; s/@INSTALLED_SIZE@/$SIZE/" "$SRC/control.in" >"$STAGE/DEBIAN/control"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$STAGE/DEBIAN/md5sums"
DEB=$OUT/erigolem-provider_${VERSION}_all.deb
mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zgzip --build "$STAGE" "$DEB" >/dev/null
echo "build-provider-deb: $DEB ($(du -h "$DEB" | cut -f1), ${SIZE} KB installed)"
