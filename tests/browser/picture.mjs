// Shows keymap pictures (SVG files) in headless Chromium, inlined in a page as the
// site inlines them, takes a screenshot of each (beside it, as .png), and measures
// each as drawn: the layers and keys, and every legend's box against its key's, so
// that text that spills out of its key is found. Prints one JSON line per picture.
// Usage: node picture.mjs SVG_FILE...
import { launchChromium } from "./chromium.mjs";
import { readFileSync } from "node:fs";

const pictures = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => message.type() === "error" && errors.push(message.text()));
  for (const svg of pictures) {
    await page.setContent(`<!doctype html><title>picture</title><body style="margin:0">${readFileSync(svg, "utf8")}</body>`);
    const size = await page.evaluate(() => {
      const drawn = document.querySelector("svg.keymap");
      return { width: Math.ceil(drawn.width.baseVal.value), height: Math.ceil(drawn.height.baseVal.value) };
    });
    await page.setViewportSize(size);
    await page.locator("svg.keymap").screenshot({ path: svg.replace(/\.svg$/, ".png") });
    const measured = await page.evaluate(() => {
      const layers = [...document.querySelectorAll("svg.keymap > g[class^=layer-]")].map(
        (layer) => layer.querySelectorAll("rect.key").length,
      );
      const spilled = [];
      for (const rect of document.querySelectorAll("rect.key")) {
        const key = rect.getBBox();
        for (const text of rect.parentNode.querySelectorAll(":scope > text")) {
          const box = text.getBBox();
          const inside =
            box.x >= key.x - 0.5 && box.y >= key.y - 0.5 &&
            box.x + box.width <= key.x + key.width + 0.5 && box.y + box.height <= key.y + key.height + 0.5;
          if (!inside) spilled.push(`${text.textContent} (${rect.parentNode.querySelector("title").textContent.split("\n")[0]})`);
        }
      }
      const font = getComputedStyle(document.querySelector("rect.key ~ text")).fontFamily;
      return { layers, spilled, font };
    });
    if (errors.length) throw new Error(`${svg}: errors: ${errors.join("; ")}`);
    console.log(JSON.stringify({ svg, ...size, ...measured }));
  }
} finally {
  await browser.close();
}
