#!/usr/bin/env bash
# `make run`: starts a simulated camera fleet (camsim on 127.0.0.1:8554) and
# vigild on demo/vigil.yaml in the foreground. Ctrl-C stops both.
set -euo pipefail
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p demo/run
"$build/tools/camsim/camsim" --port 8554 \
  --mount "lucnam-cs-001:codec=h264" \
  --mount "lucnam-cs-002:codec=h264,bframes=2" \
  --mount "bg-ttpvhcc-001:codec=h264,user=viewer,password=demo-secret" \
  --mount "ql1a-km112:codec=h265,audio=aac" \
  --mount "ql1a-km112-sub:codec=h264,size=640x360" \
  --mount "yenthe-rung-01:codec=h264,audio=pcmu" \
  --mount "hiephoa-ubnd-01:codec=h264" >demo/run/camsim.out 2>demo/run/camsim.log </dev/null &
camsim=$!
trap 'kill $camsim 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q READY demo/run/camsim.out 2>/dev/null && break; sleep 0.2; done
cat <<MSG
vigil demo
  cameras:     camsim on rtsp://127.0.0.1:8554/<camera-id>  (log: demo/run/camsim.log)
  recordings:  $top/demo/run/pool0/<camera>/<YYYY>/<MM>/<DD>/<HH>/*.mp4
  index:       $top/demo/run/index.db
  list them:   $build/tools/vigilctl/vigilctl --config demo/vigil.yaml segments lucnam-cs-001
               $build/tools/vigilctl/vigilctl --config demo/vigil.yaml events
  web console: http://127.0.0.1:8080/#/wall  (the video wall: the demo cameras live)
  HTTP API:    http://127.0.0.1:8080/api/cameras
  stop:        Ctrl-C
MSG
"$build/daemon/vigild" --config demo/vigil.yaml
