import test from 'ava';
import { mkdir, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { copyImage, hostPlatform } from '../../src/oci/index.js';
import { parseAnyLocation, Registries, RegistryError, type RegistryLocationContext } from '../../src/registry/index.js';
import { tool } from '../helpers/cli.js';
import { randomImage } from '../helpers/images.js';
import { startRegistry } from '../helpers/registry.js';
import { tempDir } from '../helpers/temp.js';

test('TLS: a private CA is refused, then trusted through --cert-dir; --tls-verify=false skips the check', async (t) => {
  const dir = await tempDir(t);
  const [cert, key] = [join(dir, 'reg.crt'), join(dir, 'reg.key')];
  await tool('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert]);
  const reg = await startRegistry(t, { tls: { cert, key } });
  const src = await tempDir(t);
  const img = await randomImage(src, { name: 'tls', layers: 1, layerBytes: 16 << 10 });
  const push = async (opts: Partial<RegistryLocationContext>, repo: string) => {
    const registries = new Registries({ insecureLoopback: false, retryBaseMs: 10, ...opts });
    t.teardown(() => registries.close());
    const ctx: RegistryLocationContext = { storeRoot: join(dir, 'store'), registries };
    return copyImage(await parseAnyLocation(`oci:${src}:tls`, ctx).openSource(), await parseAnyLocation(`docker://${reg.host}/${repo}:1`, ctx).openDestination(), {
      platforms: hostPlatform(),
    });
  };
  const refused = await t.throwsAsync(push({}, 'a/x'));
  t.is((refused as RegistryError).code, 'REGISTRY_TLS');
  t.regex((refused as RegistryError).hint ?? '', /--cert-dir/);

  const certs = join(dir, 'certs');
  await mkdir(certs);
  await copyFile(cert, join(certs, 'ca.crt'));
  t.is((await push({ certDir: certs }, 'b/x')).digest, img.manifest.digest);
  t.is((await push({ tlsVerify: false }, 'c/x')).digest, img.manifest.digest);
  // The default: a loopback registry is trusted like Docker trusts it.
  t.is((await push({ insecureLoopback: true }, 'd/x')).digest, img.manifest.digest);
  await tool('skopeo', ['inspect', '--cert-dir', certs, `docker://${reg.host}/b/x:1`]);
});
