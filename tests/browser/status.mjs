// Opens a keyboard's page in headless Chromium twice: as `qmk-api serve` serves it,
// where status.js fills the Build section from the keyboard's build log, and from a
// built site on disk (file://), where there is no build log and the section stays
// hidden. Prints what the served page shows.
// Usage: node status.mjs SERVED_PAGE_URL FILE_PATH
import { launchChromium } from "./chromium.mjs";
import { pathToFileURL } from "node:url";

const [served, file] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(served);
  await page.locator("#build").waitFor({ state: "visible", timeout: 5000 });
  const result = await page.locator("#build-result").textContent();
  const size = await page.locator("#build-size-text").textContent();
  const meter = await page.locator("#build-meter").evaluate((m) => `${m.value}/${m.max}`);
  if (errors.length) throw new Error(`script errors: ${errors.join("; ")}`);
  const offline = await browser.newPage();
  await offline.goto(pathToFileURL(file).href);
  await offline.waitForTimeout(500);
  if (await offline.locator("#build").isVisible()) throw new Error("the Build section shows from file://");
  console.log(`result: ${result}\nsize: ${size}\nmeter: ${meter}`);
} finally {
  await browser.close();
}
