import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createHmac, randomBytes } from 'node:crypto';
import test from 'ava';
import { HostListError, KnownHosts, asRoot, cmd, parseHostList, quote, raw } from '../../src/ssh/index.js';

const execFileP = promisify(execFile);
const NASTY = ['a b', "it's", '$(id)', '`id`', '', '-n', 'x\n"y"', '*', '~', '\\', "'", "''", 'a;b|c&d', '$HOME', '!x', '\t'];

test('quote() survives a real shell', async (t) => {
  for (const arg of NASTY) t.is((await execFileP('/bin/sh', ['-c', `printf %s ${quote(arg)}`])).stdout, arg);
});

test('cmd() quotes every word and asRoot() wraps the finished command', async (t) => {
  const c = cmd('printf', '%s|', ...NASTY);
  t.is((await execFileP('/bin/sh', ['-c', c])).stdout, NASTY.map((a) => `${a}|`).join(''));
  t.is(asRoot(c, 'none') as string, c as string);
  t.true(asRoot(c, 'nopasswd').startsWith('sudo -n -- /bin/sh -c -- '));
  t.true(asRoot(c, 'password').startsWith("sudo -k -S -p '' -- /bin/sh -c -- "));
  // the wrapped form runs the same words (sudo stripped, so this runs without sudo)
  const wrapped = asRoot(c, 'nopasswd').replace(/^sudo -n -- /, '');
  t.is((await execFileP('/bin/sh', ['-c', wrapped])).stdout, NASTY.map((a) => `${a}|`).join(''));
  t.is(raw('a | b') as string, 'a | b');
});

test('parseHostList() reads ip, ip:port, ranges and CIDRs as sealos does', (t) => {
  t.deepEqual(parseHostList('10.0.0.1'), [{ host: '10.0.0.1', port: 22 }]);
  t.deepEqual(parseHostList('10.0.0.1:2222, 10.0.0.2', 2200), [
    { host: '10.0.0.1', port: 2222 },
    { host: '10.0.0.2', port: 2200 },
  ]);
  t.deepEqual(
    parseHostList('192.168.1.254-192.168.2.1').map((h) => h.host),
    ['192.168.1.254', '192.168.1.255', '192.168.2.0', '192.168.2.1'],
  );
  // a CIDR includes its network and broadcast addresses
  t.deepEqual(parseHostList('10.1.2.5/30').map((h) => h.host), ['10.1.2.4', '10.1.2.5', '10.1.2.6', '10.1.2.7']);
  t.is(parseHostList('10.0.0.0/24').length, 256);
  t.deepEqual(parseHostList('10.0.0.9/32').map((h) => h.host), ['10.0.0.9']);
});

test('parseHostList() refuses bad lists with a usage error', (t) => {
  for (const bad of ['', ',', '10.0.0.256', '10.0.0.1:0', '10.0.0.1:99999', '10.0.0.1:x', 'host name', '10.0.0.5-10.0.0.1', '10.0.0.0/33', '10.0.0.0/8', '10.0.0.1,10.0.0.1', 'a.b.c.d']) {
    const err = t.throws(() => parseHostList(bad), { instanceOf: HostListError }, bad);
    t.is(err?.code, 'BAD_HOST_LIST');
  }
  // the same ip on two ports is two hosts
  t.is(parseHostList('10.0.0.1:22,10.0.0.1:2222').length, 2);
});

test('KnownHosts pins keys, reads hashed and [host]:port entries and spots a changed key', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kh-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'sub', 'known_hosts');
  const keyA = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), randomBytes(36)]);
  const keyB = Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from('ssh-ed25519'), randomBytes(36)]);
  const kh = await KnownHosts.open(file);
  t.is(kh.verdict('10.0.0.1', 22, keyA), 'unknown');
  await kh.add('10.0.0.1', 22, keyA);
  await kh.add('10.0.0.1', 2222, keyB);
  t.is(kh.verdict('10.0.0.1', 22, keyA), 'known');
  t.is(kh.verdict('10.0.0.1', 22, keyB), 'changed');
  t.is(kh.verdict('10.0.0.1', 2222, keyB), 'known');
  const text = await readFile(file, 'utf8');
  t.true(text.includes(`10.0.0.1 ssh-ed25519 ${keyA.toString('base64')}`));
  t.true(text.includes(`[10.0.0.1]:2222 ssh-ed25519 ${keyB.toString('base64')}`));
  // reloaded, with a hashed entry as `ssh-keygen -H` writes it
  const salt = randomBytes(20);
  const hash = createHmac('sha1', salt).update('10.0.0.9').digest();
  await writeFile(file, `${text}|1|${salt.toString('base64')}|${hash.toString('base64')} ssh-ed25519 ${keyA.toString('base64')}\n# comment\n`);
  const again = await KnownHosts.open(file);
  t.is(again.verdict('10.0.0.9', 22, keyA), 'known');
  t.is(again.verdict('10.0.0.9', 22, keyB), 'changed');
  t.is(again.keysFor('10.0.0.1', 22).length, 1);
});
