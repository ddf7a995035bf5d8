#!/bin/sh
# /usr/bin/erigolem: the desktop app (no arguments) and the CLI, from the bundle in /opt/erigolem.
# anvil (the dev-chain client) ships in /opt/erigolem/bin; it comes after the user's own PATH, so
# an anvil the user installed wins. nginx comes from Debian (/usr/sbin, added for non-root users).
PATH="${PATH:-/usr/bin:/bin}:/usr/sbin:/opt/erigolem/bin"
export PATH
exec /opt/erigolem/erigolem "$@"
