/** `sealos exec` and `sealos scp`: run a command on, or copy files to, many hosts over SSH. */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { SealosError } from '../errors.js';
import type { Reporter } from '../report.js';
import {
  KnownHosts,
  SshError,
  SshFleet,
  parseHostList,
  raw,
  uploadTree,
  type HostAddress,
  type HostOutcome,
  type SshAuth,
} from '../ssh/index.js';
import type { CliContext } from './context.js';
import type { ContextGetter } from './program.js';

interface SshFlags {
  readonly ips?: string;
  readonly user: string;
  readonly passwd?: string;
  readonly pk?: string;
  readonly pkPasswd?: string;
  readonly port: number;
  readonly cluster: string;
  readonly bastion?: string;
  readonly insecureSkipHostKeyCheck?: boolean;
  readonly jobs?: number;
}

const parsePort = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('a port is 1-65535');
  return n;
};

const parseJobs = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive number');
  return n;
};

/** The SSH flags sealos shares across commands, plus the host list and the cluster name. */
function withSshFlags(c: Command): Command {
  return c
    .option('--ips <hosts>', 'hosts: ip, ip:port, a.b.c.d-a.b.c.e or CIDR, comma separated (required until the cluster has state)')
    .option('-u, --user <user>', 'login user; others than root use sudo', 'root')
    .option('-p, --passwd <password>', 'login password (also answers sudo)')
    .option('-i, --pk <file>', 'private key (default ~/.ssh/id_rsa, skipped when missing)')
    .option('--pk-passwd <passphrase>', 'passphrase of the private key')
    .option('--port <port>', 'sshd port for hosts given without one', parsePort, 22)
    .option('-c, --cluster <name>', 'cluster whose known_hosts pins the host keys', 'default')
    .option('--bastion <host[:port]>', 'reach every host through this jump host (same credentials)')
    .option('--insecure-skip-host-key-check', 'accept any host key (not recorded, not checked)')
    .option('--jobs <n>', 'hosts worked on at once', parseJobs);
}

/** The cluster's runtime dir: SEALOS_RUNTIME_ROOT or ~/.sealos, then the cluster name. */
export function clusterDir(env: NodeJS.ProcessEnv, cluster: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(cluster)) {
    throw new SealosError('BAD_CLUSTER_NAME', `"${cluster}" is not a cluster name`, { hint: 'use letters, digits, dot, dash and underscore' });
  }
  return join(env.SEALOS_RUNTIME_ROOT || join(env.HOME || homedir(), '.sealos'), cluster);
}

async function openFleet(flags: SshFlags, ctx: CliContext): Promise<{ fleet: SshFleet; hosts: HostAddress[] }> {
  if (flags.ips === undefined) {
    throw new SealosError('USAGE_NO_HOSTS', 'no hosts given', { hint: 'pass --ips (the cluster state does not exist yet)' });
  }
  const hosts = parseHostList(flags.ips, flags.port);
  const home = ctx.env.HOME || homedir();
  let privateKey: Buffer | undefined;
  const keyFile = flags.pk ?? join(home, '.ssh', 'id_rsa');
  try {
    privateKey = await readFile(keyFile);
  } catch (err) {
    if (flags.pk !== undefined) throw new SealosError('BAD_PRIVATE_KEY', `cannot read the private key ${keyFile}`, { cause: err });
  }
  const auth: SshAuth = {
    user: flags.user,
    ...(flags.passwd !== undefined ? { password: flags.passwd } : {}),
    ...(privateKey !== undefined ? { privateKey } : {}),
    ...(flags.pkPasswd !== undefined ? { passphrase: flags.pkPasswd } : {}),
    ...(ctx.env.SSH_AUTH_SOCK ? { agentSocket: ctx.env.SSH_AUTH_SOCK } : {}),
  };
  const hostKeys = flags.insecureSkipHostKeyCheck === true ? ('skip' as const) : await KnownHosts.open(join(clusterDir(ctx.env, flags.cluster), 'known_hosts'));
  const bastion = flags.bastion !== undefined ? parseHostList(flags.bastion, 22)[0] : undefined;
  const fleet = new SshFleet({
    auth,
    hostKeys,
    reporter: ctx.reporter,
    ...(bastion !== undefined ? { bastion: { address: bastion } } : {}),
    ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
  });
  return { fleet, hosts };
}

