// Watchpost UI: keeps live pictures and camera badges fresh. No inline scripts, no dependencies.
(function () {
  "use strict";

  // Live pictures: reload each <img data-refresh> about once a second, one request at a time,
  // and only while the page is visible.
  function refreshImage(img) {
    if (document.hidden || img.dataset.loading === "1") return;
    var next = new Image();
    img.dataset.loading = "1";
    next.onload = function () {
      img.src = next.src;
      img.classList.remove("missing");
      img.dataset.loading = "0";
    };
    next.onerror = function () {
      img.classList.add("missing");
      img.dataset.loading = "0";
    };
    next.src = img.dataset.refresh + "?t=" + Date.now();
  }

  function refreshStatus() {
    if (document.hidden || !document.querySelector("[data-camera-state]")) return;
    fetch("/api/cameras", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (cameras) {
        cameras.forEach(function (c) {
          document.querySelectorAll('[data-camera-state="' + c.id + '"]').forEach(function (el) {
            el.textContent = c.state;
            el.className = "badge state-" + c.state;
          });
          document.querySelectorAll('[data-camera-motion="' + c.id + '"]').forEach(function (el) {
            el.hidden = !c.motion;
          });
          document.querySelectorAll('[data-camera-error="' + c.id + '"]').forEach(function (el) {
            el.textContent = c.last_error || (c.fps.toFixed(1) + " fps · " + (c.last_frame_ms ? "live" : "no picture yet"));
          });
        });
      })
      .catch(function () { /* the server is restarting; try again next tick */ });
  }

  // "Select all on this page": ticks every checkbox that belongs to the form it names.
  document.addEventListener("click", function (event) {
    var form = event.target.getAttribute && event.target.getAttribute("data-select-all");
    if (!form) return;
    var boxes = document.querySelectorAll('input[type="checkbox"][form="' + form + '"]');
    var all = Array.prototype.every.call(boxes, function (box) { return box.checked; });
    Array.prototype.forEach.call(boxes, function (box) { box.checked = !all; });
  });

  // Forms that cannot be undone ask first: <form data-confirm="question">.
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // Pages with work in progress (a discovery scan) reload until it is done.
  if (document.querySelector("[data-reload-while]")) {
    setTimeout(function () { window.location.reload(); }, 1500);
  }

  // Pages that show live state (the Nodes page) reload every few seconds while visible and while
  // nothing on them is being typed into.
  var every = document.querySelector("[data-refresh-every]");
  if (every) {
    setInterval(function () {
      var typing = document.activeElement && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName);
      if (!document.hidden && !typing) window.location.reload();
    }, 1000 * Number(every.getAttribute("data-refresh-every")));
  }

  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    var id = event.target.getAttribute && event.target.getAttribute("data-copy");
    if (!id || !navigator.clipboard) return;
    navigator.clipboard.writeText(document.getElementById(id).textContent).then(function () {
      event.target.textContent = "Copied";
    });
  });

  // The camera page: boxes around the objects the camera follows, refreshed with the picture.
  function refreshBoxes(svg) {
    if (document.hidden) return;
    var id = svg.getAttribute("data-camera-boxes");
    fetch("/api/cameras/" + encodeURIComponent(id), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (camera) {
        if (!camera) return;
        while (svg.firstChild) svg.removeChild(svg.firstChild);
        var names = [];
        (camera.objects || []).forEach(function (o) {
          var rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
          rect.setAttribute("x", o.box[0]);
          rect.setAttribute("y", o.box[1]);
          rect.setAttribute("width", o.box[2]);
          rect.setAttribute("height", o.box[3]);
          if (o.stationary) rect.setAttribute("class", "stationary");
          svg.appendChild(rect);
          names.push(o.label + " " + Math.round(o.score * 100) + "%" + (o.stationary ? " (still)" : ""));
        });
        var caption = document.querySelector('[data-camera-objects="' + id + '"]');
        if (caption) caption.textContent = names.length ? "Following: " + names.join(", ") : "";
      })
      .catch(function () { /* try again next tick */ });
  }

  // The installable app: the service worker keeps the shell and shows pushed alerts. Browsers
  // allow it only over HTTPS (or on localhost).
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(function () { /* the UI works without it */ });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function applicationServerKey(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var key = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) key[i] = raw.charCodeAt(i);
    return key;
  }

  function guessDeviceName() {
    var agent = navigator.userAgent;
    var system = ["Android", "iPhone", "iPad", "Windows", "Mac OS X", "Linux"].filter(function (s) { return agent.indexOf(s) >= 0; })[0];
    var browser = ["Firefox", "Edg", "Chrome", "Safari"].filter(function (b) { return agent.indexOf(b + "/") >= 0; })[0];
    return [browser === "Edg" ? "Edge" : browser, system === "Mac OS X" ? "macOS" : system].filter(Boolean).join(" on ") || "This device";
  }

  // The account page's "Turn on notifications": asks the browser, subscribes with the server's
  // key, and hands the subscription to Watchpost.
  function setUpPush(section) {
    var status = section.querySelector("[data-push-status]");
    var controls = section.querySelector("[data-push-controls]");
    var name = section.querySelector("[data-push-name]");
    var button = section.querySelector("[data-push-enable]");
    function say(text) { status.textContent = text; }
    if (!window.isSecureContext) {
      say("Notifications need Watchpost to be opened over HTTPS (see docs/push.md); this page is not.");
      return;
    }
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      say("This browser cannot receive push notifications. On an iPhone, add Watchpost to the home screen and open it from there.");
      return;
    }
    controls.hidden = false;
    name.value = guessDeviceName();
    navigator.serviceWorker.ready.then(function (registration) {
      return registration.pushManager.getSubscription();
    }).then(function (subscription) {
      if (subscription && Notification.permission === "granted") {
        say("This device may get notifications. Turn them on again if it is not listed below.");
      } else if (Notification.permission === "denied") {
        say("Notifications are blocked for this site in the browser's settings; allow them there first.");
      }
    });
    button.addEventListener("click", function () {
      button.disabled = true;
      say("Asking the browser…");
      Notification.requestPermission().then(function (permission) {
        if (permission !== "granted") throw new Error("Notifications were not allowed.");
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true,
          applicationServerKey: applicationServerKey(section.dataset.pushKey),
        });
      }).then(function (subscription) {
        return fetch("/api/push/subscriptions", {
          method: "POST",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
          body: JSON.stringify({ name: name.value, subscription: subscription.toJSON() }),
        });
      }).then(function (response) {
        if (!response.ok) return response.json().then(function (answer) { throw new Error(answer.error); });
        window.location.assign("/account?done=push-on#notifications");
      }).catch(function (err) {
        button.disabled = false;
        say("Notifications are not on: " + (err && err.message ? err.message : err));
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var push = document.querySelector("[data-push-key]");
    if (push) setUpPush(push);
    var boxes = Array.prototype.slice.call(document.querySelectorAll("svg[data-camera-boxes]"));
    if (boxes.length) {
      setInterval(function () { boxes.forEach(refreshBoxes); }, 1000);
    }
    var images = Array.prototype.slice.call(document.querySelectorAll("img[data-refresh]"));
    images.forEach(function (img) {
      img.addEventListener("error", function () { img.classList.add("missing"); });
    });
    if (images.length) {
      setInterval(function () { images.forEach(refreshImage); }, 1000);
    }
    setInterval(refreshStatus, 3000);
  });
})();
