#!/usr/bin/env sh
# Add (or with --uninstall remove) emodesk to this user's application menu: the .desktop entry with the
# absolute path of this folder's executable, and the icons in the hicolor theme. Shipped in the frozen
# bundle next to the emodesk executable; nothing is written outside $XDG_DATA_HOME (~/.local/share).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
apps=$data/applications
icons=$data/icons/hicolor
if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$apps/emodesk.desktop" "$icons"/*/apps/emodesk.png "$icons/scalable/apps/emodesk.svg"
  echo "removed emodesk from $apps and $icons"
  exit 0
fi
[ -x "$here/emodesk" ] || { echo "install-desktop-entry.sh: no emodesk executable in $here" >&2; exit 1; }
mkdir -p "$apps" "$icons/scalable/apps"
for png in "$here"/icons/emodesk-*.png; do
  size=$(basename "$png" .png); size=${size#emodesk-}
  mkdir -p "$icons/${size}x${size}/apps"
  cp "$png" "$icons/${size}x${size}/apps/emodesk.png"
done
cp "$here/icons/emodesk.svg" "$icons/scalable/apps/emodesk.svg"
# the entry names the executable by absolute path: the bundle folder is not on PATH
sed -e "s|^Exec=emodesk |Exec=\"$here/emodesk\" |" -e "s|^TryExec=emodesk\$|TryExec=$here/emodesk|" \
  "$here/emodesk.desktop" > "$apps/emodesk.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$icons" 2>/dev/null || true
echo "emodesk added to the application menu ($apps/emodesk.desktop)"
