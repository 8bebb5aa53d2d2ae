// Opens the chat demo page in headless Chromium, sends a message through the
// widget, waits until the gateway acknowledged it (stored in Kafka), then
// waits for a reply to appear, then reloads the page and reads the
// conversation the widget shows again. Prints a JSON line with what it saw.
//
//	node chat.mjs http://127.0.0.1:8080/chat/ "Hello from the browser"
import { chromium } from "playwright-core";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, text, replyTimeout] = [process.argv[2], process.argv[3] || "Hello from the browser", Number(process.argv[4] || 0)];
// A fresh profile each run (playwright makes it a persistent context).
const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "gwchat-")), {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForSelector('#gwchat[data-state="connected"]', { state: "attached", timeout: 10000 });
  await page.click("#gwchat-open");
  await page.fill("#gwchat-input", text);
  await page.click("#gwchat-send");
  const acked = await page.waitForSelector('.gwchat-visitor[data-state="acked"]', { timeout: 10000 });
  const out = {
    ok: true,
    visitor: await page.getAttribute("#gwchat", "data-visitor"),
    message_id: await acked.getAttribute("data-message-id"),
  };
  if (replyTimeout > 0) {
    const reply = await page.waitForSelector(".gwchat-agent", { timeout: replyTimeout });
    out.reply = await reply.textContent();
    // A returning visitor sees the conversation so far: reload the page
    // (same browser, same visitor token) and read what the widget shows.
    await page.waitForSelector('.gwchat-agent[data-status="delivered"]', { state: "attached", timeout: 10000 });
    await page.reload();
    await page.waitForSelector('#gwchat[data-state="connected"]', { state: "attached", timeout: 10000 });
    await page.waitForSelector('.gwchat-agent[data-status="delivered"]', { state: "attached", timeout: 10000 });
    out.after_reload = await page.$$eval(".gwchat-msg", (els) => els.map((el) => ({
      who: el.classList.contains("gwchat-visitor") ? "visitor" : "agent",
      text: el.textContent,
      status: el.dataset.status || el.dataset.state || "",
    })));
  }
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
