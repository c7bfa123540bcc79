#!/usr/bin/env bash
# Packages the extension (vsce, as a marketplace upload would) into $1 and checks that the .vsix holds the
# bundle, the config schema and the manifest. CTest runs it (vscode_extension_package).
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-out/lanes.vsix}
npx --no-install vsce package --no-dependencies --allow-missing-repository --skip-license -o "$out" >/dev/null
listing=$(unzip -l "$out")
for f in extension/dist/extension.js extension/schemas/lanes.schema.json extension/package.json; do
  grep -q "$f" <<<"$listing" || { echo "package.sh: $out lacks $f"; exit 1; }
done
echo "package.sh: $out"
