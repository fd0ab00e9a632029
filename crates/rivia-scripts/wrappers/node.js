// Rivia's Node wrapper (written from spec-scripts §1.3/§1.4 and §13; not the platform's code).
// Run as `node -e <this>`; reads ONE stdin line {"ARGS","CONFIG","META","_OUTPUT_SEPARATOR",
// "_TIMEOUT"} and runs the file named by argv[1] (/code/main.js in the sandbox) once in vm.runInNewContext with that object (incl. _TIMEOUT)
// plus require, HttpResponse and setResponse. Rivia difference (§13): an uncaught exception,
// synchronous or not, fails the run (exit 1).
'use strict';
(() => {
  const fs = require('fs');
  const vm = require('vm');
  const spec = JSON.parse(fs.readFileSync(0, 'utf8').split('\n', 1)[0]);
  const timeoutMs = Math.max(1, Math.round(Number(spec._TIMEOUT || 30) * 1000));
  let response = null;

  function HttpResponse(status_code, content, content_type, headers) {
    this.status_code = status_code === undefined ? 200 : status_code;
    this.content = content === undefined ? '' : content;
    this.content_type = content_type === undefined ? 'application/json' : content_type;
    this.headers = headers === undefined ? {} : headers;
  }
  function setResponse(r) { response = r; }

  const context = Object.assign({}, spec, {
    require, HttpResponse, setResponse,
    console, process, Buffer, URL, URLSearchParams, TextEncoder, TextDecoder,
    setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate,
    queueMicrotask,
  });
  // Reading the global `fetch` loads undici (~5 ms per run): expose it lazily.
  Object.defineProperty(context, 'fetch', {
    enumerable: true, configurable: true, get: () => globalThis.fetch,
  });

  process.on('exit', (code) => {
    if (code !== 0 || !(response instanceof HttpResponse)) return;
    // Synchronous writes: the process is exiting, async stream writes could be lost.
    const block = JSON.stringify([response.status_code, String(response.content_type),
      String(response.content), response.headers]);
    fs.writeSync(1, '\n' + spec._OUTPUT_SEPARATOR + '\n' + block);
  });
  // The vm timeout covers only the synchronous part; callbacks are bounded here and, as a last
  // resort, by the engine killing the sandbox.
  setTimeout(() => {
    process.stderr.write(`Script timed out after ${timeoutMs / 1000} s\n`);
    process.exit(124);
  }, timeoutMs).unref();

  const source = fs.readFileSync(process.argv[1], 'utf8');
  try {
    vm.runInNewContext(source, context, { filename: 'main.js', timeout: timeoutMs });
  } catch (err) {
    if (err && err.code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
      process.stderr.write(`Script timed out after ${timeoutMs / 1000} s\n`);
      process.exit(124);
    }
    process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
  }
})();
