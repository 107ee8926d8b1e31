const publisherId = 456;
const supportSocket = new WebSocket(
    `wss://${window.location.host}/ws/chat/support/publisher_${publisherId}/`
);

supportSocket.onmessage = function(e) {
    const data = JSON.parse(e.data);

    if (data.type === 'message') {
        console.log(`${data.sender_role}: ${data.message}`);
    }
};

// Send support message
function sendSupportMessage(message) {
    supportSocket.send(JSON.stringify({
        'type': 'message',
        'message': message
    }));
}
