// server.mjs — starts `whale serve` on a free loopback port for the tests and stops it.
// The binary is $BUILD/whale (default build/whale) under the repository root; the model
// is the tiny random DeepSeek-V3 fixture (256-byte vocabulary: its text is noise, so
// the tests check structure, never content).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const model = path.join(root, 'tests/fixtures/dsv3.gguf');
export const bin = path.join(root, process.env.BUILD || 'build', 'whale');

/** Starts a server with extra arguments; resolves once it logs "ready". */
export function startServer(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(bin, ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    let url = null;
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`whale serve did not become ready in 20 s:\n${log}`));
    }, 20000);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) url = m[1];
      if (url && /whale: ready:/.test(log)) {
        clearTimeout(timer);
        resolve({
          url,
          proc,
          log: () => log,
          /** SIGTERM; resolves to the exit code (null when it had to be killed). */
          stop: () =>
            new Promise((res) => {
              if (proc.exitCode !== null) return res(proc.exitCode);
              const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
              proc.once('exit', (code) => {
                clearTimeout(kill);
                res(code);
              });
              proc.kill('SIGTERM');
            }),
        });
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`whale serve exited (${code}) before it was ready:\n${log}`));
    });
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Reads one Prometheus sample value (the first line starting with `name`). */
export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
