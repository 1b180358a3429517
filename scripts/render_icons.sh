#!/usr/bin/env bash
# Render resources/icons/emodesk.svg into the PNG sizes the Linux desktop, the window and PyInstaller use,
# and the Windows .ico. Needs rsvg-convert (librsvg2-bin) and ImageMagick's convert. The outputs are committed,
# so a build never needs these tools; rerun this after editing the SVG.
set -euo pipefail
cd "$(dirname "$0")/../resources/icons"
for size in 16 32 48 64 128 256 512; do
  rsvg-convert -w "$size" -h "$size" emodesk.svg -o "emodesk-$size.png"
done
# one .ico with the sizes Windows picks from (taskbar, Explorer, title bar)
convert emodesk-16.png emodesk-32.png emodesk-48.png emodesk-256.png emodesk.ico
