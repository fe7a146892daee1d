// The README's "From JavaScript" code blocks, run as written (the import path made absolute): the first
// against the simulator's HTTP server on 127.0.0.1, the second on its own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT, startSimServer } from "../test-support.mjs";

/** The ```js blocks of the README's "From JavaScript" section. */
async function readmeBlocks() {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const start = readme.indexOf("## From JavaScript");
  assert.ok(start >= 0, "the README has a From JavaScript section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
}

async function runBlock(dir, index, code, env = {}) {
  const module = new URL("../liveagent.mjs", import.meta.url).href;
  const file = join(dir, `readme-${index}.mjs`);
  await writeFile(file, code.replaceAll('"./bindings/node/liveagent.mjs"', JSON.stringify(module)));
  return promisify(execFile)(process.execPath, [file], { env: { ...process.env, ...env }, timeout: 60_000 });
}

test("the README's JavaScript runs", { timeout: 660_000 }, async () => {
  const blocks = await readmeBlocks();
  assert.equal(blocks.length, 2);
  const dir = await mkdtemp(join(tmpdir(), "liveagent-readme-"));
  const server = await startSimServer(dir, ["--accept-after-ms", "100"]);
  try {
    const chat = await runBlock(dir, 0, blocks[0], { LIVEAGENT_ENDPOINT: server.url });
    assert.equal(chat.stdout, "agent: echo: Hello?\nended: visitorEnded\n");
    const rehearsal = await runBlock(dir, 1, blocks[1]);
    assert.equal(rehearsal.stdout, "");
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
