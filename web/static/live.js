// Live video: each <div data-live="camera" data-stream="main|sub"> plays the camera's live.mp4
// (fragmented MP4, a fragment per frame, copied from the camera without re-encoding) through Media
// Source Extensions, fed by a streaming fetch. It keeps close to the live edge (a little faster
// when behind, a jump when far behind), shows how far behind it is, reconnects by itself after a
// drop, and falls back to the MJPEG stream for cameras that send MJPEG and for browsers without
// MSE. No inline scripts, no dependencies.
(function () {
  "use strict";

  var MediaSourceClass = window.ManagedMediaSource || window.MediaSource;
  // Behind the live edge by more than this: play a little faster; by more than JUMP: jump.
  var CATCH_UP = 0.8;
  var JUMP = 3;
  // Where a start or a jump puts the playhead: this far before the newest frame.
  var LEAD = 0.2;
  // No data for this long: the connection is dead even if no error said so.
  var STALL_MS = 10000;

  function Player(box) {
    this.box = box;
    this.id = box.getAttribute("data-live");
    this.stream = box.getAttribute("data-stream") || "main";
    this.video = box.querySelector("video");
    this.mjpegImage = box.querySelector("img.live-mjpeg");
    this.note = box.querySelector("[data-live-note]");
    this.badge = box.querySelector("[data-live-delay]");
    this.retryMs = 1000;
    this.session = 0;
  }

  Player.prototype.say = function (text) {
    if (!this.note) return;
    this.note.textContent = text;
    this.note.hidden = !text;
  };

  Player.prototype.showDelay = function (text, late) {
    if (!this.badge) return;
    this.badge.textContent = text;
    this.badge.classList.toggle("late", !!late);
  };

  Player.prototype.url = function (kind) {
    var base = "/api/cameras/" + encodeURIComponent(this.id);
    return kind === "mjpeg" ? base + "/live.mjpeg" : base + "/live.mp4?stream=" + this.stream;
  };

  // Ends whatever plays now; the next start begins a new session (late callbacks of the old one
  // see that their session is over and do nothing).
  Player.prototype.stop = function () {
    this.session += 1;
    if (this.abort) this.abort.abort();
    this.abort = null;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.objectUrl) {
      this.video.removeAttribute("src");
      this.video.load();
      URL.revokeObjectURL(this.objectUrl);
      this.objectUrl = null;
    }
  };

  Player.prototype.start = function () {
    var self = this;
    this.stop();
    if (!MediaSourceClass) {
      this.mjpeg("This browser cannot play live video; showing pictures instead.");
      return;
    }
    var session = this.session;
    this.abort = new AbortController();
    fetch(this.url("mp4"), { signal: this.abort.signal, cache: "no-store", credentials: "same-origin" })
      .then(function (response) {
        if (session !== self.session) return null;
        if (response.status === 401) {
          window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname);
          return null;
        }
        if (response.status === 404) {
          self.say("This camera is not there any more.");
          return null;
        }
        if (response.status === 409) {
          self.mjpeg("");
          return null;
        }
        if (!response.ok || !response.body) throw new Error("the server answered " + response.status);
        var type = response.headers.get("Content-Type") || "";
        if (!MediaSourceClass.isTypeSupported(type)) {
          self.abort.abort();
          self.mjpeg("This browser cannot play this camera's video (" + type + "); showing pictures instead.");
          return null;
        }
        return self.play(response, type, session);
      })
      .catch(function (error) {
        if (session === self.session) self.again(error);
      });
  };

  // Appends the response's bytes to a SourceBuffer as they arrive and keeps the playhead live.
  Player.prototype.play = function (response, type, session) {
    var self = this;
    var video = this.video;
    var source = new MediaSourceClass();
    video.disableRemotePlayback = true; // ManagedMediaSource (Safari) asks for it
    video.hidden = false;
    this.mjpegImage.hidden = true;
    this.mjpegImage.removeAttribute("src");
    this.objectUrl = URL.createObjectURL(source);
    video.src = this.objectUrl;
    var live = { end: 0, at: 0, lastData: performance.now(), started: false };
    // From here on: no video for STALL_MS (the media source never opened, the data stopped) is a
    // dead connection.
    this.timer = setInterval(function () { self.keepLive(live, session); }, 500);
    return new Promise(function (resolve) {
      source.addEventListener("sourceopen", resolve, { once: true });
    }).then(function () {
      if (session !== self.session) return;
      var buffer = source.addSourceBuffer(type);
      var queue = [];
      function pump() {
        if (buffer.updating || !queue.length || session !== self.session) return;
        var size = queue.reduce(function (n, part) { return n + part.length; }, 0);
        var joined = new Uint8Array(size);
        var at = 0;
        queue.forEach(function (part) { joined.set(part, at); at += part.length; });
        queue = [];
        try {
          buffer.appendBuffer(joined);
        } catch (error) {
          self.again(error);
        }
      }
      buffer.addEventListener("updateend", function () {
        if (session !== self.session) return;
        var ranges = buffer.buffered;
        if (ranges.length) {
          var end = ranges.end(ranges.length - 1);
          if (end !== live.end) {
            live.end = end;
            live.at = performance.now();
          }
          if (!live.started) {
            live.started = true;
            video.currentTime = Math.max(ranges.start(0), end - LEAD);
            var playing = video.play();
            if (playing && playing.catch) playing.catch(function () { /* autoplay of muted video is allowed */ });
            self.say("");
            self.retryMs = 1000;
          } else if (video.currentTime - ranges.start(0) > 30) {
            // Keep about 10 s behind the playhead, not the whole visit.
            buffer.remove(ranges.start(0), video.currentTime - 10);
            return;
          }
        }
        pump();
      });
      var reader = response.body.getReader();
      function read() {
        return reader.read().then(function (chunk) {
          if (session !== self.session) return null;
          if (chunk.done) throw new Error("the stream ended");
          live.lastData = performance.now();
          queue.push(chunk.value);
          pump();
          return read();
        });
      }
      return read();
    });
  };

  // Twice a second: how far behind the live edge, and what to do about it.
  Player.prototype.keepLive = function (live, session) {
    if (session !== this.session) return;
    var now = performance.now();
    if (now - live.lastData > STALL_MS) {
      this.again(new Error("no video for " + Math.round(STALL_MS / 1000) + " s"));
      return;
    }
    if (!live.started) return;
    var edge = live.end + (now - live.at) / 1000;
    var behind = Math.max(0, edge - this.video.currentTime);
    // Barely moving with video ahead of it (Chromium sometimes stalls near the live edge, and on
    // streams with B-frames): like being far behind, a jump to the newest frames gets it going.
    var moved = this.video.currentTime - (live.lastTime || 0);
    var moving = moved >= 0.4 * (now - (live.lastTick || now)) / 1000;
    live.lastTime = this.video.currentTime;
    live.lastTick = now;
    live.stuckSince = moving || behind < 0.5 ? now : live.stuckSince || now;
    if (behind > JUMP || now - live.stuckSince > 1000) {
      this.video.currentTime = Math.max(0, live.end - LEAD);
      live.stuckSince = now;
    }
    this.video.playbackRate = behind > CATCH_UP ? 1.1 : 1;
    if (this.video.paused && !document.hidden) {
      var playing = this.video.play();
      if (playing && playing.catch) playing.catch(function () { /* retried next tick */ });
    }
    this.box.setAttribute("data-live-behind", behind.toFixed(2));
    this.showDelay("LIVE · " + behind.toFixed(1) + " s", behind > 2);
  };

  // The connection broke: try again, waiting longer each time (1 s up to 10 s).
  Player.prototype.again = function (error) {
    var self = this;
    this.stop();
    this.showDelay("offline", true);
    this.say("Reconnecting… (" + (error && error.message ? error.message : "the connection broke") + ")");
    var session = this.session;
    setTimeout(function () {
      if (session === self.session) self.start();
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 10000);
  };

  // Pictures instead of video: the camera's MJPEG stream at the detect size.
  Player.prototype.mjpeg = function (reason) {
    var self = this;
    this.stop();
    var session = this.session;
    this.video.hidden = true;
    this.mjpegImage.hidden = false;
    this.say(reason);
    this.showDelay("LIVE · pictures", false);
    this.mjpegImage.onload = function () { if (!reason) self.say(""); };
    this.mjpegImage.onerror = function () {
      if (session !== self.session) return;
      self.showDelay("offline", true);
      setTimeout(function () { if (session === self.session) self.mjpeg(reason); }, 3000);
    };
    this.mjpegImage.src = this.url("mjpeg") + "?t=" + Date.now();
  };

  function setUp(box) {
    var player = new Player(box);
    box.querySelectorAll("[data-live-stream]").forEach(function (button) {
      button.addEventListener("click", function () {
        player.stream = button.getAttribute("data-live-stream");
        box.setAttribute("data-stream", player.stream);
        box.querySelectorAll("[data-live-stream]").forEach(function (other) {
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
        player.start();
      });
    });
    var boxes = box.querySelector("[data-live-boxes]");
    var overlay = box.querySelector("svg.live-boxes");
    if (boxes && overlay) {
      boxes.checked = window.localStorage.getItem("watchpost.boxes") !== "off";
      overlay.hidden = !boxes.checked;
      boxes.addEventListener("change", function () {
        overlay.hidden = !boxes.checked;
        window.localStorage.setItem("watchpost.boxes", boxes.checked ? "on" : "off");
      });
    }
    var fullscreen = box.querySelector("[data-live-fullscreen]");
    if (fullscreen) {
      fullscreen.addEventListener("click", function () {
        if (document.fullscreenElement) {
          document.exitFullscreen();
        } else if (box.requestFullscreen) {
          box.requestFullscreen();
        } else if (player.video.webkitEnterFullscreen) {
          player.video.webkitEnterFullscreen(); // iPhone: the video alone
        }
      });
    }
    player.start();
    return player;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var players = Array.prototype.map.call(document.querySelectorAll("[data-live]"), setUp);
    // Leaving the page ends the responses at once (the server stops a stream nobody watches); a
    // hidden tab stops too and starts again, at the live edge, when it is shown.
    window.addEventListener("pagehide", function () { players.forEach(function (p) { p.stop(); }); });
    document.addEventListener("visibilitychange", function () {
      players.forEach(function (p) {
        if (document.hidden) {
          p.stop();
          p.mjpegImage.removeAttribute("src");
        } else {
          p.start();
        }
      });
    });
  });
})();
