#!/usr/bin/env bash
# macOS: wrap dist/Erigolem.app (made by PyInstaller's BUNDLE step in packaging/erigolem.spec
# when built on macOS: scripts/package) into dist/Erigolem-<version>.dmg with hdiutil.
# NOT run on the Linux machine this was written on (no hdiutil, no codesign); see
# packaging/README.md. Signing/notarization are optional steps, done when the identity is set:
#   CODESIGN_IDENTITY="Developer ID Application: ..."   codesign the .app (hardened runtime)
#   NOTARY_PROFILE=<keychain profile of `xcrun notarytool store-credentials`>   notarize + staple
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(uname -s)" != "Darwin" ]; then
    echo "build-dmg: this step needs macOS (hdiutil); this is $(uname -s)" >&2
    exit 2
fi
APP=dist/Erigolem.app
if [ ! -d "$APP" ]; then
    echo "build-dmg: $APP is missing; run scripts/package on this Mac first" >&2
    exit 1
fi
VERSION=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("erigolem-desktop"))')
DMG="dist/Erigolem-$VERSION.dmg"

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    codesign --force --deep --options runtime --timestamp --sign "$CODESIGN_IDENTITY" "$APP"
    codesign --verify --deep --strict --verbose=2 "$APP"
fi

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"  # drag-to-install
rm -f "$DMG"
hdiutil create -volname "Erigolem" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    codesign --sign "$CODESIGN_IDENTITY" --timestamp "$DMG"
fi
if [ -n "${NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$DMG" --keychain-profile "$NOTARY_PROFILE" --wait
    xcrun stapler staple "$DMG"
fi
hdiutil verify "$DMG"
echo "build-dmg: $DMG ($(du -sh "$DMG" | cut -f1))"
