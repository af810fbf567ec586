# GStreamer's RTSP server (gst-rtsp-server, Debian packages) serving a live H.264 test pattern
# at /test on ADDRESS and an OS-chosen port, which it prints on stdout. Run by
# tests/gst_interop.rs: an RTSP server not written by us, for camwatch's RTSP probe.
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer, GLib

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address(sys.argv[1])
server.set_service("0")
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1 "
    "! x264enc tune=zerolatency key-int-max=10 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
)
factory.set_shared(False)
server.get_mount_points().add_factory("/test", factory)
server.attach(None)
print(server.get_bound_port(), flush=True)
GLib.MainLoop().run()
