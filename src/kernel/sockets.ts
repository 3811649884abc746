/**
 * Who listens on a port: /proc/net lists the sockets of this network namespace with their
 * inode, and /proc/<pid>/fd links name the inodes each process holds ("socket:[123]").
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { listProcessIds, readProcFile } from './procfs.js';

/** TCP sockets in LISTEN (state 0A); UDP sockets bound to the port (any state). */
const TABLES = [
  { file: '/proc/net/tcp', listening: '0A' },
  { file: '/proc/net/tcp6', listening: '0A' },
  { file: '/proc/net/udp', listening: null },
  { file: '/proc/net/udp6', listening: null },
] as const;

/** The inodes of the sockets listening on `port` (TCP) or bound to it (UDP). */
export function socketInodesOnPort(port: number): Set<number> {
  const inodes = new Set<number>();
  for (const { file, listening } of TABLES) {
    const lines = (readProcFile(file) ?? '').split('\n').slice(1);
    for (const line of lines) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const state = fields[3];
      const inode = Number(fields[9]);
      if (local === undefined || !Number.isSafeInteger(inode) || inode === 0) continue;
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      if (listening !== null && state !== listening) continue;
      inodes.add(inode);
    }
  }
  return inodes;
}

/** The processes that hold one of these socket inodes open (processes we may not look into are skipped). */
export function processesHoldingSockets(inodes: ReadonlySet<number>): number[] {
  if (inodes.size === 0) return [];
  const holders: number[] = [];
  for (const pid of listProcessIds()) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to look into
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (link.startsWith('socket:[') && inodes.has(Number(link.slice(8, -1)))) {
        holders.push(pid);
        break;
      }
    }
  }
  return holders;
}
