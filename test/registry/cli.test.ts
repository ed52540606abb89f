import test from 'ava';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { copyImage, hostPlatform, parseLocation, ociTransports, Store } from '../../src/oci/index.js';
import { sealos, tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { skopeoDigest } from '../helpers/registry-images.js';
import { startRegistry } from '../helpers/registry.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { tempDir } from '../helpers/temp.js';

const USER = 'admin';
const PASSWORD = 's3cret-Pa55word';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const home = await tempDir(t);
  const store = join(home, 'store');
  const env = { HOME: home, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: '', REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' };
  const run = (args: readonly string[], stdin?: string) => sealos(store, args, { env, stdin });
  return { home, store, env, run, authFile: join(home, '.config', 'containers', 'auth.json') };
}

/** Puts a random image into the store at `storeRoot` under `name`. */
async function seedStore(t: Parameters<typeof tempDir>[0], storeRoot: string, name: string) {
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'seed', layers: 2, layerBytes: 64 << 10 });
  const ctx = { storeRoot };
  await copyImage(
    await parseLocation(`oci:${src}:seed`, ctx, ociTransports).openSource(),
    await parseLocation(`store:${name}`, ctx, ociTransports).openDestination(),
    { platforms: hostPlatform() },
  );
  return img;
}

test('login with a wrong password fails with 401 and leaks nothing; the right one is saved 0600', async (t) => {
  const reg = await startRegistry(t, { auth: { username: USER, password: PASSWORD } });
  const s = await setup(t);
  const bad = await s.run(['login', reg.host, '-u', USER, '--password-stdin'], 'wrong-password\n');
  t.is(bad.code, 5, bad.stderr);
  t.regex(bad.stderr, /401/);
  t.regex(bad.stderr, /rejected the credentials/);
  t.notRegex(bad.stderr + bad.stdout, /wrong-password/);
  await t.throwsAsync(stat(s.authFile));

  const good = await s.run(['login', reg.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`);
  t.is(good.code, 0, good.stderr);
  t.is(good.stdout.trim(), 'Login Succeeded!');
  t.is((await stat(s.authFile)).mode & 0o777, 0o600);
  const saved = JSON.parse(await readFile(s.authFile, 'utf8')) as { auths: Record<string, { auth: string }> };
  t.is(Buffer.from(saved.auths[reg.host]!.auth, 'base64').toString(), `${USER}:${PASSWORD}`);
  t.notRegex(good.stderr + good.stdout, new RegExp(PASSWORD));

  const warned = await s.run(['login', reg.host, '-u', USER, '-p', PASSWORD]);
  t.is(warned.code, 0);
  t.regex(warned.stderr, /process list/);
  t.notRegex(warned.stderr + warned.stdout, new RegExp(PASSWORD));
});

test('push and pull through an htpasswd registry with saved credentials; logout forgets them', async (t) => {
  const reg = await startRegistry(t, { auth: { username: USER, password: PASSWORD } });
  const s = await setup(t);
  const img = await seedStore(t, s.store, `${reg.host}/team/app:1`);

  const denied = await s.run(['push', `${reg.host}/team/app:1`]);
  t.is(denied.code, 5);
  t.regex(denied.stderr, /401 authentication required/);
  t.regex(denied.stderr, /sealos login/);

  t.is((await s.run(['login', reg.host, '-u', USER, '--password-stdin'], PASSWORD)).code, 0);
  const pushed = await s.run(['push', `${reg.host}/team/app:1`]);
  t.is(pushed.code, 0, pushed.stderr);
  t.is(pushed.stdout.trim(), img.manifest.digest);
  t.is(await skopeoDigest(`docker://${reg.host}/team/app:1`, ['--tls-verify=false', '--authfile', s.authFile]), img.manifest.digest);

  const other = await setup(t);
  // The second user keeps Docker's config.json instead.
  const dockerEnv = { ...other.env, DOCKER_CONFIG: join(other.home, 'docker') };
  await tool('mkdir', ['-p', join(other.home, 'docker')]);
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(join(other.home, 'docker', 'config.json'), JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } })),
  );
  const pulled = await sealos(other.store, ['pull', `${reg.host}/team/app:1`], { env: dockerEnv });
  t.is(pulled.code, 0, pulled.stderr);
  t.is(pulled.stdout.trim(), img.manifest.digest.slice(7));
  t.regex(pulled.stderr, /pulled .*: 3 blobs/);
  const again = await sealos(other.store, ['pull', `${reg.host}/team/app:1`], { env: dockerEnv });
  t.regex(again.stderr, /already in the local store/);
  const always = await sealos(other.store, ['pull', '--policy', 'always', `${reg.host}/team/app:1`], { env: dockerEnv });
  t.regex(always.stderr, /0 blobs .* 3 already present/);
  t.deepEqual((await (await Store.open(other.store)).list()).map((i) => i.name), [`${reg.host}/team/app:1`]);

  t.is((await s.run(['logout', reg.host])).code, 0);
  const gone = await s.run(['logout', reg.host]);
  t.is(gone.code, 5);
  t.regex(gone.stderr, /not logged in/);
  t.is((await s.run(['push', `${reg.host}/team/app:1`, `${reg.host}/team/app:2`])).code, 5);
  for (const r of [denied, pushed, pulled, again, always]) t.notRegex(r.stdout + r.stderr, new RegExp(PASSWORD));
});

test('pull: a missing image is named, --policy never does not touch the network, -q prints only the ID', async (t) => {
  const reg = await startRegistry(t);
  const s = await setup(t);
  const missing = await s.run(['pull', `${reg.host}/no/such:1`]);
  t.is(missing.code, 5);
  t.regex(missing.stderr, new RegExp(`no image no/such:1 in ${reg.host.replace('.', '\\.')}`));
  const never = await s.run(['pull', '--policy', 'never', `${reg.host}/no/such:1`]);
  t.is(never.code, 3);
  t.regex(never.stderr, /not in the local store/);

  const img = await seedStore(t, s.store, `${reg.host}/q/x:1`);
  t.is((await s.run(['push', '-q', `${reg.host}/q/x:1`, `docker://${reg.host}/q/y:1`])).code, 0);
  const empty = await setup(t);
  const quiet = await empty.run(['pull', '-q', `${reg.host}/q/y:1`]);
  t.is(quiet.code, 0, quiet.stderr);
  t.is(quiet.stdout.trim(), img.manifest.digest.slice(7));
  t.is(quiet.stderr, '');
  t.deepEqual((await snapshotStore(empty.store)).tmp, []);
});

test('inspect reads an image straight from a registry, with saved credentials', async (t) => {
  const reg = await startRegistry(t, { auth: { username: USER, password: PASSWORD } });
  const s = await setup(t);
  const img = await seedStore(t, s.store, 'team/seen:1');
  t.is((await s.run(['login', reg.host, '-u', USER, '--password-stdin'], `${PASSWORD}\n`)).code, 0);
  t.is((await s.run(['push', '-q', 'team/seen:1', `${reg.host}/team/seen:1`])).code, 0);
  const r = await s.run(['inspect', `docker://${reg.host}/team/seen:1`]);
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.is(out.Digest, img.manifest.digest);
  t.is(out.Config.rootfs.diff_ids.length, 2);
  const missing = await s.run(['inspect', `docker://${reg.host}/team/absent:1`]);
  t.is(missing.code, 5);
  t.regex(missing.stderr, /team\/absent:1/);
  t.notRegex(missing.stderr + r.stderr, new RegExp(PASSWORD));
});