/** Splits a byte stream into lines per host, so lines of different hosts never mix. */
function lineSink(emit: (line: string) => void): { push(b: Buffer): void; flush(): void } {
  let rest = '';
  return {
    push(b) {
      const text = rest + b.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) emit(l);
    },
    flush() {
      if (rest !== '') emit(rest);
      rest = '';
    },
  };
}

/** Reports each failed host, then throws one error naming them all (exit code 4). */
function failIfAny<T>(outcomes: readonly HostOutcome<T>[], what: string, reporter: Reporter): void {
  const failed = outcomes.filter((o): o is Extract<HostOutcome<T>, { ok: false }> => !o.ok);
  if (failed.length === 0) return;
  for (const f of failed) reporter.emit({ kind: 'log', level: 'error', host: f.host, msg: f.error.message.replace(`${f.host}: `, '') });
  throw new SshError('SSH_FAILED_HOSTS', failed.map((f) => f.host).join(', '), `${what} failed on ${failed.length} of ${outcomes.length} hosts`, {
    hint: failed.length < outcomes.length ? 'the other hosts succeeded; fix the failed ones and run again' : undefined,
  });
}

/** Adds `exec` and `scp` to the program. */
export function registerRemoteCommands(program: Command, ctx: ContextGetter): void {
  withSshFlags(
    program
      .command('exec')
      .description('run a shell command as root on every host; output lines are prefixed by host (put the command after --)')
      .argument('<command...>', 'the command line, run by the login shell of each host'),
  ).action(async (words: string[], flags: SshFlags, cmd: Command) => {
    const c = ctx(cmd);
    const { fleet, hosts } = await openFleet(flags, c);
    try {
      // The operator's command line is shell syntax on purpose: it is what the user asked to run.
      const line = raw(words.join(' '));
      const outcomes = await fleet.forEach(hosts, async (s) => {
        const out = lineSink((l) => c.reporter.result(`${s.name}: ${l}`));
        const err = lineSink((l) => c.reporter.emit({ kind: 'log', level: 'info', host: s.name, msg: l }));
        // as sealos does: a user other than root runs the command through sudo
        const r = await s.run(line, {
          root: true,
          onStdout: (b) => out.push(b),
          onStderr: (b) => err.push(b),
          allowFailure: true,
          label: 'the command',
        });
        out.flush();
        err.flush();
        if (r.code !== 0) throw new SshError('SSH_EXIT', s.name, `exit code ${r.code}`, { exitCode: r.code, stderr: r.stderr });
        return r.code;
      });
      failIfAny(outcomes, 'the command', c.reporter);
    } finally {
      await fleet.close();
    }
  });

  withSshFlags(
    program
      .command('scp')
      .description('copy a local file or directory to every host (a DST ending in / receives SRC by its name)')
      .argument('<src>', 'local file or directory')
      .argument('<dst>', 'path on the hosts')
      .option('--no-relay', 'send to every host from here instead of relaying through hosts'),
  ).action(async (src: string, dst: string, flags: SshFlags & { relay: boolean }, cmd: Command) => {
    const c = ctx(cmd);
    const target = dst.endsWith('/') ? `${dst}${basename(src)}` : dst;
    const { fleet, hosts } = await openFleet(flags, c);
    try {
      const outcomes = await uploadTree(fleet, hosts, src, target, {
        reporter: c.reporter,
        relay: flags.relay ? 1 : false,
        ...(flags.jobs !== undefined ? { jobs: flags.jobs } : {}),
      });
      for (const o of outcomes) {
        if (o.ok) c.reporter.result(`${o.host}: ${target}: ${o.value.via}, ${o.value.filesSent} sent, ${o.value.filesUnchanged} unchanged`);
      }
      failIfAny(outcomes, `copying ${src}`, c.reporter);
    } finally {
      await fleet.close();
    }
  });
}
