#!/usr/bin/python3
"""A GStreamer rtsp-server for the native RTSP client's interop tests.

Usage: gst_server.py PORT [--auth basic|digest] [--user U --pass P]
Mounts (all live test sources):
  /h264      H.264 video            /h265      H.265 video
  /h264aac   H.264 + AAC            /h265aac   H.265 + AAC
  /h264pcmu  H.264 + G.711 u-law    /h264pcma  H.264 + G.711 A-law
Prints "READY port=P" when listening. Runs until killed.
Needs the system python3 (python3-gi, gir1.2-gst-rtsp-server-1.0).
"""
import sys
import argparse
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer, GLib

V264 = ("videotestsrc is-live=1 pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
        "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph264pay name=pay0 pt=96")
V265 = ("videotestsrc is-live=1 pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 ! "
        "x265enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! rtph265pay name=pay0 pt=96")
AAC = ("audiotestsrc is-live=1 wave=sine ! audio/x-raw,rate=16000,channels=1 ! avenc_aac ! "
       "rtpmp4gpay name=pay1 pt=97")
PCMU = "audiotestsrc is-live=1 ! audio/x-raw,rate=8000,channels=1 ! mulawenc ! rtppcmupay name=pay1 pt=0"
PCMA = "audiotestsrc is-live=1 ! audio/x-raw,rate=8000,channels=1 ! alawenc ! rtppcmapay name=pay1 pt=8"
MOUNTS = {
    "/h264": V264, "/h265": V265, "/h264aac": V264 + " " + AAC, "/h265aac": V265 + " " + AAC,
    "/h264pcmu": V264 + " " + PCMU, "/h264pcma": V264 + " " + PCMA,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="admin")
    ap.add_argument("--pass", dest="password", default="secret")
    a = ap.parse_args()
    Gst.init(None)
    srv = GstRtspServer.RTSPServer()
    srv.set_address("127.0.0.1")
    srv.set_service(str(a.port))
    mounts = srv.get_mount_points()
    for path, launch in MOUNTS.items():
        f = GstRtspServer.RTSPMediaFactory()
        f.set_launch("( " + launch + " )")
        f.set_shared(True)
        if a.auth != "none":
            f.add_role_from_structure(Gst.Structure.new_from_string(
                "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        mounts.add_factory(path, f)
    if a.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        tok = GstRtspServer.RTSPToken()
        tok.set_string("media.factory.role", "user")
        if a.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), tok)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(a.user, a.password, tok)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        srv.set_auth(auth)
    if srv.attach(None) == 0:
        print("attach failed", file=sys.stderr)
        sys.exit(1)
    # PORT 0: the kernel picks it; the test reads it from here
    print("READY port=%d" % srv.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
