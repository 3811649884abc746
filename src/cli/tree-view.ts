/** Rendering a process tree for people (indented) and machines (JSON). */
import { relative } from 'node:path';
import { cgroupsOf, findCgroupMounts } from '../kernel/cgroupfs.js';
import { readTaskStates } from '../kernel/procfs.js';
import type { ProcessNode } from '../tree/discovery.js';
import { printable } from './printable.js';
import { paint, stateStyle } from './style.js';

export interface TreeEntry extends ProcessNode {
  /** Every task's state letter, e.g. "TTTS". */
  taskStates: string;
  depth: number;
  /** With --cgroups: the cgroup path (relative to its hierarchy's mount). */
  cgroup?: string | null;
}

/**
 * The tree in depth-first order (every process directly followed by its own subtree, as
 * pstree draws it), each with its depth. Discovery lists breadth first: drawn in that
 * order, a child would appear under the wrong parent.
 */
export function describeTree(nodes: ProcessNode[], withCgroups = false): TreeEntry[] {
  const mounts = withCgroups ? findCgroupMounts() : {};
  const byPid = new Map(nodes.map((node) => [node.pid, node]));
  const ordered: { node: ProcessNode; depth: number }[] = [];
  const visit = (node: ProcessNode, depth: number) => {
    ordered.push({ node, depth });
    for (const child of node.children) {
      const next = byPid.get(child);
      if (next) visit(next, depth + 1);
    }
  };
  for (const node of nodes) if (!byPid.has(node.ppid)) visit(node, 0);
  return ordered.map(({ node, depth }) => {
    const taskStates = (readTaskStates(node.pid) ?? []).map((task) => task.state).join('');
    const entry: TreeEntry = { ...node, taskStates, depth };
    if (withCgroups) {
      const { v2, v1 } = cgroupsOf(node.pid, mounts);
      const path = v2 && v2 !== mounts.v2 ? v2 : (v1 ?? v2);
      const mount = path === v2 ? mounts.v2 : mounts.v1Freezer;
      entry.cgroup = path ? `/${relative(mount ?? '/', path)}` : null;
    }
    return entry;
  });
}

/** One line a process: "  1234  T  4 thr  worker", children indented under their parent. */
export function renderTree(entries: TreeEntry[], color: boolean): string {
  const pidWidth = Math.max(3, ...entries.map((entry) => String(entry.pid).length));
  const lines = entries.map((entry) => {
    const indent = '  '.repeat(entry.depth);
    const state = summarizeStates(entry.taskStates || entry.state);
    const threads = `${entry.threads} thr`.padStart(7);
    const pid = String(entry.pid).padStart(pidWidth);
    // Whoever started a process chose its name (and can name a cgroup): escaped, never obeyed.
    const comm = printable(entry.comm);
    const cgroup =
      entry.cgroup === undefined ? '' : `  ${paint(color, 'dim', printable(entry.cgroup ?? '?'))}`;
    return `${indent}${pid}  ${paint(color, stateStyle(state[0] ?? '?'), state.padEnd(3))} ${threads}  ${comm}${cgroup}`;
  });
  return lines.join('\n');
}

/** "T" when every task agrees, else the distinct letters, e.g. "ZS". */
function summarizeStates(states: string): string {
  const distinct = [...new Set(states)].join('');
  return distinct.length === 0 ? '?' : distinct;
}
