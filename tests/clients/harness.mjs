// Node side of the harness (the Python one is harness.py): runs the real `sluice serve` with
// OS-picked ports, waits for its ports file (never a sleep), captures stderr to a file, stops it
// with SIGTERM (SIGKILL after a timeout), fails on "panicked" in stderr, keeps a failed test's
// data directory. SLUICE_BIN overrides the binary; SLUICE_TEST_TMPDIR the directory root.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, '..', '..');
const PORTS_FILE_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export function sluiceBin() {
  return process.env.SLUICE_BIN || path.join(repo, 'target', 'release', 'sluice');
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class Broker {
  constructor(workdir, extraArgs = [], binary = sluiceBin()) {
    this.workdir = workdir;
    this.dataDir = path.join(workdir, 'data');
    this.portsFile = path.join(workdir, 'ports.json');
    this.stderrFile = path.join(workdir, 'stderr.log');
    this.binary = binary;
    this.extraArgs = extraArgs;
    this.proc = null;
    this.exit = null;
    this.ports = null;
  }

  async start(timeoutMs = PORTS_FILE_TIMEOUT_MS) {
    if (!fs.existsSync(this.binary)) {
      throw new Error(`sluice binary not found at ${this.binary}: build it with \`cargo build --release\` or point SLUICE_BIN at it`);
    }
    fs.rmSync(this.portsFile, { force: true });
    const err = fs.openSync(this.stderrFile, 'a');
    this.exit = null;
    this.proc = spawn(this.binary, [
      'serve', '--data-dir', this.dataDir, '--listen', '127.0.0.1:0',
      '--admin-listen', '127.0.0.1:0', '--ports-file', this.portsFile, ...this.extraArgs,
    ], { cwd: this.workdir, stdio: ['ignore', err, err] });
    fs.closeSync(err);
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      this.exit = { code, signal };
      resolve(this.exit);
    }));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`sluice exited (${JSON.stringify(this.exit)}) before writing its ports file; stderr:\n${this.stderr()}`);
      }
      try {
        const ports = JSON.parse(fs.readFileSync(this.portsFile, 'utf8'));
        if (typeof ports.bootstrap === 'number' && Array.isArray(ports.shards) && typeof ports.admin === 'number') {
          this.ports = ports;
          return this;
        }
      } catch {
        // Not written yet, or caught mid-write: retry until the deadline.
      }
      await sleep(20);
    }
    await this.kill9();
    throw new Error(`sluice did not write ${this.portsFile} within ${timeoutMs} ms; stderr:\n${this.stderr()}`);
  }

  get bootstrap() {
    return `${this.ports.host}:${this.ports.bootstrap}`;
  }

  stderr() {
    return fs.existsSync(this.stderrFile) ? fs.readFileSync(this.stderrFile, 'utf8') : '';
  }

  async stop(timeoutMs = STOP_TIMEOUT_MS) {
    if (!this.proc || this.exit) return this.exit;
    this.proc.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => { timer = setTimeout(() => resolve(null), timeoutMs); });
    const exited = await Promise.race([this.exited, timeout]);
    clearTimeout(timer); // a pending timer would keep node's event loop alive
    if (exited === null) {
      this.sigtermTimedOut = true;
      this.proc.kill('SIGKILL');
      await this.exited;
    }
    return this.exit;
  }

  async kill9() {
    if (!this.proc || this.exit) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

function tmpRoot() {
  const root = process.env.SLUICE_TEST_TMPDIR || path.join(repo, 'target', 'test-data');
  fs.mkdirSync(root, { recursive: true });
  return root;
}

// Runs `body(broker)` against a fresh broker; always stops it; fails on a panic; keeps the
// data directory (and prints its path) when anything failed.
export async function withBroker(name, extraArgs, body, binary = sluiceBin()) {
  const workdir = fs.mkdtempSync(path.join(tmpRoot(), `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
  const broker = new Broker(workdir, extraArgs, binary);
  let failed = true;
  try {
    await broker.start();
    await body(broker);
    failed = false;
  } finally {
    await broker.stop();
    const panics = broker.stderr().split('\n').filter((l) => l.includes('panicked'));
    if (panics.length && !failed) {
      failed = true;
      console.log(`kept data of failed test ${name}: ${workdir}`);
      throw new Error(`broker panicked:\n${broker.stderr()}`);
    }
    if (failed) console.log(`kept data of failed test ${name}: ${workdir}`);
    else fs.rmSync(workdir, { recursive: true, force: true });
  }
}
