// Add to chatPage.html

let reconnectAttempts = 0;
const MAX_RECONNECT_ATTEMPTS = 5;
const RECONNECT_DELAY = 3000; // 3 seconds

function connectWebSocket() {
    const wsUrl = 'ws://' + window.location.host + '/ws/chat/group/' + roomName + '/';
    const chatSocket = new WebSocket(wsUrl);
    
    chatSocket.onopen = function(e) {
        console.log('WebSocket connected');
        reconnectAttempts = 0;
        
        // Update UI to show connected status
        document.getElementById('connection-status').textContent = 'Connected';
        document.getElementById('connection-status').style.color = 'green';
    };
    
    chatSocket.onclose = function(e) {
        console.log('WebSocket closed:', e.code, e.reason);
        
        // Update UI to show disconnected status
        document.getElementById('connection-status').textContent = 'Disconnected';
        document.getElementById('connection-status').style.color = 'red';
        
        // Attempt to reconnect
        if (reconnectAttempts < MAX_RECONNECT_ATTEMPTS) {
            reconnectAttempts++;
            console.log(`Reconnecting... Attempt ${reconnectAttempts}`);
            
            setTimeout(() => {
                connectWebSocket();
            }, RECONNECT_DELAY * reconnectAttempts); // Exponential backoff
        } else {
            console.error('Max reconnection attempts reached');
            alert('Connection lost. Please refresh the page.');
        }
    };
    
    chatSocket.onerror = function(e) {
        console.error('WebSocket error:', e);
    };
    
    return chatSocket;
}

// Initialize connection
let chatSocket = connectWebSocket();
