// Opens a built site's search page in headless Chromium, types a keycode name into
// the search box as a person would, and checks that the results list it.
// Usage: node search.mjs SITE_DIR QUERY
import { launchChromium } from "./chromium.mjs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";

const [site, query] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(pathToFileURL(join(site, "develop", "search.html")).href);
  await page.getByLabel("Keycode name, alias or expression").pressSequentially(query);
  const first = page.locator("#results li").first();
  await first.waitFor({ timeout: 5000 });
  const text = await first.textContent();
  const status = await page.locator("#status").textContent();
  if (errors.length) throw new Error(`script errors: ${errors.join("; ")}`);
  if (!text.startsWith(query)) throw new Error(`first result is "${text}", not ${query}`);
  console.log(`found: ${text} (${status})`);
} finally {
  await browser.close();
}
