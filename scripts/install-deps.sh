#!/usr/bin/env bash
# Installs the Debian 12 packages vigil needs to build, test, run (`make run`)
# and benchmark, skipping what is already there (so it is quick on a prepared
# machine and complete on a clean one), then checks that every GStreamer
# element, program, Python module, typelib and pkg-config module the project
# uses is really there, naming the package when one is not. Needs root (or
# sudo) only when something is missing.
#
# Installs with --no-install-recommends, so every package is named here, not
# left to a Recommends that happens to be on the machine where it was tried.
# Each line: a package, then what the project uses of it (gst:ELEMENT,
# prog:PROGRAM, py:MODULE, typelib:NAMESPACE, pc:PKGCONFIG-MODULE).
# tests/integration/test_deps.py derives those uses from the sources and fails
# when one comes from a package not listed here.
set -euo pipefail
deps=(
  # build
  "build-essential               prog:make prog:gcc rt:libasan.so rt:libubsan.so"
  "cmake                         prog:cmake prog:ctest"
  "pkg-config                    prog:pkg-config"
  "clang                         prog:clang"
  "clang-tidy                    prog:clang-tidy"
  "libclang-rt-14-dev            rt:libclang_rt.fuzzer-x86_64.a rt:libclang_rt.asan-x86_64.a rt:libclang_rt.ubsan_standalone-x86_64.a"
  "libavformat-dev               pc:libavformat"
  "libavcodec-dev                pc:libavcodec"
  "libavutil-dev                 pc:libavutil"
  "libswscale-dev                pc:libswscale"
  "libuv1-dev                    pc:libuv"
  "libsqlite3-dev                pc:sqlite3"
  "libyaml-dev                   pc:yaml-0.1"
  "libjansson-dev                pc:jansson"
  "libcmocka-dev                 pc:cmocka"
  "libh2o-dev                    pc:libh2o"
  "libcurl4-openssl-dev          pc:libcurl"
  "libsystemd-dev                pc:libsystemd"
  "libssl-dev                    pc:libcrypto pc:libssl"
  "zlib1g-dev                    pc:zlib"
  "libgstreamer1.0-dev           pc:gstreamer-1.0"
  "libgstreamer-plugins-base1.0-dev pc:gstreamer-app-1.0 pc:gstreamer-video-1.0 pc:gstreamer-rtsp-1.0"
  "libgstrtspserver-1.0-dev      pc:gstreamer-rtsp-server-1.0"
  # camsim's cameras and the GStreamer rtsp-server the native client is tested against
  "gstreamer1.0-tools            prog:gst-inspect-1.0"
  "gstreamer1.0-plugins-base     gst:appsrc gst:appsink gst:videotestsrc gst:audiotestsrc gst:audioconvert"
  "gstreamer1.0-plugins-good     gst:rtph264pay gst:rtph265pay gst:rtpmp4gpay gst:rtppcmupay gst:rtppcmapay gst:aacparse gst:mulawenc gst:alawenc"
  "gstreamer1.0-plugins-bad      gst:x265enc gst:h265parse"
  "gstreamer1.0-plugins-ugly     gst:x264enc"
  "gstreamer1.0-libav            gst:avenc_aac"
  "gstreamer1.0-x                gst:clockoverlay"
  "python3-gi                    py:gi"
  "python3-matplotlib            py:matplotlib"
  "gir1.2-glib-2.0               typelib:GLib"
  "gir1.2-gstreamer-1.0          typelib:Gst"
  "gir1.2-gst-plugins-base-1.0   typelib:GstRtsp"
  "gir1.2-gst-rtsp-server-1.0    typelib:GstRtspServer"
  # tests, the demo and the benchmarks
  "ffmpeg                        prog:ffmpeg prog:ffprobe"
  "python3                       prog:python3 prog:/usr/bin/python3"
  "systemd                       prog:systemd-analyze"
  "mount                         prog:mount prog:umount"
  "mawk                          prog:awk"
  "chromium                      prog:/usr/bin/chromium"
  "nodejs                        prog:node"
  "npm                           prog:npm"
  "linux-perf                    prog:perf"
  "apt                           prog:apt-cache"
  # an evidence bundle's VERIFY steps, run as written by the tests
  "openssl                       prog:openssl"
)
SYSTEM_PATH=/usr/sbin:/usr/bin:/sbin:/bin

pkgs=()
for line in "${deps[@]}"; do
  read -r p _ <<<"$line"
  pkgs+=("$p")
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs/npm may come from elsewhere (NodeSource's nodejs carries npm): accept
# working commands; the checks below still require node and npm.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# What each package is here for must be there now.
gst_elements=" $(PATH=$SYSTEM_PATH gst-inspect-1.0 2>/dev/null | sed -n 's/^[^:]*: *\([^:]*\):.*/\1/p' | tr '\n' ' ') "
bad=0
for line in "${deps[@]}"; do
  read -r p items <<<"$line"
  for it in $items; do
    ok=1
    case $it in
      gst:*)     [[ $gst_elements == *" ${it#gst:} "* ]] || ok=0 ;;
      prog:/*)   [ -x "${it#prog:}" ] || ok=0 ;;
      prog:*)    PATH=$SYSTEM_PATH command -v "${it#prog:}" >/dev/null || ok=0 ;;
      py:*)      /usr/bin/python3 -c "import ${it#py:}" 2>/dev/null || ok=0 ;;
      typelib:*) /usr/bin/python3 -c "import gi; gi.require_version('${it#typelib:}', \
                   {'GLib': '2.0'}.get('${it#typelib:}', '1.0')); \
                   from gi.repository import ${it#typelib:}" 2>/dev/null || ok=0 ;;
      pc:*)      pkg-config --exists "${it#pc:}" || ok=0 ;;
      rt:libclang_rt.*) [ -e "$(clang --print-runtime-dir)/${it#rt:}" ] || ok=0 ;;
      rt:*)      [ "$(gcc -print-file-name="${it#rt:}")" != "${it#rt:}" ] || ok=0 ;;
    esac
    if [ $ok = 0 ]; then
      echo "install-deps: ${it#*:} (${it%%:*}) is missing; it comes from package $p" >&2
      bad=1
    fi
  done
done
exit $bad
