/**
 * Registry commands: pull, push, login, logout. Parsing, settings resolved at the edge (auth files, TLS),
 * and printing only; the work is the copy engine with docker:// locations. Where credentials are read
 * and written: see registry-options.ts.
 */
import { Option, type Command } from 'commander';
import { SealosError } from '../errors.js';
import {
  copyImage,
  formatImageRef,
  hostPlatform,
  parseImageRef,
  parsePlatform,
  Store,
  type CopyResult,
  type Platform,
} from '../oci/index.js';
import {
  hasCredentials,
  normalizeAuthKey,
  parseAnyLocation,
  Registries,
  removeAllCredentials,
  removeCredentials,
  saveCredentials,
  transports,
  type Credentials,
  type RegistryLocationContext,
} from '../registry/index.js';
import type { Reporter } from '../report.js';
import type { ContextGetter } from './program.js';
import { addRegistryFlags, authFilePaths, jobsOption, quietly, registryOptions, type RegistryFlags } from './options.js';

/** Flags of the commands that copy images. */
type CopyFlags = RegistryFlags & { readonly quiet?: boolean; readonly jobs?: number };

const mib = (n: number): string => `${(n / (1 << 20)).toFixed(1)} MiB`;

function summary(reporter: Reporter, verb: string, what: string, r: CopyResult, startMs: number): void {
  const s = ((Date.now() - startMs) / 1000).toFixed(1);
  reporter.emit({
    kind: 'log',
    level: 'info',
    msg: `${verb} ${what}: ${r.blobsCopied} blobs (${mib(r.bytesCopied)}) copied, ${r.blobsSkipped} already present, in ${s}s`,
  });
}

/** `docker://X` or a bare registry reference -> the ImageRef it names. */
const imageArg = (s: string) => parseImageRef(s.startsWith('docker://') ? s.slice('docker://'.length) : s);

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) parts.push(chunk);
  return Buffer.concat(parts).toString('utf8');
}

/** `https://r.example.com/v2/` -> `r.example.com`; `r.example.com/ns` keeps its namespace (a per-namespace login). */
function authKeyArg(arg: string): { key: string; host: string } {
  const key = normalizeAuthKey(arg);
  const host = key.split('/')[0] ?? '';
  if (host === '') throw new SealosError('USAGE', `"${arg}" is not a registry host`);
  return { key, host };
}

