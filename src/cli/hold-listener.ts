/**
 * The holder's end of its socket (hold-socket.ts says what both ends check): it answers
 * `describe` and `thaw` from its own user or root, one request per connection, and never lets
 * an asker crash it or keep it alive: every connection has an error handler and a deadline from
 * its first moment.
 */
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { peerOf } from '../kernel/socket-peer.js';
import { ACCEPTED, type HoldRequest, holdSocketPath, REQUEST_MAX_BYTES } from './hold-socket.js';
import { myUid } from './runtime-dir.js';

/** How long a holder waits for a connected asker to say what it wants (or to take a refusal). */
const REQUEST_DEADLINE_MS = 2_000;

export interface HoldListener {
  close(): void;
}

type Answer = (request: HoldRequest) => Promise<unknown> | unknown;

/** One connection: checks the asker, reads one request line, writes the answer (a thaw's: first "accepted"). */
function serveConnection(socket: Socket, answer: Answer): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(REQUEST_DEADLINE_MS, () => socket.destroy());
  const me = myUid();
  const peer = peerOf(socket);
  if (peer !== null && peer.uid !== me && peer.uid !== 0) {
    socket.end(`${JSON.stringify({ refused: 'only its own user or root may ask this hold' })}\n`);
    return;
  }
  let text = '';
  const onData = (data: Buffer) => {
    text += data.toString('utf8');
    if (text.length > REQUEST_MAX_BYTES) return void socket.destroy();
    if (!text.includes('\n')) return;
    socket.off('data', onData);
    socket.setTimeout(0);
    let request: unknown;
    try {
      request = JSON.parse(text.slice(0, text.indexOf('\n'))).request;
    } catch {
      request = undefined;
    }
    if (request !== 'describe' && request !== 'thaw') {
      socket.end(`${JSON.stringify({ error: 'unknown request' })}\n`);
      return;
    }
    if (request === 'thaw') socket.write(`${JSON.stringify(ACCEPTED)}\n`);
    Promise.resolve()
      .then(() => answer(request))
      .catch((error: unknown) => ({
        error: `the holder could not answer: ${(error as Error)?.message ?? error}`,
      }))
      .then((reply) => {
        if (!socket.destroyed) socket.end(`${JSON.stringify(reply)}\n`);
      });
  };
  socket.on('data', onData);
}

/**
 * Listens for requests to hold `id`. `answer` gets each request from the holder's own user or
 * root and returns the answer to send (a thaw's answer arrives once the tree runs again).
 * Resolves once listening; null if the socket could not be made.
 */
export function listenForRequests(dir: string, id: string, answer: Answer): Promise<HoldListener | null> {
  const path = holdSocketPath(dir, id);
  const server = createServer((socket) => serveConnection(socket, answer));
  server.unref(); // the hold keeps the process alive, not its socket
  return new Promise((resolve) => {
    server.once('error', () => resolve(null));
    // The socket file is made 0600 as it is bound (bind takes the umask): only its own user, and
    // root, may connect, whatever the directory's group may do.
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.removeAllListeners('error');
        server.on('error', () => {});
        resolve({
          close() {
            server.close();
            rmSync(path, { force: true }); // our own socket file, in our own directory
          },
        });
      });
    } finally {
      process.umask(umask);
    }
  });
}
