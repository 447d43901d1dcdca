#!/usr/bin/env python3
"""A real RTSP server for the tests (GStreamer's gst-rtsp-server).

Serves an H.264 MP4 file at rtsp://127.0.0.1:PORT/stream without re-encoding. Every client gets
its own pipeline that starts at the beginning of the file, in real time; when the file ends the
stream ends. Prints "ready" once it listens, then "client" for every client connection (so a test
can count the connections a camera would see). With USER and PASSWORD, the stream asks for them by
HTTP Digest authentication, as cameras do.

Usage: rtsp_server.py PORT FILE [USER PASSWORD]
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def tell(line):
    """A line for whoever started the server; nobody listening is fine."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        pass


def main():
    port, clip = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{clip}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )'
    )
    factory.set_shared(False)
    if len(sys.argv) == 5:
        user, password = sys.argv[3], sys.argv[4]
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_digest(user, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )
    server.get_mount_points().add_factory("/stream", factory)
    server.connect("client-connected", lambda _server, _client: tell("client"))
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
