// CPU time and memory of a process, read from /proc (Linux only). Servers are
// started directly (or through taskset, which execs), so the pid run.ts holds
// is the Node.js process being measured.
import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';

export function readClockTicksPerSecond(): number {
  const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number.parseInt(out.stdout ?? '', 10);
  return Number.isFinite(ticks) && ticks > 0 ? ticks : 100;
}

/** utime + stime of the process, in clock ticks. */
export function readCpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses; fields resume after the
  // last ')'. utime and stime are fields 14 and 15 of proc(5).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

export type CoreTicks = { busy: number; total: number };

/** Busy and total clock ticks of one core since boot, from /proc/stat. */
export function readCoreTicks(core: string): CoreTicks {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`cpu${core} `));
  const values = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  const at = (index: number) => values[index] ?? 0;
  // user nice system idle iowait irq softirq steal; guest time is inside user.
  // Interrupt time is left out of busy: on loopback it is mostly the network
  // work of the benchmark's own traffic, charged to no process. Steal counts:
  // the hypervisor gave the core to someone else.
  const busy = at(0) + at(1) + at(2) + at(7);
  return { busy, total: busy + at(3) + at(4) + at(5) + at(6) };
}

/** Peak resident set size (VmHWM) in KiB. */
export function readPeakRssKib(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/**
 * Resets VmHWM to the current RSS, so the next reading is the peak of one run
 * rather than of the process's whole life. Writing 5 to clear_refs does that
 * since Linux 4.0; without it the reading stays cumulative, reported as such.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The program the process runs (comm is no help: Node.js renames its main thread). */
export function readExecutable(pid: number): string {
  return readlinkSync(`/proc/${pid}/exe`);
}
