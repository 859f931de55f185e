// Plays QMK Configurator's requests against a running `qmk-api serve`, from a page
// of another origin in headless Chromium (so CORS applies as it does for the
// Configurator): the API status, the keyboard list, the keymap skeleton, a
// keyboard's info.json and readme.md (if any), then a compile job, its status until it
// ends, and its source download.
// Usage: node configurator.mjs BASE_URL KEYBOARD LAYOUT KEYCODES_JSON
import { launchChromium } from "./chromium.mjs";

const [base, keyboard, layout, layer] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setContent("<title>configurator</title>");
  const log = await page.evaluate(
    async ({ base, keyboard, layout, layer }) => {
      const lines = [];
      const get = async (path, kind = "json") => {
        const resp = await fetch(base + path);
        if (!resp.ok) throw new Error(`GET ${path}: ${resp.status}`);
        lines.push(`GET ${path} ${resp.status}`);
        return kind === "json" ? resp.json() : resp.text();
      };
      const status = await get("/v1");
      if (!status.status) throw new Error("no status in /v1");
      const list = await get("/v1/keyboard_list.json");
      if (!list.keyboards.includes(keyboard)) throw new Error(`${keyboard} not listed`);
      const skeleton = await get("/v1/skeletons/keymap");
      if (skeleton.version !== 1 || typeof skeleton.documentation !== "string") throw new Error("bad skeleton");
      const info = await get(`/v1/keyboards/${keyboard}/info.json`);
      if (!info.keyboards[keyboard].layouts[layout]) throw new Error(`no ${layout}`);
      // As QMK Configurator does: a readme is shown when there is one, and a 404 is no error.
      const readme = await fetch(`${base}/v1/keyboards/${keyboard}/readme.md`);
      if (!readme.ok && readme.status !== 404) throw new Error(`GET readme.md: ${readme.status}`);
      if (readme.ok && !(await readme.text()).length) throw new Error("empty readme");
      lines.push(`GET /v1/keyboards/${keyboard}/readme.md ${readme.status}`);
      const template = { ...skeleton };
      for (const key of ["keyboard", "keymap", "layout", "layers"]) delete template[key];
      const keymap = { ...template, keyboard, keymap: "configurator_test", layout, layers: [JSON.parse(layer)] };
      const submitted = await fetch(`${base}/v1/compile`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(keymap),
      });
      const job = await submitted.json();
      lines.push(`POST /v1/compile ${submitted.status} enqueued=${job.enqueued}`);
      let result;
      for (let i = 0; i < 200; i++) {
        const state = await get(`/v1/compile/${job.job_id}`);
        if (state.status === "finished" || state.status === "failed") {
          result = state;
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!result || result.status !== "finished") throw new Error(`job did not finish: ${JSON.stringify(result)}`);
      lines.push(`finished: firmware_filename=${JSON.stringify(result.result.firmware_filename)} firmware_binary_url=${JSON.stringify(result.result.firmware_binary_url)}`);
      const source = await fetch(result.result.firmware_source_url[0]);
      lines.push(`GET source ${source.status} ${(await source.arrayBuffer()).byteLength > 0 ? "bytes" : "empty"}`);
      return lines;
    },
    { base, keyboard, layout, layer },
  );
  console.log(log.join("\n"));
} finally {
  await browser.close();
}
