/**
 * A lock file between sealos processes on one machine: created exclusively, holding the owner's pid.
 * A lock whose owner is gone (crashed) is taken over. Re-entrant within one holder object.
 */
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { OciError } from './errors.js';

const POLL_MS = 50;

/** Whether a process with this pid exists on this machine. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileLock {
  private depth = 0;
  constructor(
    readonly path: string,
    private readonly waitMs: number,
    private readonly onWait: (ownerPid: number) => void = () => {},
  ) {}

  async acquire(): Promise<void> {
    if (this.depth > 0) {
      this.depth++;
      return;
    }
    const deadline = Date.now() + this.waitMs;
    let told = false;
    for (;;) {
      try {
        const fh = await open(this.path, 'wx', 0o644);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        this.depth = 1;
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const owner = Number.parseInt(await readFile(this.path, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
        // Move the stale file aside first so two waiters cannot both delete a fresh lock.
        const aside = `${this.path}.stale-${process.pid}`;
        if (await rename(this.path, aside).then(() => true, () => false)) {
          const moved = Number.parseInt(await readFile(aside, 'utf8').catch(() => ''), 10);
          // Another waiter took the stale lock over between our read and our rename: give it back.
          if (moved !== owner) await link(aside, this.path).catch(() => {});
          await rm(aside, { force: true });
        }
        continue;
      }
      if (Date.now() > deadline)
        throw new OciError('STORE_LOCKED', `${this.path}: held by process ${owner} for too long`, {
          hint: 'wait for the other sealos command to finish, or remove the file if that process is gone',
        });
      if (!told && Number.isInteger(owner)) {
        told = true;
        this.onWait(owner);
      }
      await sleep(POLL_MS);
    }
  }

  async release(): Promise<void> {
    if (this.depth === 0) return;
    if (--this.depth === 0) await rm(this.path, { force: true });
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      await this.release();
    }
  }
}
