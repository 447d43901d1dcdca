// The timeline page: click the day's bar (or an event) to play the recording from that moment;
// step between events; the player shows the wall-clock time it is at, and a second bar shows
// the hour being played, minute by minute. Video comes from the
// export route, ten minutes at a time, and the next ten minutes follow when one ends.
(function () {
  const root = document.getElementById('timeline');
  if (!root) return;
  const camera = root.dataset.camera;
  const dayStart = Number(root.dataset.dayStart);
  const dayMs = Number(root.dataset.dayMs);
  const video = document.getElementById('timeline-video');
  const bar = root.querySelector('.timeline-bar');
  const cursor = document.getElementById('timeline-cursor');
  const playing = document.getElementById('timeline-playing');
  const download = document.getElementById('timeline-download');
  const CHUNK_MS = 10 * 60 * 1000;
  const spans = [...root.querySelectorAll('.recorded-span')].map((r) => [Number(r.dataset.start), Number(r.dataset.end)]);
  const events = [...document.querySelectorAll('[data-play-at]')].map((b) => Number(b.dataset.playAt));
  const hourBar = document.getElementById('timeline-hour');
  const hourMarks = document.getElementById('timeline-hour-marks');
  const hourCursor = document.getElementById('timeline-hour-cursor');
  const hourLabel = document.getElementById('timeline-hour-label');
  const HOUR_MS = 3600 * 1000;
  const SVG = 'http://www.w3.org/2000/svg';
  let chunkStart = null;
  let hourStart = null;

  const iso = (ms) => new Date(ms).toISOString();
  const clock = (ms) => new Date(ms).toLocaleTimeString();

  // The recorded moment at or after `ms` (the start of the next span when `ms` falls in a gap).
  function recordedFrom(ms) {
    for (const [start, end] of spans) {
      if (ms < end) return { at: Math.max(ms, start), end };
    }
    return null;
  }

  function play(ms) {
    const found = recordedFrom(ms);
    if (!found) {
      playing.textContent = 'Nothing was recorded after ' + clock(ms) + ' on this day.';
      return;
    }
    chunkStart = found.at;
    const to = Math.min(found.end, found.at + CHUNK_MS);
    const query = '?from=' + encodeURIComponent(iso(found.at)) + '&to=' + encodeURIComponent(iso(to));
    video.src = '/api/cameras/' + encodeURIComponent(camera) + '/export.mp4' + query;
    download.href = video.src + '&download=1';
    download.hidden = false;
    video.play().catch(() => {});
    show(found.at);
  }

  function show(ms) {
    cursor.setAttribute('x', String(((ms - dayStart) / dayMs) * 1000));
    playing.textContent = 'Playing ' + clock(ms);
    drawHour(ms);
    hourCursor.setAttribute('x', String((ms - hourStart) / 1000));
  }

  // The hour around `ms`: its recorded spans and events, in seconds across 3600.
  function drawHour(ms) {
    const start = ms - ((ms - dayStart) % HOUR_MS);
    if (start === hourStart) return;
    hourStart = start;
    hourMarks.replaceChildren();
    const mark = (cls, from, to, y, height) => {
      const rect = document.createElementNS(SVG, 'rect');
      rect.setAttribute('class', cls);
      rect.setAttribute('x', String((from - start) / 1000));
      rect.setAttribute('width', String(Math.max((to - from) / 1000, 4)));
      rect.setAttribute('y', String(y));
      rect.setAttribute('height', String(height));
      hourMarks.appendChild(rect);
    };
    for (const [from, to] of spans) {
      if (to > start && from < start + HOUR_MS) mark('timeline-span', Math.max(from, start), Math.min(to, start + HOUR_MS), 20, 60);
    }
    for (const at of events) {
      if (at >= start && at < start + HOUR_MS) mark('timeline-event', at, at, 0, 100);
    }
    hourLabel.textContent = clock(start) + ' to ' + clock(start + HOUR_MS);
  }

  bar.addEventListener('click', (e) => {
    const box = bar.getBoundingClientRect();
    play(dayStart + ((e.clientX - box.left) / box.width) * dayMs);
  });
  hourBar.addEventListener('click', (e) => {
    if (hourStart === null) return;
    const box = hourBar.getBoundingClientRect();
    play(hourStart + ((e.clientX - box.left) / box.width) * HOUR_MS);
  });
  video.addEventListener('timeupdate', () => {
    if (chunkStart !== null) show(chunkStart + video.currentTime * 1000);
  });
  video.addEventListener('ended', () => {
    if (chunkStart !== null) play(chunkStart + video.duration * 1000 + 1);
  });
  const now = () => (chunkStart === null ? dayStart : chunkStart + video.currentTime * 1000);
  document.getElementById('timeline-next').addEventListener('click', () => {
    const next = events.find((t) => t > now() + 1000);
    if (next !== undefined) play(next - 5000);
  });
  document.getElementById('timeline-previous').addEventListener('click', () => {
    const earlier = events.filter((t) => t < now() - 6000);
    if (earlier.length) play(earlier[earlier.length - 1] - 5000);
  });
  document.querySelectorAll('[data-play-at]').forEach((b) =>
    b.addEventListener('click', () => play(Number(b.dataset.playAt) - 5000)));
  // Export any span of the day: the file is joined on the server, then downloaded. Joining an
  // hour takes seconds, so the page says it is working until the download starts.
  const exportForm = document.getElementById('timeline-export');
  const exportState = document.getElementById('timeline-export-state');
  const atTime = (value) => {
    const [h, m, s] = value.split(':').map(Number);
    return dayStart + ((h * 60 + m) * 60 + (s || 0)) * 1000;
  };
  exportForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const from = atTime(exportForm.elements.from.value);
    let to = atTime(exportForm.elements.to.value);
    if (to <= from) to += 24 * HOUR_MS;
    const url = '/api/cameras/' + encodeURIComponent(camera) + '/export.mp4?from=' +
      encodeURIComponent(iso(from)) + '&to=' + encodeURIComponent(iso(to)) + '&download=1';
    exportState.textContent = 'Joining the recording…';
    // A HEAD-less check: ask for the first byte, so errors are shown here and not as a broken file.
    const answer = await fetch(url, { headers: { Range: 'bytes=0-0' } });
    if (!answer.ok) {
      const body = await answer.json().catch(() => ({}));
      exportState.textContent = body.error || ('The export failed (' + answer.status + ').');
      return;
    }
    exportState.textContent = 'Ready: the download starts.';
    window.location.href = url;
  });
  if (spans.length) {
    const first = new Date(spans[0][0]);
    const pad = (n) => String(n).padStart(2, '0');
    exportForm.elements.from.value = pad(first.getHours()) + ':' + pad(first.getMinutes()) + ':00';
    const end = new Date(Math.min(spans[0][0] + HOUR_MS, spans[spans.length - 1][1]) + 60000);
    exportForm.elements.to.value = pad(end.getHours()) + ':' + pad(end.getMinutes()) + ':00';
  }
  if (root.dataset.at) play(Number(root.dataset.at) - 5000);
})();
