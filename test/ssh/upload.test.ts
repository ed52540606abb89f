import { mkdtemp, readdir, readFile, rm, stat, symlink, unlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { KnownHosts, SshError, SshFleet, uploadTree, type FleetOptions } from '../../src/ssh/index.js';
import { startLab, type Lab } from '../helpers/lab.js';
import { recordingReporter } from '../helpers/recording-reporter.js';
import { makeTree, treeDigest, writeBigFile } from '../helpers/ssh-tree.js';

let lab: Lab;
let tmp: string;
let tree: string;

test.before(async () => {
  lab = await startLab({ name: 'sshu', hosts: 4, net: '198.18.0.208/28', tmpfs: '3g' });
  tmp = await mkdtemp(join(tmpdir(), 'ssh-upload-'));
  tree = join(tmp, 'tree');
  await makeTree(tree, { files: 400, bigBytes: 40 << 20 });
  await lab.exec(lab.hosts[2]!, 'sh', '-c', "useradd -m -s /bin/sh carol && echo 'carol:carol pw' | chpasswd && echo 'carol ALL=(ALL) ALL' > /etc/sudoers.d/carol");
});

test.after.always(async () => {
  await lab?.down();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function fleetFor(t: { teardown(f: () => Promise<void>): void }, over: Partial<FleetOptions> = {}) {
  const reporter = recordingReporter();
  const fleet = new SshFleet({ auth: { user: 'root', privateKey: lab.key }, hostKeys: 'skip', reporter, retries: 1, ...over });
  t.teardown(() => fleet.close());
  return { fleet, reporter };
}

/** No stage, relay dir or relay key left on a host. */
async function assertClean(t: { deepEqual(a: unknown, b: unknown, m?: string): void; false(v: boolean, m?: string): void }, parent: string) {
  for (const h of lab.hosts) {
    const left = (await readdir(lab.pathIn(h, parent))).filter((n) => n.includes('.sealos-'));
    t.deepEqual(left, [], `${h.name}:${parent}`);
    t.deepEqual((await readdir(lab.pathIn(h, '/tmp'))).filter((n) => n.startsWith('.sealos-relay')), [], `${h.name}:/tmp`);
    t.false((await readFile(lab.pathIn(h, '/root/.ssh/authorized_keys'), 'utf8')).includes('sealos-relay'), h.name);
  }
}

test.serial('a tree reaches every host through the relay, byte for byte, with modes and symlinks', async (t) => {
  const { fleet, reporter } = fleetFor(t, { hostKeys: await KnownHosts.open(join(tmp, 'kh1')) });
  const hosts = lab.hosts.map((h) => h.address);
  const out = await uploadTree(fleet, hosts, tree, '/opt/app', { reporter });
  t.deepEqual(out.map((o) => (o.ok ? o.value.via : o.error.message)), ['relay', 'relay', 'relay', 'relay']);
  const want = await treeDigest(tree);
  for (const h of lab.hosts) t.deepEqual(await treeDigest(lab.pathIn(h, '/opt/app')), want, h.name);
  await assertClean(t, '/opt');
  t.true(reporter.events.some((e) => e.kind === 'phase' && e.name === 'relay' && e.state === 'done'));

  // a second run changes nothing
  const again = await uploadTree(fleet, hosts, tree, '/opt/app', { reporter });
  t.deepEqual(again.map((o) => (o.ok ? o.value.via : o.error.message)), ['unchanged', 'unchanged', 'unchanged', 'unchanged']);

  // one changed file, one mode change, one retargeted link: only those move, directly
  await writeFile(join(tree, 'd3', 'e0', 'f3.txt'), 'changed\n');
  await chmod(join(tree, 'd2', 'e2', 'f2.txt'), 0o700);
  await unlink(join(tree, 'rel-link'));
  await symlink('d1/e1/f1.txt', join(tree, 'rel-link'));
  const third = await uploadTree(fleet, hosts, tree, '/opt/app', { reporter });
  for (const o of third) {
    t.true(o.ok, o.ok ? '' : o.error.message);
    if (o.ok) t.deepEqual([o.value.via, o.value.filesSent], ['direct', 2]);
  }
  const want2 = await treeDigest(tree);
  for (const h of lab.hosts) t.deepEqual(await treeDigest(lab.pathIn(h, '/opt/app')), want2, h.name);
  await assertClean(t, '/opt');
});

test.serial('a relay that cannot reach a host falls back to sending directly', async (t) => {
  const [, h2, h3] = lab.hosts;
  // h3 has no ssh client, so it cannot pass the tree on; h2 has no perl, so it forwards with coreutils tee
  await lab.exec(h3!, 'sh', '-c', 'mv /usr/bin/ssh /usr/bin/ssh.off');
  t.teardown(async () => void (await lab.exec(h3!, 'sh', '-c', 'mv /usr/bin/ssh.off /usr/bin/ssh')));
  await lab.exec(h2!, 'sh', '-c', 'mv /usr/bin/perl /usr/bin/perl.off');
  t.teardown(async () => void (await lab.exec(h2!, 'sh', '-c', 'mv /usr/bin/perl.off /usr/bin/perl')));
  const { fleet, reporter } = fleetFor(t);
  const out = await uploadTree(fleet, lab.hosts.map((h) => h.address), tree, '/srv/fallback', { reporter });
  t.deepEqual(out.map((o) => (o.ok ? o.value.via : o.error.message)), ['relay', 'relay', 'relay', 'direct']);
  t.true(reporter.events.some((e) => e.kind === 'log' && e.level === 'warn' && e.host === lab.hosts[3]!.ip && e.msg.startsWith('relay failed')));
  const want = await treeDigest(tree);
  for (const h of lab.hosts) t.deepEqual(await treeDigest(lab.pathIn(h, '/srv/fallback')), want, h.name);
  await assertClean(t, '/srv');
});

test.serial('a user with password sudo uploads as root; a single file lands atomically', async (t) => {
  const h3 = lab.hosts[2]!;
  const { fleet, reporter } = fleetFor(t, { auth: { user: 'carol', password: 'carol pw' } });
  const out = await uploadTree(fleet, [h3.address], tree, '/opt/carol-tree', { reporter });
  t.true(out[0]!.ok, out[0]!.ok ? '' : out[0]!.error.message);
  t.deepEqual(await treeDigest(lab.pathIn(h3, '/opt/carol-tree')), await treeDigest(tree));
  t.is((await stat(lab.pathIn(h3, '/opt/carol-tree/d0/e0/f0.txt'))).uid, 0);
  const file = join(tree, 'd1', 'e1', 'f1.txt');
  const one = await uploadTree(fleet, [h3.address], file, '/etc/sealos-one.txt', { reporter });
  t.true(one[0]!.ok);
  t.deepEqual(await readFile(lab.pathIn(h3, '/etc/sealos-one.txt')), await readFile(file));
  t.false(JSON.stringify(reporter.events).includes('carol pw'));
});

test.serial('a host killed mid-upload fails alone and clearly; the re-run resumes its partial file', async (t) => {
  const [h1, h2] = lab.hosts;
  const src = join(tmp, 'bigtree');
  await makeTree(src, { files: 20, bigBytes: 0 });
  await writeBigFile(join(src, 'big.bin'), 48 << 20);
  await lab.rate('100mbit');
  t.teardown(() => lab.rate('off'));
  const { fleet, reporter } = fleetFor(t);
  const hosts = [h1!.address, h2!.address];
  const upload = uploadTree(fleet, hosts, src, '/opt/big', { reporter, relay: false, chunkBytes: 8 << 20 });
  // wait until the 5th chunk is being written on h2 (4 chunks of 8 MiB are done), then kill h2
  const stageBig = async (): Promise<number> => {
    const stage = (await readdir(lab.pathIn(h2!, '/opt')).catch(() => [] as string[])).find((n) => n.startsWith('.big.sealos-'));
    if (stage === undefined) return 0;
    const st = await stat(lab.pathIn(h2!, `/opt/${stage}/big.bin`)).catch(() => undefined);
    return st ? st.blocks * 512 : 0;
  };
  const deadline = Date.now() + 60_000;
  while ((await stageBig()) < 35 << 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await lab.stop(h2!);
  const out = await upload;
  t.true(out[0]!.ok, out[0]!.ok ? '' : out[0]!.error.message);
  const failed = out[1]!;
  t.false(failed.ok);
  if (!failed.ok) {
    t.true(failed.error instanceof SshError);
    t.true(failed.error.message.startsWith(`${h2!.ip}: `), failed.error.message);
    t.regex(failed.error.message, /connection lost|cannot connect|cannot open a channel|killed/);
  }
  await lab.rate('off');
  await lab.start(h2!);
  const second = fleetFor(t);
  const again = await uploadTree(second.fleet, hosts, src, '/opt/big', { reporter: second.reporter, relay: false, chunkBytes: 8 << 20 });
  t.deepEqual(again.map((o) => (o.ok ? o.value.via : o.error.message)), ['unchanged', 'direct']);
  const resumed = second.reporter.events.find((e) => e.kind === 'log' && e.msg.startsWith('resuming'));
  t.truthy(resumed);
  const kept = Number(/: (\d+) of (\d+) chunks already there/.exec(resumed && resumed.kind === 'log' ? resumed.msg : '')?.[1]);
  t.true(kept >= 4, `kept ${kept} chunks`);
  t.deepEqual(await treeDigest(lab.pathIn(h2!, '/opt/big')), await treeDigest(src));
  t.deepEqual((await readdir(lab.pathIn(h2!, '/opt'))).filter((n) => n.includes('.sealos-')), []);
});