export function registerRegistryCommands(program: Command, ctx: ContextGetter): void {
  addRegistryFlags(program.command('pull'))
    .description('copy images from registries into the local store')
    .argument('<images...>', 'image references (docker.io/library/nginx:1.25, localhost:5000/x:1)')
    .option('--platform <os/arch[/variant]>', "which image of a multi-platform index (default: this host's)")
    .option('--all-platforms', 'keep the whole multi-platform index')
    .addOption(new Option('--policy <policy>', 'when to pull').choices(['always', 'missing', 'never']).default('missing'))
    .addOption(jobsOption())
    .option('-q, --quiet', 'no progress output')
    .action(
      async (
        images: string[],
        o: CopyFlags & { platform?: string; allPlatforms?: boolean; policy: 'always' | 'missing' | 'never' },
        cmd: Command,
      ) => {
        const c = ctx(cmd);
        if (o.platform !== undefined && o.allPlatforms) throw new SealosError('USAGE', 'pull: give --platform or --all-platforms, not both');
        const platforms: 'all' | Platform = o.allPlatforms ? 'all' : o.platform !== undefined ? parsePlatform(o.platform) : hostPlatform();
        const reporter = quietly(c.reporter, o.quiet);
        const refs = images.map(imageArg);
        const store = await Store.open(c.storeRoot, { reporter });
        const registries = new Registries(registryOptions(c, o));
        const lctx: RegistryLocationContext = { storeRoot: c.storeRoot, reporter, registries };
        try {
          for (const ref of refs) {
            const name = formatImageRef(ref);
            const present = await store.find(name);
            if (o.policy === 'never' || (o.policy === 'missing' && present.length > 0)) {
              if (present.length === 0)
                throw new SealosError('IMAGE_UNKNOWN', `pull: ${name} is not in the local store and --policy is never`, {
                  hint: 'pull it with --policy missing, or load it with `sealos load`',
                });
              reporter.emit({ kind: 'log', level: 'info', msg: `${name} is already in the local store (use --policy always to pull again)` });
              c.reporter.result(present[0]!.descriptor.digest.slice('sha256:'.length));
              continue;
            }
            const start = Date.now();
            reporter.emit({ kind: 'log', level: 'info', msg: `pulling ${name}` });
            const src = await parseAnyLocation(`docker://${name}`, lctx).openSource();
            const r = await copyImage(src, await store.destination(name, { keepBlobs: true }), { reporter, jobs: o.jobs, platforms });
            summary(reporter, 'pulled', name, r, start);
            c.reporter.result(r.digest.slice('sha256:'.length));
          }
        } finally {
          await registries.close();
        }
      },
    );

  addRegistryFlags(program.command('push'))
    .description('copy an image from the local store to a registry (or to any location)')
    .argument('<image>', 'image name or ID in the local store')
    .argument('[destination]', 'docker://REF, a registry reference, or any location (oci:DIR:REF, registry-dir:DIR:REF, ...); default: the image name')
    .addOption(jobsOption())
    .option('-q, --quiet', 'no progress output')
    .action(async (image: string, destination: string | undefined, o: CopyFlags, cmd: Command) => {
      const c = ctx(cmd);
      const reporter = quietly(c.reporter, o.quiet);
      const store = await Store.open(c.storeRoot, { reporter });
      const img = await store.get(image);
      const registries = new Registries(registryOptions(c, o));
      const lctx: RegistryLocationContext = { storeRoot: c.storeRoot, reporter, registries };
      const colon = destination?.indexOf(':') ?? -1;
      const hasTransport = destination !== undefined && colon > 0 && transports.has(destination.slice(0, colon));
      const dest = destination === undefined ? `docker://${img.name}` : hasTransport ? destination : `docker://${formatImageRef(imageArg(destination))}`;
      try {
        const start = Date.now();
        const dst = await parseAnyLocation(dest, lctx).openDestination();
        reporter.emit({ kind: 'log', level: 'info', msg: `pushing ${img.name} to ${String(dest)}` });
        const r = await copyImage(await store.source(img.name), dst, { reporter, jobs: o.jobs, platforms: 'all' });
        summary(reporter, 'pushed', img.name, r, start);
        c.reporter.result(r.digest);
      } finally {
        await registries.close();
      }
    });

  addRegistryFlags(program.command('login'), 'credentials file to write')
    .description(
      'check credentials against a registry and save them (--authfile, $REGISTRY_AUTH_FILE, or ~/.config/containers/auth.json, mode 0600)',
    )
    .argument('<registry>', 'registry host, e.g. registry.example.com:5000')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(
      async (registry: string, o: RegistryFlags & { username?: string; password?: string; passwordStdin?: boolean }, cmd: Command) => {
        const c = ctx(cmd);
        const { key, host } = authKeyArg(registry);
        if (o.username === undefined || o.username === '') throw new SealosError('USAGE', 'login: give the user name with -u USER');
        if (o.password !== undefined && o.passwordStdin) throw new SealosError('USAGE', 'login: give -p or --password-stdin, not both');
        let password = o.password;
        if (o.passwordStdin) password = (await readStdin()).replace(/\r?\n$/, '');
        else if (password !== undefined)
          c.reporter.emit({ kind: 'log', level: 'warn', msg: 'a password given with -p is visible in the process list; use --password-stdin' });
        if (password === undefined || password === '') throw new SealosError('USAGE', 'login: give the password with --password-stdin (or -p)');
        const creds: Credentials = { username: o.username, password };
        const registries = new Registries(registryOptions(c, o, creds));
        try {
          await (await registries.client(host)).checkLogin();
        } finally {
          await registries.close();
        }
        const paths = authFilePaths(c.env, o.authfile);
        await saveCredentials(paths.write, key, creds);
        c.reporter.emit({ kind: 'log', level: 'debug', msg: `credentials for ${key} saved in ${paths.write}` });
        c.reporter.result('Login Succeeded!');
      },
    );

  program
    .command('logout')
    .description('remove saved credentials for a registry, or for all with --all')
    .argument('[registry]', 'registry host')
    .option('-a, --all', 'remove the credentials of every registry')
    .option('--authfile <file>', 'credentials file to edit')
    .action(async (registry: string | undefined, o: { all?: boolean; authfile?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const paths = authFilePaths(c.env, o.authfile);
      if (o.all) {
        if (registry !== undefined) throw new SealosError('USAGE', 'logout: give a registry or --all, not both');
        await removeAllCredentials(paths.write);
        c.reporter.result('Removed login credentials for all registries');
        return;
      }
      if (registry === undefined) throw new SealosError('USAGE', 'logout: give a registry, or --all');
      const host = authKeyArg(registry).key;
      if (await removeCredentials(paths.write, host)) {
        c.reporter.result(`Removed login credentials for ${host}`);
        return;
      }
      const elsewhere = [];
      for (const p of paths.read) if (p !== paths.write && (await hasCredentials(p, host))) elsewhere.push(p);
      throw new SealosError('AUTH_NOT_LOGGED_IN', `logout: not logged in to ${host} in ${paths.write}`, {
        hint: elsewhere.length > 0 ? `credentials for ${host} are in ${elsewhere.join(', ')}, which this command leaves alone` : undefined,
      });
    });
}

