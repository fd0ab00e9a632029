// Starts one `rivia serve` for a test file and stops it afterwards.
//
// RIVIA_BIN names the binary (default: the repository's target/debug/rivia);
// RIVIA_DATABASE_URL, when set, points the server at PostgreSQL (several test files
// then share that database: every test names its own account, instance and objects).
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO = path.resolve(__dirname, '..', '..', '..');
const START_TIMEOUT_MS = 60_000;

function binary() {
  const bin = process.env.RIVIA_BIN || path.join(REPO, 'target', 'debug', 'rivia');
  if (!fs.existsSync(bin)) {
    throw new Error(`rivia binary not found at ${bin} (build it or set RIVIA_BIN)`);
  }
  return bin;
}

// Resolves with { url, stop, log } once the server printed its listening address.
function startServer() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rivia-js-'));
  const env = { ...process.env, RIVIA_INSTANCE_RATE: '0', RIVIA_ADMIN_RATE: '0',
    RIVIA_ANON_RATE: '0', RIVIA_POLL_RATE: '0', NO_COLOR: '1',
    // Test-only: schedules may run every second, so schedule tests need not wait 30 s.
    RIVIA_TEST_SCHEDULE_MIN_INTERVAL: '1' };
  delete env.RIVIA_BIND;
  delete env.RIVIA_DATA_DIR;
  const child = spawn(binary(), ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rivia did not start within ${START_TIMEOUT_MS} ms:\n${log}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = log.match(/Rivia listening on (http:\/\/[^\s/]+)\//);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], log: () => log, stop: () => stop(child, dataDir) });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rivia exited with ${code} before listening:\n${log}`));
    });
  });
}

function stop(child, dataDir) {
  return new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.on('exit', () => {
      fs.rmSync(dataDir, { recursive: true, force: true });
      resolve();
    });
    child.kill('SIGTERM');
  });
}

module.exports = { startServer };
