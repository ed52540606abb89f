import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { KnownHosts, SshError, SshFleet, SshSession, cmd, quote, raw, type ConnectOptions } from '../../src/ssh/index.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { recordingReporter } from '../helpers/recording-reporter.js';

const execFileP = promisify(execFile);
let lab: Lab;
let tmp: string;

test.before(async () => {
  lab = await startLab({ name: 'sshs', hosts: 4, net: '198.18.0.192/28' });
  tmp = await mkdtemp(join(tmpdir(), 'ssh-session-'));
  const [, h2] = lab.hosts;
  // a user with password sudo and one with passwordless sudo, made inside h2
  await lab.exec(h2!, 'sh', '-c', [
    'useradd -m -s /bin/sh alice', "echo 'alice:alice pw' | chpasswd", "echo 'alice ALL=(ALL) ALL' > /etc/sudoers.d/alice",
    'useradd -m -s /bin/sh bob', "echo 'bob:bobpw' | chpasswd", "echo 'bob ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/bob",
  ].join(' && '));
});

test.after.always(async () => {
  await lab?.down();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const base = (over: Partial<ConnectOptions> = {}): ConnectOptions => ({
  auth: { user: 'root', privateKey: lab.key },
  hostKeys: 'skip',
  reporter: recordingReporter(),
  retries: 1,
  ...over,
});

async function connect(t: { teardown(f: () => void): void }, n: number, over: Partial<ConnectOptions> = {}): Promise<SshSession> {
  const s = await SshSession.connect(lab.hosts[n]!.address, base(over));
  t.teardown(() => s.close());
  return s;
}

test('password login, and each host keeps its own files', async (t) => {
  const [h1, h2] = lab.hosts;
  const s1 = await connect(t, 0, { auth: { user: 'root', password: 'labpass' } });
  t.is((await s1.run(cmd('hostname'))).stdout.trim(), h1!.name);
  await s1.run(raw('echo only-h1 > /etc/sealos-marker && mkdir -p /newtop && echo x > /newtop/f'));
  const s2 = await connect(t, 1, { auth: { user: 'root', password: 'labpass' } });
  t.is((await s2.run(raw('cat /etc/sealos-marker /newtop/f 2>&1; echo rc=$?'))).stdout.includes('rc=1'), true);
  t.is(await readFile(lab.pathIn(h1!, '/etc/sealos-marker'), 'utf8'), 'only-h1\n');
  await t.throwsAsync(readFile(lab.pathIn(h2!, '/etc/sealos-marker')));
  await t.throwsAsync(readFile('/newtop/f'));
});

test('key login; a wrong password is SSH_AUTH and names the host', async (t) => {
  const s = await connect(t, 0);
  t.is((await s.run(cmd('id', '-u'))).stdout.trim(), '0');
  const err = await t.throwsAsync(SshSession.connect(lab.hosts[0]!.address, base({ auth: { user: 'root', password: 'nope' } })), { instanceOf: SshError });
  t.is(err?.code, 'SSH_AUTH');
  t.true(err!.message.startsWith(`${lab.hosts[0]!.ip}: `));
});

test('key with a passphrase', async (t) => {
  const file = join(tmp, 'id_pass');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'sekret phrase', '-C', 'pass', '-f', file]);
  const pub = (await readFile(`${file}.pub`, 'utf8')).trim();
  await lab.exec(lab.hosts[0]!, 'sh', '-c', `echo ${quote(pub)} >> /root/.ssh/authorized_keys`);
  const key = await readFile(file);
  const s = await connect(t, 0, { auth: { user: 'root', privateKey: key, passphrase: 'sekret phrase' } });
  t.is((await s.run(cmd('echo', 'ok'))).stdout, 'ok\n');
  const err = await t.throwsAsync(SshSession.connect(lab.hosts[0]!.address, base({ auth: { user: 'root', privateKey: key, passphrase: 'wrong' } })));
  t.is((err as SshError).code, 'SSH_AUTH');
});

test('agent login through a real ssh-agent', async (t) => {
  const sock = join(tmp, 'agent.sock');
  const { stdout } = await execFileP('ssh-agent', ['-s', '-a', sock]);
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(stdout)?.[1]);
  t.true(pid > 0);
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  });
  await execFileP('ssh-add', [lab.keyFile], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
  const s = await connect(t, 2, { auth: { user: 'root', agentSocket: sock } });
  t.is((await s.run(cmd('hostname'))).stdout.trim(), lab.hosts[2]!.name);
});

test('a user with password sudo: the password goes on stdin, never into argv', async (t) => {
  const s = await connect(t, 1, { auth: { user: 'alice', password: 'alice pw' } });
  t.is((await s.run(cmd('id', '-un'))).stdout.trim(), 'alice');
  t.is(await s.sudoMode(), 'password');
  t.is((await s.run(cmd('id', '-u'), { root: true })).stdout.trim(), '0');
  // stdin still reaches the command after sudo has read its line
  t.is((await s.run(cmd('cat'), { root: true, stdin: 'payload\nline 2\n' })).stdout, 'payload\nline 2\n');
  // while a root command runs, no process shows the password
  const running = s.run(cmd('sleep', '3'), { root: true });
  let ps = '';
  for (let i = 0; i < 40 && !ps.includes('sleep 3'); i++) {
    await new Promise((r) => setTimeout(r, 100));
    ps = (await lab.exec(lab.hosts[1]!, 'ps', '-eo', 'args')).stdout;
  }
  await running;
  t.true(ps.includes('sleep 3'));
  t.false(ps.includes('alice pw'));
  // a bad sudo password is SSH_SUDO
  const bad = await connect(t, 1, { auth: { user: 'alice', password: 'alice pw', sudoPassword: 'wrong' } });
  const err = await t.throwsAsync(bad.run(cmd('true'), { root: true }), { instanceOf: SshError });
  t.is(err?.code, 'SSH_SUDO');
  // passwordless sudo is found and used
  const bob = await connect(t, 1, { auth: { user: 'bob', password: 'bobpw' } });
  t.is(await bob.sudoMode(), 'nopasswd');
  t.is((await bob.run(cmd('whoami'), { root: true })).stdout.trim(), 'root');
});

