// The receiver worker (a dedicated module worker, one a listened device): see
// receiver.js for what it does and the messages it takes and sends.

import { Receiver } from './receiver.js';

let receiver = null;

self.onmessage = (e) => {
  const m = e.data;
  switch (m.type) {
    case 'start':
      if (receiver) return;
      receiver = new Receiver((message) => self.postMessage(message), m);
      receiver.start();
      break;
    case 'sink':
      if (receiver) receiver.setSink(m.epoch, m.ready, m.tapSamples);
      break;
    case 'stop':
      if (receiver) receiver.stop();
      receiver = null;
      // Let the close frame go out before the worker ends.
      setTimeout(() => self.close(), 100);
      break;
    default:
      break;
  }
};
