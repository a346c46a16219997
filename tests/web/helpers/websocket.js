// A WebSocket for the tests that talk to the real server. Node 22 has a
// browser-like WebSocket global; Node 18 (Debian 12's) and 20 have none by
// default, so the `ws` package's WHATWG-style client stands in, installed as
// the global for the page's code (web/stream-client.js uses globalThis.WebSocket).
import { WebSocket as WsWebSocket } from 'ws';

// A browser never throws from a socket's error; `ws` is an EventEmitter and
// would, for an 'error' with no listener (a socket closed while still
// connecting, after the page dropped its handlers). Keep one always there.
class BrowserLikeWebSocket extends WsWebSocket {
  constructor(...args) {
    super(...args);
    this.on('error', () => {});
  }
}

if (typeof globalThis.WebSocket !== 'function') globalThis.WebSocket = BrowserLikeWebSocket;
