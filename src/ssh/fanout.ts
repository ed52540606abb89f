/**
 * Sending one tree to many hosts. Hosts that need everything get it through a pipelined relay: this
 * machine streams one tar to the first host, and each host extracts it while forwarding the same bytes
 * to the next ones over ssh with a key made for this run only, so every link (this machine's uplink
 * included) carries the tree about once and the time barely grows with the number of hosts. Hosts that
 * already hold part of it (a re-run, a resume) and hosts the relay failed to reach get direct uploads.
 * Every host checks every file's sha256 before it is placed.
 */
import { randomBytes } from 'node:crypto';
import ssh2 from 'ssh2';
import type { Reporter } from '../report.js';
import { asRoot, cmd, quote, raw, type Shell } from './command.js';
import type { HostOutcome, SshFleet } from './fleet.js';
import { formatHost, type HostAddress } from './host-list.js';
import { knownHostsLine } from './known-hosts.js';
import { scanTree, type TreeManifest } from './manifest.js';
import { finalizeHost, isUpToDate, probeHost, type HostPlan } from './remote-tree.js';
import type { SshSession } from './session.js';
import { TAR_EXTRACT, localTar, sendDirect } from './upload.js';

/** Below this many bytes the relay's setup (a key, a hop of ssh per host) costs more than it saves. */
export const RELAY_MIN_BYTES = 32 << 20;

export interface UploadOptions {
  readonly reporter: Reporter;
  /**
   * Relay through hosts: children per host in the relay tree (1 = a chain, which uses each link once),
   * or false to send everything from this machine. Default 1.
   */
  readonly relay?: number | false;
  /** Hosts worked on at once for direct uploads. */
  readonly jobs?: number;
  /** Bytes per resumable chunk of a large file (default CHUNK_BYTES). */
  readonly chunkBytes?: number;
}

/** What happened on one host. */
export interface UploadResult {
  /** How the content arrived: through the relay, straight from here, or nothing was needed. */
  readonly via: 'relay' | 'direct' | 'unchanged';
  /** Files sent (or forwarded) to this host in this run. */
  readonly filesSent: number;
  /** Files already right on the host. */
  readonly filesUnchanged: number;
}

/**
 * Uploads `local` (a directory or a file) to `remote` on every host. Never throws for a host's failure:
 * each outcome says what happened on its host.
 */
