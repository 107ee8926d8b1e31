// node broadcast.mjs ws://127.0.0.1:PORT/ws/broadcast/ROOM/ [CLIENTS]
// CLIENTS members join one room; 3 of them send 2 messages each; every
// member must receive all 6 exactly once (checked with an END marker that
// is sent only after everyone holds all 6).
import { fail, deadline, open, closed } from './lib.mjs';

const url = process.argv[2];
const n = Number(process.argv[3] || 50);
if (!url) fail('usage: node broadcast.mjs URL [CLIENTS]');
let step = 'connecting';
deadline(30000, () => step);

const SENDERS = 3;
const PER_SENDER = 2;
const expected = [];
for (let s = 0; s < SENDERS; s++)
  for (let m = 0; m < PER_SENDER; m++) expected.push(`node-sender${s}-msg${m}`);
expected.sort();

try {
  const clients = await Promise.all(Array.from({ length: n }, () => open(url)));
  const got = clients.map(() => []);
  let complete = 0;
  let onComplete;
  const allComplete = new Promise((resolve) => { onComplete = resolve; });
  let ended = 0;
  let onEnded;
  const allEnded = new Promise((resolve) => { onEnded = resolve; });

  clients.forEach((ws, i) => {
    ws.on('message', (data, isBinary) => {
      if (isBinary) fail(`client ${i} got a binary message`);
      let msg;
      try { msg = JSON.parse(data.toString('utf8')); } catch { fail(`client ${i} got bad JSON: ${data}`); }
      if (msg.type !== 'chat_message') fail(`client ${i} got ${JSON.stringify(msg)}`);
      if (msg.message === 'END') {
        if (++ended === n) onEnded();
        return;
      }
      got[i].push(msg.message);
      if (got[i].length === expected.length && ++complete === n) onComplete();
    });
    ws.on('close', (code) => { if (ended < n) fail(`client ${i} closed early with ${code}`); });
  });

  step = 'broadcasting';
  for (let s = 0; s < SENDERS; s++)
    for (let m = 0; m < PER_SENDER; m++)
      clients[s].send(JSON.stringify({ type: 'chat_message', message: `node-sender${s}-msg${m}` }));
  await allComplete;

  step = 'waiting for END';
  clients[0].send(JSON.stringify({ type: 'chat_message', message: 'END' }));
  await allEnded;

  got.forEach((list, i) => {
    const sorted = [...list].sort();
    if (JSON.stringify(sorted) !== JSON.stringify(expected))
      fail(`client ${i} got ${JSON.stringify(list)}, expected each of ${JSON.stringify(expected)} once`);
  });

  step = 'closing';
  for (const ws of clients) ws.close(1000);
  const codes = await Promise.all(clients.map(closed));
  const bad = codes.filter((c) => c !== 1000);
  if (bad.length) fail(`${bad.length} clients closed with ${bad[0]} instead of 1000`);
  console.log(`ok broadcast ${n} clients x ${expected.length} messages`);
  process.exit(0);
} catch (e) {
  fail(`${step}: ${e.message}`);
}
