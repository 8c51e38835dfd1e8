"""Alert output channels and the dispatcher that feeds them.

The capture thread calls `OutputDispatcher.submit(alert)`: a token-bucket
check and a non-blocking put on a bounded queue, nothing more.  One output
thread formats each alert once (text or JSON, as falco.yaml says) and hands
the line to every enabled channel.  A slow or broken sink costs queue room,
never capture time: when the queue is full the alert is dropped and counted.
"""
from .base import Channel, ChannelError
from .dispatcher import (Message, OutputDispatcher, TokenBucket, build_channels,
                         format_json, format_text, from_alert, internal_message)

__all__ = ["Channel", "ChannelError", "Message", "OutputDispatcher", "TokenBucket",
           "build_channels", "format_json", "format_text", "from_alert",
           "internal_message"]
