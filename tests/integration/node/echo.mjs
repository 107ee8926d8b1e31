// node echo.mjs ws://127.0.0.1:PORT/ws/echo/
// Text and binary round trips through the echo plugin, then a clean close.
import { fail, deadline, open, nextMessage, closed } from './lib.mjs';

const url = process.argv[2];
if (!url) fail('usage: node echo.mjs URL');
let step = 'connecting';
deadline(20000, () => step);

try {
  const ws = await open(url);

  step = 'text round trip';
  const texts = ['hello from node', 'héllo wörld ✓ 😀', '', 'x'.repeat(70000 - 1)];
  for (const t of texts) {
    ws.send(t);
    const { data, isBinary } = await nextMessage(ws);
    if (isBinary) fail(`text ${JSON.stringify(t.slice(0, 20))} came back as binary`);
    if (data.toString('utf8') !== t) fail(`text mismatch: sent ${t.length} chars, got ${data.length} bytes`);
  }

  step = 'binary round trip';
  const bins = [Buffer.from([0, 1, 2, 253, 254, 255]), Buffer.alloc(0), Buffer.alloc(100000, 0xab)];
  for (let i = 0; i < 256; i++) bins[0] = Buffer.concat([bins[0], Buffer.from([i])]);
  for (const b of bins) {
    ws.send(b, { binary: true });
    const { data, isBinary } = await nextMessage(ws);
    if (!isBinary) fail(`binary of ${b.length} bytes came back as text`);
    if (!Buffer.from(data).equals(b)) fail(`binary mismatch: sent ${b.length} bytes, got ${data.length}`);
  }

  step = 'closing';
  ws.close(1000, 'done');
  const code = await closed(ws);
  if (code !== 1000) fail(`close code ${code}, expected 1000`);
  console.log(`ok echo ${texts.length} text + ${bins.length} binary`);
  process.exit(0);
} catch (e) {
  fail(`${step}: ${e.message}`);
}
