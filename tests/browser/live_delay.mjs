// Glass-to-glass delay of the live view, read in Debian's Chromium (run by
// examples/bench_live.rs): node live_delay.mjs BASE_URL USER PASSWORD CAMERA SECONDS
// The camera's picture carries the wall-clock time it was made, in milliseconds modulo 2^24, as
// 24 boxes in a row (white = 1, least significant bit first, 40 px each at x = 40 + 48 k, y = 40).
// For every frame the page shows, the time written in it is compared with the time it is shown;
// prints the delays as JSON.
import { chromium } from "playwright-core";

const [base, user, password, camera, seconds] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  await page.goto(`${base}/login`);
  await page.fill("input[name=name]", user);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForNavigation(), page.click("main button[type=submit]")]);
  await page.goto(`${base}/cameras/${camera}`);
  await page.waitForFunction(() => {
    const video = document.querySelector("[data-live] video");
    return video && video.readyState >= 2 && !video.paused;
  }, null, { timeout: 60000 });
  // Let it settle at the live edge as a viewer would see it after the first seconds.
  await page.waitForTimeout(3000);
  const delays = await page.evaluate((ms) => new Promise((done) => {
    const video = document.querySelector("[data-live] video");
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    const found = [];
    const until = performance.now() + ms;
    const onFrame = (now, frame) => {
      context.drawImage(video, 0, 0);
      const row = context.getImageData(0, 60, canvas.width, 1).data;
      let written = 0;
      for (let k = 0; k < 24; k++) {
        const x = 60 + 48 * k;
        if (row[4 * x] > 128) written += 2 ** k;
      }
      const shown = Math.round(performance.timeOrigin + frame.expectedDisplayTime) % 2 ** 24;
      found.push((shown - written + 2 ** 24) % 2 ** 24);
      if (performance.now() < until) video.requestVideoFrameCallback(onFrame);
      else done(found);
    };
    video.requestVideoFrameCallback(onFrame);
  }), Number(seconds) * 1000);
  console.log(JSON.stringify({ delays }));
} finally {
  await browser.close();
}
