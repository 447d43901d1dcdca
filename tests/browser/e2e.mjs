// End-to-end walk through the UI in Debian's Chromium, driven by playwright-core.
// Run by tests/browser.rs: node e2e.mjs BASE_URL CLIP_PATH SCREENSHOT_DIR MQTT_PORT
// Exits non-zero with a message on the first failed step; writes a PNG of every page it visits.
// Halfway it prints "restart watchpost" and waits for "restarted" on its standard input, while
// the test restarts Watchpost on the same address.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";

const [base, clip, shots, mqttPort] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
const ADMIN = { name: "admin", password: "correct horse battery" };
const VIEWER = { name: "vera", password: "viewer password" };
const problems = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});

async function newPage(viewport, label) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1, isMobile: viewport.width < 500 });
  const page = await context.newPage();
  // A Content-Security-Policy violation, a script error, or a failed request for one of the
  // page's own assets (stylesheet, script, icon, picture, API call) is a defect of the page.
  // Pages themselves may answer 401/403 on purpose; the browser's "Failed to load resource"
  // console line repeats what the response check below decides.
  page.on("console", (msg) => {
    if (msg.type() === "error" && !/^Failed to load resource/.test(msg.text())) problems.push(`${label}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`${label}: ${err.message}`));
  page.on("response", (response) => {
    const request = response.request();
    if (!response.url().startsWith(base) || response.status() < 400 || request.resourceType() === "document") return;
    // A camera with no frame yet answers 503 for its live picture by design (the page keeps its
    // placeholder until the first frame).
    if (response.status() === 503 && /\/latest\.jpg/.test(response.url())) return;
    problems.push(`${label}: ${response.status()} for ${request.resourceType()} ${request.method()} ${response.url()}`);
  });
  return page;
}

// The live video plays (Media Source Extensions, not the MJPEG fallback), moves on, and stays
// within a couple of seconds of the live edge.
async function watchLive(page, where) {
  await page.waitForFunction(() => {
    const video = document.querySelector("[data-live] video");
    return video && !video.hidden && video.readyState >= 2 && !video.paused;
  }, null, { timeout: 30000 });
  const at = () => page.evaluate(() => document.querySelector("[data-live] video").currentTime);
  const first = await at();
  await page.waitForTimeout(3000);
  const moved = (await at()) - first;
  const state = await page.evaluate(() => {
    const video = document.querySelector("[data-live] video");
    const ranges = Array.from({ length: video.buffered.length }, (_, i) => `${video.buffered.start(i)}-${video.buffered.end(i)}`);
    return `readyState ${video.readyState}, buffered ${ranges.join(" ")}, currentTime ${video.currentTime}`;
  });
  check(moved > 1.5, `${where}: the live video advanced ${moved.toFixed(2)} s in 3 s (${state})`);
  const behind = Number(await page.getAttribute("[data-live]", "data-live-behind"));
  check(behind < 2, `${where}: the live video is ${behind} s behind`);
}

// Lines from the test (tests/browser.rs), one at a time.
const fromTest = createInterface({ input: process.stdin });
const testLines = fromTest[Symbol.asyncIterator]();
async function restartWatchpost() {
  console.log("restart watchpost");
  const { value } = await testLines.next();
  check(value === "restarted", `the test did not restart Watchpost (${value})`);
}

let step = 0;
async function shot(page, name) {
  step += 1;
  const file = `${shots}/${String(step).padStart(2, "0")}-${name}.png`;
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

async function signIn(page, who) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=name]", who.name);
  await page.fill("input[name=password]", who.password);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
}

try {
  const page = await newPage({ width: 1280, height: 800 }, "desktop");

  // First run: every address leads to the set-up page.
  await page.goto(`${base}/events`);
  check(page.url().endsWith("/setup"), `first run should open /setup, got ${page.url()}`);
  await shot(page, "setup");
  await page.fill("input[name=name]", ADMIN.name);
  await page.fill("input[name=password]", ADMIN.password);
  await page.fill("input[name=confirm]", ADMIN.password);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  // Without cameras the guided setup follows; leave it for later: the dashboard offers it again.
  check(new URL(page.url()).pathname === "/setup/guide", `after set-up expected the guide, got ${page.url()}`);
  check(await page.isVisible("text=Find your cameras"), "the guide starts with the cameras");
  await shot(page, "guide-cameras-empty");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Finish later')")]);
  check(new URL(page.url()).pathname === "/", `"Finish later" leads to the dashboard, got ${page.url()}`);
  check(await page.isVisible("text=No cameras yet"), "the empty dashboard explains what to do");
  check(await page.isVisible("text=step 1 of 4"), "the dashboard offers to continue the setup");
  await shot(page, "dashboard-empty");
  // Watchpost restarts: the session and the unfinished setup are still there.
  await restartWatchpost();
  await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === "/", `signed in after the restart, got ${page.url()}`);
  check(await page.isVisible("text=step 1 of 4"), "the unfinished setup is still offered after a restart");

  // Add a camera from the UI and see its picture.
  await page.click("text=Add camera >> nth=0");
  await page.fill("input[name=id]", "yard");
  await page.fill("input[name=name]", "Back yard");
  await page.fill("input[name=url]", clip);
  await page.selectOption("select[name=record_mode]", "events");
  await shot(page, "camera-form");
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  check(page.url().endsWith("/cameras/yard"), `expected the camera page, got ${page.url()}`);
  await watchLive(page, "the camera page");
  await shot(page, "camera-live");
  // Every camera at once, from its sub stream.
  await page.click("nav >> text=Live");
  await watchLive(page, "the live grid");
  await shot(page, "live-grid");
  await page.goto(`${base}/cameras/yard`);

  // Draw a zone on the picture: four clicks, a name, Finish, Save.
  await page.goto(`${base}/cameras/yard/edit`);
  await page.waitForFunction(() => { const img = document.querySelector(".draw-picture img"); return img && img.naturalWidth > 0; }, null, { timeout: 30000 });
  await page.locator(".draw-picture svg").scrollIntoViewIfNeeded();
  const area = await page.locator(".draw-picture svg").boundingBox();
  for (const [x, y] of [[0.02, 0.45], [0.45, 0.45], [0.45, 0.98], [0.02, 0.98]]) {
    await page.mouse.click(area.x + x * area.width, area.y + y * area.height);
  }
  await page.fill("[data-zone-name]", "Lawn");
  await shot(page, "camera-draw-zone");
  await page.click("[data-action=finish]");
  const zones = await page.inputValue("textarea[name=zones]");
  const drawn = zones.startsWith("lawn: ") ? zones.slice(6).split(" ").map((p) => p.split(",").map(Number)) : [];
  const wanted = [[0.02, 0.45], [0.45, 0.45], [0.45, 0.98], [0.02, 0.98]];
  check(drawn.length === 4 && drawn.every((p, i) => Math.abs(p[0] - wanted[i][0]) < 0.01 && Math.abs(p[1] - wanted[i][1]) < 0.01),
        `the drawn zone is written as text: ${zones}`);
  check(await page.locator(".draw-picture svg polygon.zone").count() === 1, "the zone is drawn on the picture");
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  check(page.url().endsWith("/cameras/yard"), `saving the zone returns to the camera, got ${page.url()}`);
  await page.goto(`${base}/cameras/yard/edit`);
  check((await page.inputValue("textarea[name=zones]")).startsWith("lawn: "), "the zone was saved");

  // The person walking through the clip makes an event; open it and resolve it.
  let opened = false;
  for (let i = 0; i < 60 && !opened; i++) {
    await page.goto(`${base}/events`);
    const card = page.locator(".event-card a.event-link").first();
    if (await card.count()) {
      await shot(page, "events");
      await Promise.all([page.waitForNavigation(), card.click()]);
      opened = true;
    } else {
      await page.waitForTimeout(1000);
    }
  }
  check(opened, "no event appeared within 60 s");
  await page.waitForFunction(() => { const img = document.querySelector(".snapshot img"); return img && img.naturalWidth > 0; });
  check(await page.isVisible(".badge.status-viewed"), "an opened event is marked viewed");
  await shot(page, "event");
  await Promise.all([page.waitForNavigation(), page.click("button[value=resolved]")]);
  check(await page.isVisible(".badge.status-resolved"), "the event shows as resolved");
  await shot(page, "event-resolved");
  // The status filter finds it; "Select all" and "Resolve selected" resolve the rest at once.
  await page.goto(`${base}/events?status=resolved`);
  check(await page.locator(".event-card").count() >= 1, "the resolved event is found by its status");
  await page.goto(`${base}/events`);
  const cards = await page.locator(".event-card").count();
  check(cards >= 1, "the events page lists the events");
  await page.click("button[data-select-all=bulk]");
  const picked = await page.locator(".event-card input[type=checkbox]:checked").count();
  check(picked === cards, `select all ticks every event on the page (${picked} of ${cards})`);
  await Promise.all([page.waitForNavigation(), page.click("text=Resolve selected")]);
  check(await page.locator(".event-card").count() === cards, "the same events are listed after resolving");
  check(await page.locator(".event-card .status-resolved").count() === cards, "bulk resolve resolved them all");
  await shot(page, "events-resolved");

  // Reports: none yet; "Generate now" shows its progress and then today's report, as a PDF.
  await page.click("nav >> text=Reports");
  check(await page.isVisible("text=No report has been made yet"), "the Reports page says none was made");
  await shot(page, "reports-empty");
  await Promise.all([page.waitForNavigation(), page.click("form[action='/reports/generate'] button")]);
  await page.waitForSelector("text=is ready", { timeout: 60000 });
  const pdfLink = await page.getAttribute("table a[href$='.pdf']", "href");
  const pdf = await page.request.get(`${base}${pdfLink}`);
  check(pdf.status() === 200 && pdf.headers()["content-type"] === "application/pdf", "the report downloads as a PDF");
  await shot(page, "reports");

  // Settings: add a viewer; look at tokens and the audit log.
  await page.click("nav >> text=Settings");
  await page.fill("form[action='/settings/users'] input[name=name]", VIEWER.name);
  await page.fill("form[action='/settings/users'] input[name=password]", VIEWER.password);
  await Promise.all([page.waitForNavigation(), page.click("text=Add user")]);
  check(await page.isVisible("text=The user was created."), "the new user is confirmed");
  await shot(page, "settings-users");
  await page.click(".tabs >> text=System");
  check(await page.isVisible("text=Time per run"), "the system page shows the detector's load");
  await shot(page, "settings-system");
  // Integrations: connect to the test's broker (test first, then save) and see it connected.
  await page.click(".tabs >> text=Integrations");
  check(await page.isVisible("text=MQTT is off"), "MQTT starts off");
  await page.fill("input[name=host]", "127.0.0.1");
  await page.fill("input[name=port]", mqttPort);
  await Promise.all([page.waitForNavigation(), page.click("text=Test connection")]);
  check(await page.isVisible("text=Test passed"), "the connection test passes");
  await Promise.all([page.waitForNavigation(), page.click("main form button:text-is('Save')")]);
  let connected = false;
  for (let i = 0; i < 20 && !connected; i++) {
    connected = await page.isVisible("[data-bridge-state=mqtt]:text-is('connected')");
    if (!connected) { await page.waitForTimeout(500); await page.reload(); }
  }
  check(connected, "the MQTT bridge shows as connected");
  check(await page.isVisible("text=Example automation"), "an example automation is offered");
  await shot(page, "settings-integrations");

  // Back to the guide: the camera added, Home Assistant set up, home/away, done.
  await page.click("nav >> text=Cameras");
  await Promise.all([page.waitForNavigation(), page.click("text=Continue setup")]);
  check(await page.isVisible(".guide >> text=Back yard"), "the guide lists the camera added meanwhile");
  await shot(page, "guide-cameras");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Next')")]);
  check(await page.isVisible(".guide-channels >> text=Home Assistant: set up"), "the guide sees Home Assistant set up");
  await shot(page, "guide-alerts");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Next')")]);
  await Promise.all([page.waitForNavigation(), page.click("text=I'm home: pause alerts")]);
  check(page.url().endsWith("/setup/guide?step=home") && await page.isVisible(".guide >> text=Home"), "home/away switches on the guide's page");
  await Promise.all([page.waitForNavigation(), page.click("text=Going out: turn alerts on")]);
  await shot(page, "guide-home");
  await Promise.all([page.waitForNavigation(), page.click("button:text-is('Next')")]);
  check(await page.isVisible("text=Alerts go to: Home Assistant"), "the summary names the channel");
  await shot(page, "guide-done");
  await Promise.all([page.waitForNavigation(), page.click("text=Go to the dashboard")]);
  check(!(await page.isVisible("text=Continue setup")), "a finished setup is not offered again");

  // Discovery: the empty inbox explains itself (the test never scans the machine's network).
  await page.click("nav >> text=Discovery");
  check(await page.isVisible("text=Nothing found yet"), "the empty discovery page explains itself");
  await shot(page, "discovery-empty");
  await page.click("nav >> text=Nodes");
  check(await page.isVisible("text=No nodes yet"), "the empty Nodes page explains itself");
  check(await page.isVisible("text=No sensor has changed yet"), "the empty sensor events explain themselves");
  await shot(page, "nodes-empty");

  // The camera's switches: detection off, and it stays off.
  await page.goto(`${base}/cameras/yard`);
  await page.uncheck("input[name=detect]");
  await Promise.all([page.waitForNavigation(), page.click("form.switches button")]);
  check(!(await page.isChecked("input[name=detect]")), "detection stays off after Apply");
  await page.goto(`${base}/`);
  check(await page.isVisible("text=detection off"), "the dashboard shows that detection is off");
  await page.goto(`${base}/cameras/yard`);
  await page.check("input[name=detect]");
  await Promise.all([page.waitForNavigation(), page.click("form.switches button")]);
  await shot(page, "camera-switches");
  await page.goto(`${base}/settings/users`);

  await page.click(".tabs >> text=Audit log");
  check(await page.isVisible("text=camera.create"), "the audit log lists the new camera");
  await shot(page, "settings-audit");

  // An API token is shown once on the account page.
  await page.click(".topbar .user a");
  await page.fill("form[action='/tokens'] input[name=name]", "home-assistant");
  await Promise.all([page.waitForNavigation(), page.click("text=Create token")]);
  const jwt = await page.inputValue("textarea.token");
  check(jwt.split(".").length === 3, "a JWT is shown");
  const api = await page.request.get(`${base}/api/cameras`, { headers: { Authorization: `Bearer ${jwt}` } });
  check(api.ok(), `the new token opens the API (${api.status()})`);
  await shot(page, "account-token");

  // The installable app: the manifest and its icons load, the service worker controls the whole
  // site and keeps only the shell, and the account page offers notifications for this device.
  const manifest = await (await page.request.get(`${base}/manifest.webmanifest`)).json();
  check(manifest.display === "standalone" && manifest.icons.length >= 2, "a web app manifest");
  for (const icon of manifest.icons) {
    const loaded = await page.request.get(`${base}${icon.src}`);
    check(loaded.ok(), `the icon ${icon.src} loads (${loaded.status()})`);
  }
  const scope = await page.evaluate(() => navigator.serviceWorker.ready.then((r) => r.scope));
  check(scope === `${base}/`, `the service worker controls the whole site (${scope})`);
  // (Not a reload: this page answered the token form's POST.)
  await page.goto(`${base}/account`);
  check(await page.evaluate(() => !!navigator.serviceWorker.controller), "the page is controlled by the service worker");
  const cached = await page.evaluate(async () => {
    const names = await caches.keys();
    const shell = await caches.open(names.find((n) => n.startsWith("watchpost-shell-")));
    return (await shell.keys()).map((r) => new URL(r.url).pathname);
  });
  check(cached.includes("/static/app.js") && cached.every((p) => p.startsWith("/static/")),
    `the shell is cached, and nothing else (${cached})`);
  check(await page.isVisible("[data-push-enable]"), "the account page offers notifications for this device");
  await page.locator("#notifications").scrollIntoViewIfNeeded();
  await shot(page, "account-notifications");
  await page.goto(`${base}/settings/tokens`);
  await shot(page, "settings-tokens");

  // Revoking asks first; dismissing keeps the token, accepting revokes it.
  page.once("dialog", (dialog) => dialog.dismiss());
  await page.click("text=Revoke");
  check(await page.isVisible("text=Revoke"), "a dismissed confirmation keeps the token");
  page.once("dialog", (dialog) => dialog.accept());
  await Promise.all([page.waitForNavigation(), page.click("text=Revoke")]);
  check(await page.isVisible("text=The token was revoked"), "revoking is confirmed");
  const revoked = await page.request.get(`${base}/api/cameras`, { headers: { Authorization: `Bearer ${jwt}` } });
  check(revoked.status() === 401, `a revoked token is refused (${revoked.status()})`);

  // The event's clip plays on its page, and the timeline plays the day from a clicked moment.
  const eventUrl = (await page.request.get(`${base}/api/events?camera=yard`).then((r) => r.json())).events.at(-1);
  let clipShown = false;
  for (let i = 0; i < 40 && !clipShown; i++) {
    await page.goto(`${base}/events/${eventUrl.id}`);
    clipShown = (await page.locator("video#event-clip").count()) > 0;
    if (!clipShown) await page.waitForTimeout(1000);
  }
  check(clipShown, "the event page offers the clip once it is recorded");
  const advanced = async (selector) => page.waitForFunction((s) => {
    const video = document.querySelector(s);
    return video && video.readyState >= 2 && video.currentTime > 1;
  }, selector, { timeout: 30000 });
  await page.evaluate(() => { const v = document.querySelector("video#event-clip"); v.muted = true; return v.play(); });
  await advanced("video#event-clip");
  await shot(page, "event-clip");
  await page.click("text=Open in the timeline");
  await page.waitForLoadState();
  check(await page.locator(".timeline-span").count() >= 1, "the timeline shows the recorded span");
  await advanced("#timeline-video");
  check((await page.textContent("#timeline-playing")).startsWith("Playing "), "the timeline says what time it plays");
  check(await page.locator("#timeline-hour .timeline-span").count() >= 1, "the hour bar shows the recorded span");
  // Export the day's recording so far: the page says it works, then the MP4 downloads.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#timeline-export button")]);
  check((await page.textContent("#timeline-export-state")).startsWith("Ready"), "the export says it is ready");
  check(download.suggestedFilename().startsWith("yard-") && download.suggestedFilename().endsWith(".mp4"),
        `the export downloads as an MP4: ${download.suggestedFilename()}`);
  await shot(page, "timeline");
  await page.goto(`${base}/settings/storage`);
  check(await page.isVisible("td >> text=yard"), "the storage page lists the camera's recordings");
  await shot(page, "settings-storage");

  // Sign out.
  await Promise.all([page.waitForNavigation(), page.click("text=Sign out")]);
  check(page.url().includes("/login"), `signing out shows the sign-in page, got ${page.url()}`);
  await page.goto(`${base}/`);
  check(page.url().includes("/login"), "signed out: pages need signing in again");
  await shot(page, "login");

  // A wrong password is explained.
  await page.fill("input[name=name]", ADMIN.name);
  await page.fill("input[name=password]", "not it");
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  check(await page.isVisible("text=Wrong user name or password."), "a wrong password is explained");
  await shot(page, "login-wrong");

  // The viewer watches but cannot open the settings.
  await signIn(page, VIEWER);
  check(await page.isVisible("text=Back yard"), "the viewer sees the camera");
  check(!(await page.isVisible("nav >> text=Settings")), "no Settings link for a viewer");
  check(!(await page.isVisible("text=Add camera")), "no Add camera for a viewer");
  await shot(page, "viewer-dashboard");
  const refused = await page.goto(`${base}/settings/users`);
  check(refused.status() === 403, `a viewer gets 403 on settings, got ${refused.status()}`);
  check(await page.isVisible("text=Only an administrator"), "the refusal is explained");
  await shot(page, "viewer-refused");

  // The same pages on a phone.
  const phone = await newPage({ width: 390, height: 844 }, "phone");
  await phone.goto(`${base}/login`);
  await shot(phone, "phone-login");
  await signIn(phone, ADMIN);
  await shot(phone, "phone-dashboard");
  await phone.goto(`${base}/cameras/yard`);
  await shot(phone, "phone-camera");
  await phone.goto(`${base}/events`);
  await shot(phone, "phone-events");
  await phone.locator(".event-card a.event-link").first().click();
  await phone.waitForLoadState();
  await shot(phone, "phone-event");
  await phone.goto(`${base}/settings/users`);
  await shot(phone, "phone-settings");
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the settings page scrolls sideways on a phone by ${overflow}px`);

  check(problems.length === 0, `errors in the browser console:\n${problems.join("\n")}`);
  console.log("browser walk-through passed");
} catch (err) {
  console.error(`FAILED: ${err.message}`);
  process.exitCode = 1;
} finally {
  fromTest.close();
  process.stdin.destroy();
  await browser.close();
}
