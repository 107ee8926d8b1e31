const adId = 123;
const chatSocket = new WebSocket(
    `wss://${window.location.host}/ws/chat/ad/${adId}/`
);

chatSocket.onmessage = function(e) {
    const data = JSON.parse(e.data);

    if (data.type === 'history') {
        // Display chat history
        console.log('Chat history:', data.messages);
    } else if (data.type === 'message') {
        // New message received
        console.log('New message from:', data.sender_name);
        console.log('Message:', data.message);
    } else if (data.type === 'typing') {
        // User is typing
        console.log(data.user_name + ' is typing...');
    }
};

// Send message
function sendMessage(message) {
    chatSocket.send(JSON.stringify({
        'type': 'message',
        'message': message
    }));
}

// Send typing indicator
function sendTyping() {
    chatSocket.send(JSON.stringify({
        'type': 'typing'
    }));
}
