"""Channels consumers of the interop test project (the chanhost side of the
tests is the broadcast and directsend plugins).

RoomConsumer, /ws/room/<room>/: the Channels tutorial's chat consumer,
joined to group room_<room> -- the group chanhost's broadcast plugin uses
for /ws/broadcast/<room>/.  On connect it tells its client its channel
name ({"type": "hello", "channel": ...}).  Client frames:
  {"type": "say", "message": M}     group_send(room_<room>, {"type": "chat_message", "message": M})
  {"type": "direct", "to": C, "message": M}
                                    channel_layer.send(C, {"type": "direct_message", "message": M})
Layer events chat_message and direct_message (Channels' type dispatch:
"chat.message" lands in chat_message too) are sent to the client as they
came, as JSON.
"""
from channels.generic.websocket import AsyncJsonWebsocketConsumer


class RoomConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.group = "room_" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "hello", "channel": self.channel_name})

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") == "say":
            await self.channel_layer.group_send(self.group, {"type": "chat_message", "message": content["message"]})
        elif content.get("type") == "direct":
            await self.channel_layer.send(content["to"], {"type": "direct_message", "message": content["message"]})

    async def chat_message(self, event):
        await self.send_json(event)

    async def direct_message(self, event):
        await self.send_json(event)
