// Small helpers shared by the node client scripts.  Each script prints
// "ok ..." and exits 0 on success, or prints "FAIL: ..." and exits 1.
import WebSocket from 'ws';

export function fail(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(1);
}

export function deadline(ms, what) {
  const t = setTimeout(() => fail(`timed out after ${ms} ms: ${what()}`), ms);
  t.unref();
  return t;
}

// Resolves with an open socket, rejects on error or unexpected close.
export function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode} for ${url}`)));
  });
}

// Resolves with the next message as {data, isBinary}.
export function nextMessage(ws) {
  return new Promise((resolve, reject) => {
    const onClose = (code) => reject(new Error(`closed with ${code} while waiting for a message`));
    ws.once('message', (data, isBinary) => {
      ws.off('close', onClose);
      resolve({ data, isBinary });
    });
    ws.once('close', onClose);
  });
}

// Resolves with the close code once the socket is closed.
export function closed(ws) {
  return new Promise((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) resolve(null);
    else ws.once('close', (code) => resolve(code));
  });
}
