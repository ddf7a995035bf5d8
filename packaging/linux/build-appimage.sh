#!/usr/bin/env bash
# Wrap dist/erigolem (built by scripts/package) into build/Erigolem.AppDir, then into
# dist/Erigolem-<version>-<arch>.AppImage with appimagetool.
#
# AppDir layout (the AppImage spec's type 2 image):
#   AppRun                     -> runs usr/lib/erigolem/erigolem
#   erigolem.desktop, erigolem.svg, .DirIcon   (top level: what appimagetool reads)
#   usr/lib/erigolem/          the one-folder bundle
#   usr/bin/erigolem           symlink to it (for tools that look in usr/bin)
#   usr/share/applications/erigolem.desktop, usr/share/icons/hicolor/scalable/apps/erigolem.svg
#
# appimagetool is not in Debian, npm or PyPI: get it from https://github.com/AppImage/appimagetool
# releases (appimagetool-x86_64.AppImage, chmod +x, put it on PATH or set APPIMAGETOOL).
set -euo pipefail
cd "$(dirname "$0")/../.."

BUNDLE=dist/erigolem
APPDIR=build/Erigolem.AppDir
if [ ! -x "$BUNDLE/erigolem" ]; then
    echo "build-appimage: $BUNDLE/erigolem is missing; run scripts/package first" >&2
    exit 1
fi

rm -rf "$APPDIR"
mkdir -p "$APPDIR/usr/lib" "$APPDIR/usr/bin" "$APPDIR/usr/share/applications" \
    "$APPDIR/usr/share/icons/hicolor/scalable/apps"
cp -a "$BUNDLE" "$APPDIR/usr/lib/erigolem"
ln -s ../lib/erigolem/erigolem "$APPDIR/usr/bin/erigolem"
install -m 0755 packaging/linux/AppRun "$APPDIR/AppRun"
install -m 0644 resources/erigolem.desktop "$APPDIR/erigolem.desktop"
install -m 0644 resources/erigolem.desktop "$APPDIR/usr/share/applications/erigolem.desktop"
install -m 0644 resources/icons/app.svg "$APPDIR/erigolem.svg"
install -m 0644 resources/icons/app.svg "$APPDIR/usr/share/icons/hicolor/scalable/apps/erigolem.svg"
ln -s erigolem.svg "$APPDIR/.DirIcon"

# The AppDir must run before it is packed.
"$APPDIR/AppRun" --help >/dev/null
echo "build-appimage: AppDir ready: $APPDIR ($(du -sh "$APPDIR" | cut -f1))"

TOOL="${APPIMAGETOOL:-$(command -v appimagetool || command -v appimagetool-x86_64.AppImage || true)}"
if [ -z "$TOOL" ]; then
    cat >&2 <<'MSG'
build-appimage: appimagetool not found, so no .AppImage was made (the AppDir above is complete).
  It is not packaged by Debian, npm or PyPI. Download appimagetool-<arch>.AppImage from
  https://github.com/AppImage/appimagetool/releases, chmod +x it, then either put it on PATH as
  `appimagetool` or run:  APPIMAGETOOL=/path/to/appimagetool packaging/linux/build-appimage.sh
MSG
    exit 3
fi
VERSION=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("erigolem-desktop"))')
ARCH=$(uname -m)
OUT="dist/Erigolem-$VERSION-$ARCH.AppImage"
ARCH="$ARCH" VERSION="$VERSION" "$TOOL" --no-appstream "$APPDIR" "$OUT"
echo "build-appimage: $OUT ($(du -sh "$OUT" | cut -f1))"
