/**
 * The holder's end of its socket (hold-socket.ts says what both ends check): it answers
 * `describe`, `thaw` and (a prepared hold) `release` from its own user or root, one request per connection, and never lets
 * an asker crash it or keep it alive: every connection has an error handler and a deadline from
 * its first moment.
 */
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { peerOf } from '../kernel/socket-peer.js';
import { MAX_TIME_MS } from './hold-record.js';
import { ACCEPTED, holdSocketPath, REQUEST_MAX_BYTES, type RequestLine } from './hold-socket.js';
import { myUid } from './runtime-dir.js';

/** How long a holder waits for a connected asker to say what it wants (or to take a refusal). */
const REQUEST_DEADLINE_MS = 2_000;

export interface HoldListener {
  /** Stops listening and removes the socket file (unless the file is another listener's now). */
  close(removeFile?: boolean): void;
  /** Removes the socket file only: connections made already are still answered. */
  unlink(): void;
}

type Answer = (request: RequestLine) => Promise<unknown> | unknown;

const isTime = (value: unknown) =>
  value === undefined ||
  (Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= MAX_TIME_MS);

/** A request line as sent (hold-socket.ts), or null: anything else is refused. */
function parseRequest(line: string): RequestLine | null {
  let value: Partial<RequestLine> | null;
  try {
    value = JSON.parse(line) as Partial<RequestLine> | null;
  } catch {
    return null;
  }
  const request = value?.request;
  if (request === 'describe' || request === 'thaw') return { request };
  if (request !== 'release' || !isTime(value?.at) || !isTime(value?.before)) return null;
  return { request, at: value?.at, before: value?.before };
}

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
    const request = parseRequest(text.slice(0, text.indexOf('\n')));
    if (request === null) {
      socket.end(`${JSON.stringify({ error: 'unknown request' })}\n`);
      return;
    }
    if (request.request !== 'describe') socket.write(`${JSON.stringify(ACCEPTED)}\n`);
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
          close(removeFile = true) {
            server.close();
            if (removeFile) rmSync(path, { force: true }); // our own socket file, in our own directory
          },
          unlink: () => rmSync(path, { force: true }),
        });
      });
    } finally {
      process.umask(umask);
    }
  });
}
