// A presenced of the test's own, started from the binary named by
// PRESENCED_BIN (sdktest/run.sh sets it), for tests that stop and start
// the server they talk to.
import { spawn } from 'node:child_process';

/** Path of the presenced binary, or undefined: tests that need it skip without. */
export const bin = process.env.PRESENCED_BIN;

/**
 * Starts presenced with args (an -addr among them, 127.0.0.1:0 for any
 * port) and resolves, once it logs "listening", with {addr, log(), stop()}:
 * addr is the host:port bound, log() the stderr so far, stop() sends
 * SIGTERM and resolves with the exit code. It rejects if presenced exits
 * or says nothing within ms.
 */
export function startPresenced(args, ms = 10_000) {
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`presenced did not listen within ${ms} ms; log:\n${log}`));
    }, ms);
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk) => {
      log += chunk;
      const m = log.match(/msg=listening addr=(\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve({
          addr: m[1],
          log: () => log,
          stop: async () => {
            proc.kill('SIGTERM');
            return exited;
          },
          kill: () => proc.kill('SIGKILL'),
        });
      }
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`presenced exited (${code}) before listening; log:\n${log}`));
    });
  });
}