export async function uploadTree(
  fleet: SshFleet,
  hosts: readonly HostAddress[],
  local: string,
  remote: string,
  opts: UploadOptions,
): Promise<HostOutcome<UploadResult>[]> {
  const { reporter } = opts;
  const scanStarted = Date.now();
  const manifest = await scanTree(local);
  const isDir = manifest.entries[0]?.type === 'dir';
  reporter.emit({
    kind: 'log',
    level: 'debug',
    msg: `${local}: ${manifest.entries.length} entries, ${manifest.bytes} bytes, scanned in ${Date.now() - scanStarted} ms, to ${remote} on ${hosts.length} hosts`,
  });
  const probes = await fleet.forEach(hosts, async (s) => ({ plan: await probeHost(s, manifest, remote), sudo: await s.sudoMode() }), {
    phase: 'probe',
    jobs: opts.jobs,
  });
  const results = new Map<string, HostOutcome<UploadResult>>();
  for (const p of probes) if (!p.ok) results.set(p.host, p);

  const ready = probes.filter((p): p is Extract<typeof p, { ok: true }> => p.ok);
  const degree = opts.relay === false ? 0 : (opts.relay ?? 1);
  const relayable = ready.filter((p) => isDir && p.value.plan.fresh && p.value.sudo !== 'password');
  const relayGroup = degree > 0 && relayable.length >= 2 && manifest.bytes >= RELAY_MIN_BYTES ? relayable : [];
  const direct = ready.filter((p) => !relayGroup.includes(p));

  const directHosts = direct.map((p) => p.address);
  const plans = new Map(ready.map((p) => [p.host, p.value.plan]));
  const runDirect = (targets: readonly HostAddress[]) =>
    fleet.forEach(
      targets,
      async (s): Promise<UploadResult> => {
        const plan = plans.get(s.name) ?? (await probeHost(s, manifest, remote));
        plans.delete(s.name);
        if (isUpToDate(plan)) return { via: 'unchanged', filesSent: 0, filesUnchanged: plan.unchanged };
        const t0 = Date.now();
        await sendDirect(s, manifest, plan, reporter, opts.chunkBytes);
        const t1 = Date.now();
        await finalizeHost(s, manifest, plan);
        reporter.emit({ kind: 'log', level: 'debug', host: s.name, msg: `direct upload: send ${t1 - t0} ms, check and place ${Date.now() - t1} ms` });
        return { via: 'direct', filesSent: plan.send.filter((e) => e.type !== 'dir').length, filesUnchanged: plan.unchanged };
      },
      { phase: 'upload', jobs: opts.jobs },
    );

  const [directOutcomes, relayOutcomes] = await Promise.all([
    runDirect(directHosts),
    relayGroup.length > 0
      ? relayTree(fleet, manifest, relayGroup.map((p) => ({ address: p.address, plan: p.value.plan })), degree, reporter)
      : Promise.resolve([]),
  ]);
  for (const o of directOutcomes) results.set(o.host, o);
  const retry: HostAddress[] = [];
  for (const o of relayOutcomes) {
    if (o.ok) results.set(o.host, o);
    else {
      reporter.emit({ kind: 'log', level: 'warn', host: o.host, msg: `relay failed (${o.error.message}); sending directly` });
      plans.delete(o.host);
      retry.push(o.address);
    }
  }
  for (const o of await runDirect(retry)) results.set(o.host, o);
  return hosts.map((h) => results.get(formatHost(h))!);
}

/** The relay's children of member i (0-based) in a tree of `degree` children per host. */
const childrenOf = (i: number, n: number, degree: number): number[] =>
  [...Array(degree).keys()].map((k) => i * degree + k + 1).filter((c) => c < n);

