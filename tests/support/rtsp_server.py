#!/usr/bin/env python3
"""A real RTSP server for the tests (GStreamer's gst-rtsp-server).

Serves an H.264 MP4 file at rtsp://127.0.0.1:PORT/stream without re-encoding. Every client gets
its own pipeline that starts at the beginning of the file, in real time; when the file ends the
stream ends. Prints "ready" once it listens, then "client" for every client connection (so a test
can count the connections a camera would see). With USER and PASSWORD, the stream asks for them by
HTTP Digest authentication, as cameras do.

With --marks=T1,T2,... (seconds into the file), prints "mark INDEX EPOCH_MS" for each: the wall-clock
time at which the first frame at or after that time is due to leave the server (its running time on
the pipeline's clock, converted to the Unix epoch), so a benchmark knows when a scene change it put
at T reached the wire.

Usage: rtsp_server.py [--marks=T1,T2,...] PORT FILE [USER PASSWORD]
"""
import sys
import time

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


def mark_frames(marks):
    """A media-configure handler that tells when the frames at `marks` (seconds) are due out."""

    def configure(_factory, media):
        pay = media.get_element().get_by_name("pay0")
        pending = [int(m * Gst.SECOND) for m in marks]
        told = 0

        def probe(pad, info):
            nonlocal told
            buffer = info.get_buffer()
            while pending and buffer.pts != Gst.CLOCK_TIME_NONE and buffer.pts >= pending[0]:
                pending.pop(0)
                segment = pad.get_sticky_event(Gst.EventType.SEGMENT, 0).parse_segment()
                running = segment.to_running_time(Gst.Format.TIME, buffer.pts)
                clock = pay.get_clock()
                # Due at base time + running time on the pipeline's clock; frames ahead of it wait
                # in the sink, so this is when it leaves, not when it was read from the file.
                ahead_ns = pay.get_base_time() + running - clock.get_time() if clock else 0
                tell(f"mark {told} {time.time() * 1000 + ahead_ns / 1e6:.1f}")
                told += 1
            return Gst.PadProbeReturn.OK

        pay.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)

    return configure


def main():
    marks = [float(m) for arg in sys.argv[1:] if arg.startswith("--marks=") for m in arg[8:].split(",") if m]
    sys.argv = [arg for arg in sys.argv if not arg.startswith("--marks=")]
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
    if marks:
        factory.connect("media-configure", mark_frames(marks))
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
