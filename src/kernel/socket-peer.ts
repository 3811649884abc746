/** Who is at the other end of a connected unix socket, in the kernel's words (SO_PEERCRED). */
import type { Socket } from 'node:net';
import { native, type PeerCredentials } from './native.js';

/** The peer's pid, uid and gid as the kernel recorded them at connect(); null without the native calls. */
export function peerOf(socket: Socket): PeerCredentials | null {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return fd === undefined || fd < 0 ? null : (native()?.peerCredentials(fd) ?? null);
}