async function relayTree(
  fleet: SshFleet,
  manifest: TreeManifest,
  group: readonly { address: HostAddress; plan: HostPlan }[],
  degree: number,
  reporter: Reporter,
): Promise<HostOutcome<UploadResult>[]> {
  const id = randomBytes(8).toString('hex');
  const runDir = `/tmp/.sealos-relay-${id}`;
  const marker = `sealos-relay-${id}`;
  const keys = ssh2.utils.generateKeyPairSync('ed25519', { comment: marker });
  const sessions = await Promise.all(group.map((g) => fleet.session(g.address)));
  const started = Date.now();
  for (const s of sessions) reporter.emit({ kind: 'phase', name: 'relay', host: s.name, state: 'start' });
  const setup = await Promise.allSettled(
    sessions.map(async (s, i) => {
      const children = childrenOf(i, sessions.length, degree).map((c) => sessions[c]!);
      const sudo = await s.sudoMode();
      await s.run(raw('/bin/sh -s'), {
        stdin: setupScript({ runDir, marker, id, publicKey: keys.public, privateKey: keys.private, self: s, children, sudo, stage: group[i]!.plan.stage }),
        label: 'preparing the relay',
      });
    }),
  );
  const outcomes: HostOutcome<UploadResult>[] = [];
  try {
    const broken = setup.findIndex((r) => r.status === 'rejected');
    if (broken >= 0) throw (setup[broken] as PromiseRejectedResult).reason;
    const setupMs = Date.now() - started;
    const tar = localTar(manifest.root, manifest.entries);
    const head = sessions[0]!;
    const streamed = await Promise.allSettled([
      head.run(raw(`/bin/sh ${quote(`${runDir}/relay.sh`)}`), { stdin: tar.stream, label: 'relaying the tree' }),
      tar.done,
    ]);
    const streamError = streamed.find((r): r is PromiseRejectedResult => r.status === 'rejected')?.reason as Error | undefined;
    if (streamError !== undefined) {
      reporter.emit({ kind: 'log', level: 'warn', host: head.name, msg: `relay stream ended badly: ${streamError.message}` });
    }
    const streamMs = Date.now() - started - setupMs;
    // Each host now holds what reached it; its own check decides.
    const checked = await Promise.allSettled(
      sessions.map(async (s, i) => {
        await finalizeHost(s, manifest, group[i]!.plan);
        return s;
      }),
    );
    reporter.emit({
      kind: 'log',
      level: 'debug',
      msg: `relay to ${sessions.length} hosts: setup ${setupMs} ms, stream ${streamMs} ms, check and place ${Date.now() - started - setupMs - streamMs} ms`,
    });
    checked.forEach((r, i) => {
      const s = sessions[i]!;
      const ms = Date.now() - started;
      const { address, plan } = group[i]!;
      if (r.status === 'fulfilled') {
        reporter.emit({ kind: 'phase', name: 'relay', host: s.name, state: 'done', ms });
        outcomes.push({ host: s.name, address, ok: true, ms, value: { via: 'relay', filesSent: plan.send.filter((e) => e.type !== 'dir').length, filesUnchanged: 0 } });
      } else {
        reporter.emit({ kind: 'phase', name: 'relay', host: s.name, state: 'failed', ms });
        outcomes.push({ host: s.name, address, ok: false, ms, error: r.reason as Error });
      }
    });
  } catch (err) {
    for (const [i, s] of sessions.entries()) {
      reporter.emit({ kind: 'phase', name: 'relay', host: s.name, state: 'failed', ms: Date.now() - started });
      outcomes.push({ host: s.name, address: group[i]!.address, ok: false, ms: Date.now() - started, error: err as Error });
    }
  } finally {
    await Promise.allSettled(sessions.map((s) => s.run(cleanupScript(runDir, marker), { label: 'removing the relay key' })));
  }
  return outcomes;
}

/**
 * `tee -p` with 1 MiB reads and 1 MiB pipe buffers (F_SETPIPE_SZ): coreutils tee moves 8 KiB per call,
 * and on a relay host the syscalls and wake-ups, not the bytes, are what costs. Like `tee -p`, an output
 * that breaks (a child that failed) is dropped and the others go on.
 */
const PERL_TEE = [
  '$SIG{PIPE} = "IGNORE";',
  'my @o; for my $f (@ARGV) { open(my $h, ">", $f) or die "$f: $!"; push @o, $h; }',
  'open(my $out, ">&", \\*STDOUT) or die; push @o, $out;',
  'for my $h (\\*STDIN, @o) { fcntl($h, 1031, 1048576); }',
  'my (%dead, $buf);',
  'while (1) {',
  '  my $n = sysread(STDIN, $buf, 1048576); die "read: $!" unless defined $n; last if $n == 0;',
  '  for my $i (0 .. $#o) { next if $dead{$i}; my $off = 0;',
  '    while ($off < $n) { my $w = syswrite($o[$i], $buf, $n - $off, $off); if (!defined $w) { $dead{$i} = 1; last; } $off += $w; } }',
  '}',
  'exit(exists $dead{$#o} ? 1 : 0);',
].join('\n');

interface SetupInput {
  readonly runDir: string;
  readonly marker: string;
  readonly id: string;
  readonly publicKey: string;
  readonly privateKey: string;
  readonly self: SshSession;
  readonly children: readonly SshSession[];
  readonly sudo: 'none' | 'nopasswd' | 'password';
  readonly stage: string;
}

/**
 * Run as the login user: a private run dir holding the relay key (hosts with children), the children's
 * pinned host keys, and relay.sh; the public key is authorised for this run only, restricted to running
 * relay.sh. The key travels on stdin, never in argv.
 */
