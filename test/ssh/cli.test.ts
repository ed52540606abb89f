import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Command } from 'commander';
import type { CliContext } from '../../src/cli/context.js';
import { registerRemoteCommands } from '../../src/cli/remote-commands.js';
import { SshError } from '../../src/ssh/index.js';
import { sealos as runSealos } from '../helpers/cli.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { treeDigest } from '../helpers/ssh-tree.js';

let lab: Lab;
let tmp: string;

test.before(async () => {
  lab = await startLab({ name: 'sshc', hosts: 2, net: '198.18.0.224/28' });
  tmp = await mkdtemp(join(tmpdir(), 'ssh-cli-'));
});

test.after.always(async () => {
  await lab?.down();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Runs `sealos ARGS` in-process with a recording reporter and HOME in a temp dir. */
async function sealos(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const reporter = recordingReporter();
  const ctx: CliContext = { reporter, storeRoot: join(tmp, 'store'), debug: false, quiet: false, env: { HOME: join(tmp, 'home'), ...env } };
  const program = new Command('sealos').exitOverride();
  registerRemoteCommands(program, () => ctx);
  let error: unknown;
  try {
    await program.parseAsync(['node', 'sealos', ...args]);
  } catch (err) {
    error = err;
  }
  return { reporter, error };
}

const ips = () => lab.hosts.map((h) => h.ip).join(',');

test.serial('exec prefixes every line with its host and pins host keys per cluster', async (t) => {
  const { reporter, error } = await sealos(['exec', '--ips', ips(), '-i', lab.keyFile, '--', 'echo "one two"; hostname; echo err >&2']);
  t.is(error, undefined);
  for (const h of lab.hosts) {
    t.true(reporter.results.includes(`${h.ip}: one two`));
    t.true(reporter.results.includes(`${h.ip}: ${h.name}`));
    t.true(reporter.events.some((e) => e.kind === 'log' && e.host === h.ip && e.msg === 'err'));
  }
  const kh = await readFile(join(tmp, 'home', '.sealos', 'default', 'known_hosts'), 'utf8');
  t.is(kh.trim().split('\n').length, 2);
});

test.serial('exec fails when any host fails and says which', async (t) => {
  const [h1, h2] = lab.hosts;
  const { reporter, error } = await sealos(['exec', '--ips', ips(), '-i', lab.keyFile, '-c', 'other', '--', `test "$(hostname)" = ${h1!.name}`]);
  t.true(error instanceof SshError);
  t.is((error as SshError).code, 'SSH_FAILED_HOSTS');
  t.is((error as SshError).message, `${h2!.ip}: the command failed on 1 of 2 hosts`);
  t.true(reporter.events.some((e) => e.kind === 'log' && e.level === 'error' && e.host === h2!.ip && e.msg === 'exit code 1'));
  t.truthy(await readFile(join(tmp, 'home', '.sealos', 'other', 'known_hosts'), 'utf8'));
});

test.serial('exec with a password, a range and a port; bad host lists are usage errors', async (t) => {
  const [h1, h2] = lab.hosts;
  const { reporter, error } = await sealos(['exec', '--ips', `${h1!.ip}-${h2!.ip}`, '-p', 'labpass', '-i', join(tmp, 'none'), '--port', '22', '--', 'id -u'], {}).then(
    (r) => r,
  );
  // -i naming a missing file is an error, not silently skipped
  t.is((error as { code?: string }).code, 'BAD_PRIVATE_KEY');
  t.deepEqual(reporter.results, []);
  const ok = await sealos(['exec', '--ips', `${h1!.ip}-${h2!.ip}`, '-p', 'labpass', '--', 'id -u']);
  t.is(ok.error, undefined);
  t.deepEqual(ok.reporter.results.sort(), [`${h1!.ip}: 0`, `${h2!.ip}: 0`]);
  const bad = await sealos(['exec', '--ips', '198.18.0.300', '-p', 'labpass', '--', 'true']);
  t.is((bad.error as { code?: string }).code, 'BAD_HOST_LIST');
  const none = await sealos(['exec', '-p', 'labpass', '--', 'true']);
  t.is((none.error as { code?: string }).code, 'USAGE_NO_HOSTS');
});

test.serial('scp copies a directory and a file to every host', async (t) => {
  const src = join(tmp, 'src');
  await mkdir(join(src, 'sub'), { recursive: true });
  await writeFile(join(src, 'sub', 'a.txt'), 'a\n', { mode: 0o640 });
  await writeFile(join(src, 'run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
  const { reporter, error } = await sealos(['scp', '--ips', ips(), '-i', lab.keyFile, src, '/opt/scp-dir']);
  t.is(error, undefined, String(error));
  t.is(reporter.results.length, 2);
  for (const h of lab.hosts) t.deepEqual(await treeDigest(lab.pathIn(h, '/opt/scp-dir')), await treeDigest(src));
  const file = await sealos(['scp', '--ips', ips(), '-i', lab.keyFile, join(src, 'run.sh'), '/usr/local/bin/']);
  t.is(file.error, undefined, String(file.error));
  for (const h of lab.hosts) t.is(await readFile(lab.pathIn(h, '/usr/local/bin/run.sh'), 'utf8'), '#!/bin/sh\necho run\n');
  const out = await lab.exec(lab.hosts[0]!, '/usr/local/bin/run.sh');
  t.is(out.stdout, 'run\n');
});

test.serial('the built sealos binary: stdout has the answer, stderr the summary, exit code 4', async (t) => {
  const r = await runSealos(join(tmp, 'store'), ['exec', '--ips', ips(), '-i', lab.keyFile, '--', 'echo hi; exit 3'], {
    env: { HOME: join(tmp, 'home'), SEALOS_RUNTIME_ROOT: join(tmp, 'rt') },
  });
  t.is(r.code, 4);
  t.deepEqual(r.stdout.trim().split('\n').sort(), lab.hosts.map((h) => `${h.ip}: hi`).sort());
  t.regex(r.stderr, /error: .*: the command failed on 2 of 2 hosts/);
  t.truthy(await readFile(join(tmp, 'rt', 'default', 'known_hosts'), 'utf8'));
});