test('host keys are pinned on first use and a changed key is refused', async (t) => {
  const h3 = lab.hosts[3]!; // only this test touches h4: it restarts it
  const file = join(tmp, 'pinned', 'known_hosts');
  const first = await connect(t, 3, { hostKeys: await KnownHosts.open(file) });
  first.close();
  t.regex(await readFile(file, 'utf8'), new RegExp(`^${h3.ip.replaceAll('.', '\\.')} ssh-ed25519 `));
  // known key: fine again
  (await connect(t, 3, { hostKeys: await KnownHosts.open(file) })).close();
  // the host gets a new key (a reinstall, or someone in between)
  const keyPath = lab.pathIn(h3, '/etc/ssh/ssh_host_ed25519_key');
  await rm(keyPath);
  await rm(`${keyPath}.pub`);
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  await lab.stop(h3);
  await lab.start(h3);
  const err = await t.throwsAsync(SshSession.connect(h3.address, base({ hostKeys: await KnownHosts.open(file) })), { instanceOf: SshError });
  t.is(err?.code, 'SSH_HOSTKEY');
  t.true(err!.message.startsWith(`${h3.ip}: host key changed`));
  t.true(err!.hint!.includes(file));
  // the explicit opt-out connects anyway
  const s = await connect(t, 3, { hostKeys: 'skip' });
  t.is((await s.run(cmd('hostname'))).stdout.trim(), h3.name);
});

test('a bastion: the target sees the connection coming from the jump host', async (t) => {
  const [h1, h2] = lab.hosts;
  const fleet = new SshFleet({ ...base(), bastion: { address: h1!.address } });
  t.teardown(() => fleet.close());
  const s = await fleet.session(h2!.address);
  const { stdout } = await s.run(raw('echo "$SSH_CLIENT"; hostname'));
  const [client, name] = stdout.trim().split('\n');
  t.true(client!.startsWith(`${h1!.ip} `));
  t.is(name, h2!.name);
});

test('one connection carries many channels, bounded per connection', async (t) => {
  const s = await connect(t, 0, { channelsPerConnection: 4 });
  const started = Date.now();
  const out = await Promise.all(
    [...Array(40).keys()].map((i) => s.run(cmd('sh', '-c', 'sleep 0.1; echo "$1 ${SSH_CLIENT% *}"', 'x', String(i)))),
  );
  // at most 4 at once: 40 commands of 0.1 s take at least 1 s
  t.true(Date.now() - started >= 1000);
  t.deepEqual(out.map((r) => r.stdout.split(' ')[0]), [...Array(40).keys()].map(String));
  // all came over one TCP connection (one client ip and port)
  t.is(new Set(out.map((r) => r.stdout.trim().split(' ').slice(1).join(' '))).size, 1);
});

test('quoting survives the remote shell; failures keep exit code and stderr', async (t) => {
  const s = await connect(t, 0);
  const args = ['a b', "it's", '$(id)', '`id`', '', '-n', 'x\n"y"', '*', '$HOME', 'a;b|c&d', '\\'];
  t.is((await s.run(cmd('printf', '%s|', ...args))).stdout, args.map((a) => `${a}|`).join(''));
  const err = await t.throwsAsync(s.run(raw('echo oops >&2; exit 3')), { instanceOf: SshError });
  t.is(err?.code, 'SSH_EXIT');
  t.is(err?.exitCode, 3);
  t.is(err?.stderr, 'oops\n');
  t.true(err!.message.startsWith(`${lab.hosts[0]!.ip}: `));
  t.is((await s.run(raw('exit 5'), { allowFailure: true })).code, 5);
});

test('command timeout and connect failure are clear per host', async (t) => {
  const s = await connect(t, 0);
  const slow = await t.throwsAsync(s.run(cmd('sleep', '5'), { timeoutMs: 300 }), { instanceOf: SshError });
  t.is(slow?.code, 'SSH_TIMEOUT');
  t.is((await s.run(cmd('echo', 'still usable'))).stdout, 'still usable\n');
  const nobody = { host: '198.18.0.206', port: 22 };
  const started = Date.now();
  const err = await t.throwsAsync(SshSession.connect(nobody, base({ connectTimeoutMs: 400, retries: 1, retryDelayMs: 50 })), { instanceOf: SshError });
  t.true(['SSH_CONNECT', 'SSH_TIMEOUT'].includes(err!.code));
  t.true(err!.message.startsWith('198.18.0.206: '));
  t.true(Date.now() - started < 5000);
  // a closed port is refused at once, after the retries
  const refused = await t.throwsAsync(SshSession.connect({ host: lab.hosts[0]!.ip, port: 2 }, base({ retries: 2, retryDelayMs: 20 })), { instanceOf: SshError });
  t.is(refused?.code, 'SSH_CONNECT');
  t.true(refused!.message.startsWith(`${lab.hosts[0]!.ip}:2: cannot connect`));
});
