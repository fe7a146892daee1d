// Shared by the tests in test/: the module loaded once, a configuration, the chat every test runs, and the
// simulator's HTTP server started as a process.
import { spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { init } from "./liveagent.mjs";

await init();

/** The repository's root. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const CONFIG = {
  endpoint: "https://d.la1-c1-phx.salesforceliveagent.com",
  organizationId: "00D000000000001",
  deploymentId: "572000000000001",
  buttonId: "573000000000001",
};

/** The default agent (queued, accepts after 2 s, greets, echoes) with a 503 server handover on the 4th poll
 * and the server's sequence counter jumping ahead before the 3rd POST (a 409 `Out of sync`). */
export const HANDOVER_AND_409 = {
  agent: "default",
  faults: [
    { session: 0, at: { type: "poll", n: 4 }, kind: { type: "handover" } },
    { session: 0, at: { type: "post", n: 3 }, kind: { type: "sequenceDrift", by: 2 } },
  ],
};

export const VISITOR_TEXTS = ["Where is my parcel?", "It was due on Monday."];

async function waitForFile(path, ms) {
  const until = Date.now() + ms;
  for (;;) {
    try {
      const text = (await readFile(path, "utf8")).trim();
      if (text) return text;
    } catch {}
    if (Date.now() > until) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts the simulator's HTTP server on 127.0.0.1 (`$LIVEAGENT_SIM_SERVER`, or `liveagent-sim-server`
 * through cargo) with `args`, its files in `dir`. `stop()` closes its input (it stops), waits for it and
 * returns its exit code and transcript. */
export async function startSimServer(dir, args = []) {
  const portFile = join(dir, "port");
  const transcript = join(dir, "transcript.txt");
  const all = ["--listen", "127.0.0.1:0", "--port-file", portFile, "--transcript", transcript, ...args];
  const [cmd, pre] = process.env.LIVEAGENT_SIM_SERVER
    ? [process.env.LIVEAGENT_SIM_SERVER, []]
    : ["cargo", ["run", "--quiet", "-p", "liveagent-sim-server", "--"]];
  const child = spawn(cmd, [...pre, ...all], { cwd: ROOT, stdio: ["pipe", "ignore", "inherit"] });
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  let stopped = null;
  const stop = async () => {
    if (!stopped) {
      child.stdin.end();
      stopped = exited.then(async (code) => ({ code, transcript: await readFile(transcript, "utf8").catch(() => "") }));
    }
    return stopped;
  };
  try {
    const port = await waitForFile(portFile, 600_000);
    return { port, url: `http://127.0.0.1:${port}`, stop };
  } catch (e) {
    child.kill();
    throw e;
  }
}

/** Writes `value` as JSON to `dir/name`; returns the path. */
export async function writeJson(dir, name, value) {
  const path = join(dir, name);
  await writeFile(path, JSON.stringify(value));
  return path;
}
