// Client sends with unique ID
const msgId = Date.now() + '_' + Math.random();
chatSocket.send(JSON.stringify({
    'type': 'chat_message',
    'message': 'Hello',
    'username': 'alice',
    'client_msg_id': msgId
}));

// Wait for server ACK
const pendingMessages = new Map();
pendingMessages.set(msgId, { message: 'Hello', timestamp: Date.now() });

// Server should respond with ACK
chatSocket.onmessage = function(e) {
    const data = JSON.parse(e.data);
    
    if (data.type === 'ack') {
        pendingMessages.delete(data.client_msg_id);
    }
};

// Retry after 5 seconds if no ACK
setInterval(() => {
    const now = Date.now();
    pendingMessages.forEach((msg, id) => {
        if (now - msg.timestamp > 5000) {
            // Retry
            chatSocket.send(JSON.stringify({
                'type': 'chat_message',
                'message': msg.message,
                'username': username,
                'client_msg_id': id
            }));
        }
    });
}, 5000);
