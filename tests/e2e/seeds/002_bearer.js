// Seed 002's "Improvement for Production": the token as a subprotocol.
const token = 'YOUR_TOKEN_HERE';
const ws = new WebSocket('ws://127.0.0.1:8000/ws/chats/1/', ['Bearer', token]);
ws.onmessage = (e) => console.log(e.data);