function setupScript(x: SetupInput): string {
  const eof = `SEALOS_RELAY_EOF_${x.id}`;
  const ssh = (c: SshSession): string =>
    [
      'ssh', '-i', `${x.runDir}/key`, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes',
      '-o', `UserKnownHostsFile=${x.runDir}/known_hosts`, '-o', 'GlobalKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=10',
      '-o', 'LogLevel=ERROR', '-o', 'Compression=no',
      '-o', 'Ciphers=aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr',
      '-p', String(c.address.port), '-l', c.auth.user, c.address.host, 'relay',
    ].map(quote).join(' ');
  const extract: Shell = asRoot(cmd(...TAR_EXTRACT, x.stage), x.sudo === 'none' ? 'none' : 'nopasswd');
  const mkstage: Shell = asRoot(cmd('mkdir', '-p', '--', x.stage), x.sudo === 'none' ? 'none' : 'nopasswd');
  const relay: string[] = ['#!/bin/sh', `# sealos relay ${x.id}: extract stdin into the stage, forward it to the next hosts`, `${mkstage} || exit 1`];
  const fifos = x.children.map((_, k) => `${x.runDir}/c${k}`);
  x.children.forEach((c, k) => {
    relay.push(`rm -f ${quote(fifos[k]!)} && mkfifo -m 600 ${quote(fifos[k]!)} || exit 1`);
    relay.push(`( ${ssh(c)} <${quote(fifos[k]!)} >${quote(`${fifos[k]}.log`)} 2>&1; echo $? >${quote(`${fifos[k]}.rc`)} ) &`);
  });
  if (x.children.length > 0) {
    const outs = fifos.map(quote).join(' ');
    relay.push(`if command -v perl >/dev/null 2>&1; then tee() { perl -e ${quote(PERL_TEE)} "$@"; }; else tee() { command tee -p "$@"; }; fi`);
    relay.push(`tee ${outs} | ${extract}`);
  } else {
    relay.push(extract);
  }
  relay.push('rc=$?', 'wait', 'exit $rc');
  const known = x.children.map((c) => knownHostsLine(c.address.host, c.address.port, c.hostKey)).join('\n');
  return [
    'set -e',
    'umask 077',
    `mkdir -m 700 -p ${quote(x.runDir)}`,
    ...(x.children.length > 0
      ? [`cat > ${quote(`${x.runDir}/key`)} <<'${eof}'`, x.privateKey.trimEnd(), eof, `cat > ${quote(`${x.runDir}/known_hosts`)} <<'${eof}'`, known, eof]
      : []),
    `cat > ${quote(`${x.runDir}/relay.sh`)} <<'${eof}'`,
    relay.join('\n'),
    eof,
    'mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh"',
    `printf '%s\\n' ${quote(`restrict,expiry-time="${expiry()}",command="/bin/sh ${x.runDir}/relay.sh" ${x.publicKey.trim()}`)} >> "$HOME/.ssh/authorized_keys"`,
    '',
  ].join('\n');
}

/**
 * When the relay key stops working even if cleanup never runs (the operator crashed): 24 hours on, in
 * UTC written without a zone, so any host time zone still leaves it hours in the future.
 */
function expiry(): string {
  const d = new Date(Date.now() + 24 * 3600 * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}`;
}

/** Removes the run's key from authorized_keys (by its unique comment) and the run dir. */
function cleanupScript(runDir: string, marker: string): Shell {
  return raw(
    `f="$HOME/.ssh/authorized_keys"; if [ -f "$f" ]; then grep -v -F ${quote(marker)} "$f" > "$f.sealos-tmp" || true; ` +
      `cat "$f.sealos-tmp" > "$f"; rm -f "$f.sealos-tmp"; fi; rm -rf -- ${quote(runDir)}`,
  );
}
