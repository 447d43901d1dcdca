// Watchpost's service worker: makes the UI an installable app, keeps its shell (styles, scripts,
// icons) for quick and offline starts — never pictures, video or data — and shows alerts pushed
// by the server (Web Push), with "Resolve" and "Mute 1 h" buttons. Served at /sw.js so that its
// scope is the whole site. Plain JavaScript, no dependencies.
"use strict";

// Named after the Watchpost version (filled in when /sw.js is served): a new version brings a new
// service worker, which fills a new cache and deletes the old one.
var SHELL_CACHE = "watchpost-shell-@VERSION@";
var SHELL = [
  "/static/style.css",
  "/static/app.js",
  "/static/favicon.svg",
  "/static/icon-192.png",
  "/static/icon-512.png",
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(SHELL_CACHE)
      .then(function (cache) { return cache.addAll(SHELL); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names.filter(function (n) { return n !== SHELL_CACHE; })
          .map(function (n) { return caches.delete(n); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

var OFFLINE_PAGE =
  '<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">' +
  '<title>Offline · Watchpost</title><link rel="stylesheet" href="/static/style.css">' +
  '<main class="page"><section class="card"><h1>Watchpost cannot be reached</h1>' +
  "<p>This device is offline, or the server is. Try again when it is back.</p></section></main>";

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.indexOf("/static/") === 0) {
    // The shell: from the cache at once, refreshed behind it.
    event.respondWith(
      caches.open(SHELL_CACHE).then(function (cache) {
        return cache.match(request).then(function (cached) {
          var fresh = fetch(request).then(function (response) {
            if (response.ok && SHELL.indexOf(url.pathname) >= 0) cache.put(request, response.clone());
            return response;
          });
          return cached || fresh;
        });
      })
    );
    return;
  }
  if (request.mode === "navigate") {
    // Pages always come from the server; only when it cannot be reached is a note shown.
    event.respondWith(
      fetch(request).catch(function () {
        return new Response(OFFLINE_PAGE, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
      })
    );
  }
  // Everything else (pictures, video, the API) goes to the network, never into a cache.
});

// The snapshot as a data: URL (a service worker has no object URLs), or null.
function snapshot(path, token) {
  if (!path) return Promise.resolve(null);
  return fetch(path + "?token=" + encodeURIComponent(token), { credentials: "omit" })
    .then(function (response) { return response.ok ? response.arrayBuffer() : null; })
    .then(function (buffer) {
      if (!buffer) return null;
      var bytes = new Uint8Array(buffer);
      var text = "";
      for (var i = 0; i < bytes.length; i += 0x8000) {
        text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
      }
      return "data:image/jpeg;base64," + btoa(text);
    })
    .catch(function () { return null; });
}

self.addEventListener("push", function (event) {
  var alert;
  try {
    alert = event.data ? event.data.json() : null;
  } catch (e) {
    alert = null;
  }
  if (!alert || alert.type !== "alert") {
    event.waitUntil(self.registration.showNotification("Watchpost", { body: "Something happened; open Watchpost." }));
    return;
  }
  event.waitUntil(
    snapshot(alert.image, alert.token).then(function (image) {
      var options = {
        body: alert.body,
        icon: "/static/icon-192.png",
        badge: "/static/icon-192.png",
        tag: "event-" + alert.event,
        timestamp: alert.start_ms,
        requireInteraction: alert.severity === "high",
        data: { url: alert.url, event: alert.event, token: alert.token },
        actions: alert.actions
          ? [{ action: "resolve", title: "Resolve" }, { action: "mute", title: "Mute 1 h" }]
          : [],
      };
      if (image) options.image = image;
      return self.registration.showNotification(alert.title, options);
    })
  );
});

// The browser replaced the subscription on its own (new keys, or its push service moved it): the
// new one goes to Watchpost, authorised by the old endpoint, so the device keeps its alerts.
self.addEventListener("pushsubscriptionchange", function (event) {
  var old = event.oldSubscription;
  if (!old) return;
  var renewed = event.newSubscription
    ? Promise.resolve(event.newSubscription)
    : self.registration.pushManager.subscribe(old.options);
  event.waitUntil(
    renewed.then(function (subscription) {
      return fetch("/push/subscription-change", {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ old_endpoint: old.endpoint, subscription: subscription.toJSON() }),
      });
    }).catch(function () { /* the account page offers to turn notifications on again */ })
  );
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if (event.action === "resolve" || event.action === "mute") {
    event.waitUntil(
      fetch("/push/events/" + data.event + "/" + event.action, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token: data.token }),
      })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          return self.registration.showNotification("Watchpost", {
            body: answer.message || answer.error || "Done.",
            icon: "/static/icon-192.png",
            tag: "event-" + data.event + "-done",
          });
        })
        .catch(function () {
          return self.registration.showNotification("Watchpost", {
            body: "Watchpost cannot be reached; nothing was changed.",
            tag: "event-" + data.event + "-done",
          });
        })
    );
    return;
  }
  var target = new URL(data.url || "/", self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === target && "focus" in windows[i]) return windows[i].focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
