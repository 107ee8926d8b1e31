// Seed 002 has no client page of its own; its guide gives the pieces,
// put together here: the URL of "WebSocket Flow" step 1, the message of
// step 3 (and the frames as they come, as its test page logs them).
const ws = new WebSocket('ws://127.0.0.1:8000/ws/chats/1/?token=XXX');
ws.onopen = () => ws.send(JSON.stringify({"type": "message", "text": "Hello"}));
ws.onmessage = (e) => console.log(e.data);
