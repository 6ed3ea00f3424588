/**
 * The gateway's process tree as /proc (Linux) shows it: the gateway (`node auth/src/embedded.ts`),
 * its direct children (one process per enabled MCP service, alive as long as the gateway) and
 * everything below them (the stdio servers the proxy starts for each MCP session, which come and go).
 * For each group: resident memory (VmRSS), open file descriptors, and how many processes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { cpuOf } from '../proc.ts';

export interface Group {
  /** MB, VmRSS summed over the group. */
  rss: number;
  /** Open file descriptors, summed over the group. */
  fds: number;
  processes: number;
}

export interface TreeSample {
  gateway: Group;
  /** The gateway's direct children: the MCP services. */
  services: Group;
  /** Deeper descendants: the per-session stdio servers (and the proxy's 2026-07-28 pool). */
  sessions: Group;
  /** CPU seconds of the live tree plus what its processes reaped from exited children. */
  cpu: number;
  /** Every pid of the tree, gateway first. */
  pids: number[];
  /** Each service process by what it runs (`echo-stateful`, `proxy`…): MB and fds. */
  perService: Record<string, { rss: number; fds: number }>;
}

/** What a service process runs: `mcp-services/<name>/…` of its command line, or its pid. */
function label(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const script = argv.find((a) => a.startsWith('mcp-services/'));
    return script?.split('/')[1] ?? String(pid);
  } catch {
    return String(pid);
  }
}

/** Direct children of a process, from every one of its threads' `children` lists. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    try {
      for (const child of readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/)) {
        if (child) found.push(Number(child));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return found;
}

/** VmRSS in kB, or undefined when the process is gone. */
function rssKb(pid: number): number | undefined {
  try {
    const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return line ? Number(line[1]) : 0; // a zombie has no VmRSS
  } catch {
    return undefined;
  }
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

function measure(pids: number[]): Group {
  const group: Group = { rss: 0, fds: 0, processes: 0 };
  for (const pid of pids) {
    const kb = rssKb(pid);
    if (kb === undefined) continue;
    group.rss += kb / 1024;
    group.fds += fdCount(pid);
    group.processes++;
  }
  return group;
}

/** Every descendant of `pid`, breadth first. */
export function descendantsOf(pid: number): number[] {
  const all: number[] = [];
  for (let level = childrenOf(pid); level.length; level = level.flatMap(childrenOf)) all.push(...level);
  return all;
}

export function sampleTree(gatewayPid: number): TreeSample {
  const services = childrenOf(gatewayPid);
  const sessions = services.flatMap(descendantsOf);
  const pids = [gatewayPid, ...services, ...sessions];
  let cpu = 0;
  for (const pid of pids) {
    const c = cpuOf(pid);
    if (c) cpu += c.own + (pid === gatewayPid || services.includes(pid) ? c.reaped : 0);
  }
  const perService: TreeSample['perService'] = {};
  for (const pid of services) {
    const { rss, fds } = measure([pid]);
    perService[label(pid)] = { rss, fds };
  }
  return {
    gateway: measure([gatewayPid]),
    services: measure(services),
    sessions: measure(sessions),
    cpu,
    pids,
    perService,
  };
}

/** The pids of `pids` still running (not gone, not a zombie). */
export function alive(pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  });
}
