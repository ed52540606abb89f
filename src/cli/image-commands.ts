/** Image commands: images, tag, rmi, inspect, save, load. Parsing and printing only. */
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  copyImage,
  formatImageRef,
  inspectImage,
  loadArchive,
  ociTransports,
  parseImageRef,
  parseLocation,
  parsePlatform,
  saveImages,
  Store,
  type ArchiveFormat,
  type StoreImage,
} from '../oci/index.js';
import { SealosError } from '../errors.js';
import { parseAnyLocation, Registries } from '../registry/index.js';
import type { ContextGetter } from './program.js';
import { addRegistryFlags, jobsOption, quietly, registryOptions, type RegistryFlags } from './options.js';
import { formatTable, humanSize, timeAgo } from './table.js';

interface ImageRow {
  readonly name: string;
  readonly repository: string;
  readonly tag: string;
  readonly id: string;
  readonly digest: string;
  readonly created: string | undefined;
  readonly size: number;
}

async function imageRows(store: Store, images: readonly StoreImage[]): Promise<ImageRow[]> {
  const rows: ImageRow[] = [];
  for (const img of images) {
    const ref = parseImageRef(img.name);
    let created: string | undefined;
    try {
      created = (await inspectImage(await store.source(img.name))).Config.created;
    } catch {
      created = undefined;
    }
    rows.push({
      name: img.name,
      repository: `${ref.domain}/${ref.path}`,
      tag: ref.tag ?? '<none>',
      id: img.descriptor.digest.slice(7, 19),
      digest: img.descriptor.digest,
      created,
      size: await store.sizeOf(img.descriptor),
    });
  }
  return rows;
}

const FORMATS: readonly string[] = ['oci-archive', 'docker-archive', 'oci-dir'];

export function registerImageCommands(program: Command, ctx: ContextGetter): void {
  program
    .command('images')
    .description('list images in the local store')
    .option('-q, --quiet', 'print image IDs only')
    .option('--digests', 'show digests')
    .option('--json', 'print JSON')
    .option('--no-trunc', 'do not shorten IDs')
    .action(async (o: { quiet?: boolean; digests?: boolean; json?: boolean; trunc: boolean }, cmd: Command) => {
      const c = ctx(cmd);
      const store = await Store.open(c.storeRoot, { reporter: c.reporter });
      const rows = await imageRows(store, await store.list());
      const id = (r: ImageRow) => (o.trunc ? r.id : r.digest.slice(7));
      if (o.json) {
        c.reporter.result(JSON.stringify(rows.map((r) => ({ id: r.digest.slice(7), names: [r.name], digest: r.digest, created: r.created, size: r.size })), null, 2));
      } else if (o.quiet) {
        c.reporter.result([...new Set(rows.map(id))].join('\n'));
      } else {
        const head = ['REPOSITORY', 'TAG', ...(o.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
        const body = rows.map((r) => [r.repository, r.tag, ...(o.digests ? [r.digest] : []), id(r), r.created ? timeAgo(r.created) : '', humanSize(r.size)]);
        c.reporter.result(formatTable([head, ...body]));
      }
    });

  program
    .command('tag')
    .description('give an image more names')
    .argument('<source>', 'image name or ID')
    .argument('<target...>', 'new names')
    .action(async (source: string, targets: string[], _o: unknown, cmd: Command) => {
      const c = ctx(cmd);
      await (await Store.open(c.storeRoot, { reporter: c.reporter })).tag(source, targets);
    });

  program
    .command('rmi')
    .alias('prune')
    .description('remove images from the local store, and blobs nothing uses any more')
    .argument('[images...]', 'image names or IDs')
    .option('-a, --all', 'remove all images')
    .option('-f, --force', 'remove every name of an image given by ID')
    .action(async (images: string[], o: { all?: boolean; force?: boolean }, cmd: Command) => {
      const c = ctx(cmd);
      if (images.length === 0 && !o.all) throw new SealosError('USAGE', 'rmi: name at least one image, or use --all');
      const removed = await (await Store.open(c.storeRoot, { reporter: c.reporter })).remove(images, o);
      for (const name of removed) c.reporter.result(`Untagged: ${name}`);
    });

  addRegistryFlags(program.command('inspect'))
    .description('show the manifest, config and sealos labels of an image (store name or ID, docker://REF, oci:DIR, oci-archive:FILE, docker-archive:FILE, registry-dir:DIR:REF)')
    .argument('<image>', 'image name, ID or location')
    .option('--platform <os/arch[/variant]>', 'which image of a multi-platform index')
    .action(async (image: string, o: RegistryFlags & { platform?: string }, cmd: Command) => {
      const c = ctx(cmd);
      const registries = new Registries(registryOptions(c, o));
      try {
        const loc = parseAnyLocation(image, { storeRoot: c.storeRoot, reporter: c.reporter, registries });
        const src = loc.transport === 'store' ? await (await Store.open(c.storeRoot)).source(image) : await loc.openSource();
        const result = await inspectImage(src, o.platform !== undefined ? parsePlatform(o.platform) : undefined);
        c.reporter.result(JSON.stringify(result, null, 2));
      } finally {
        await registries.close();
      }
    });

  program
    .command('save')
    .description('write images into one archive, to carry them across an air gap')
    .argument('<images...>', 'image names or IDs')
    .requiredOption('-o, --output <file>', 'the archive to write')
    .addOption(new Option('--format <format>', 'archive format').choices(FORMATS).default('oci-archive'))
    .addOption(jobsOption())
    .option('-q, --quiet', 'no progress')
    .action(async (images: string[], o: { output: string; format: string; jobs?: number; quiet?: boolean }, cmd: Command) => {
      const c = ctx(cmd);
      const reporter = quietly(c.reporter, o.quiet);
      const store = await Store.open(c.storeRoot, { reporter });
      if (o.format === 'oci-dir') {
        if (images.length !== 1) throw new SealosError('USAGE', 'save --format oci-dir takes one image');
        const img = await store.get(images[0]!);
        await copyImage(await store.source(img.name), await parseLocation(`oci:${o.output}:${img.name}`, c, ociTransports).openDestination(), {
          reporter,
          jobs: o.jobs,
          platforms: 'all',
        });
        return;
      }
      await saveImages(store, images, o.format as ArchiveFormat, o.output, { reporter, jobs: o.jobs });
    });

  program
    .command('load')
    .description('load every image of an archive (oci-archive or docker-archive, optionally gzipped) into the local store')
    .option('-i, --input <file>', 'the archive; standard input when omitted')
    .addOption(jobsOption())
    .option('-q, --quiet', 'no progress')
    .action(async (o: { input?: string; jobs?: number; quiet?: boolean }, cmd: Command) => {
      const c = ctx(cmd);
      const reporter = quietly(c.reporter, o.quiet);
      if (o.input === undefined && process.stdin.isTTY) throw new SealosError('USAGE', 'load: give -i FILE or pipe an archive into standard input');
      const store = await Store.open(c.storeRoot, { reporter });
      const names = await loadArchive(store, o.input ?? process.stdin, { reporter, jobs: o.jobs });
      for (const name of names) c.reporter.result(`Loaded image: ${formatImageRef(parseImageRef(name))}`);
    });
}
