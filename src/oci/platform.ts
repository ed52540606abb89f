/** Platforms: the host's, parsing `os/arch[/variant]`, and choosing one manifest of an index. */
import { OciError } from './errors.js';
import type { Descriptor, Index, Platform } from './spec.js';

const ARCH: Readonly<Record<string, string>> = { x64: 'amd64', x86_64: 'amd64', ia32: '386', aarch64: 'arm64', arm: 'arm' };

/** The platform this process runs on, in OCI terms (`linux/amd64`). */
export function hostPlatform(): Platform {
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: ARCH[process.arch] ?? process.arch };
}

/** Parses `os/arch[/variant]`, as `--platform` takes it. */
export function parsePlatform(s: string): Platform {
  const [os, architecture, variant, ...rest] = s.split('/');
  if (!os || !architecture || rest.length > 0 || variant === '')
    throw new OciError('BAD_REFERENCE', `invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64`);
  const arch = ARCH[architecture] ?? architecture;
  return variant === undefined ? { os, architecture: arch } : { os, architecture: arch, variant };
}

export const formatPlatform = (p: Platform): string => [p.os, p.architecture, p.variant].filter(Boolean).join('/');

/** Whether an index entry's platform satisfies the wanted one (a wanted variant must match exactly). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (have === undefined) return false;
  if (have.os !== want.os || (ARCH[have.architecture] ?? have.architecture) !== want.architecture) return false;
  return want.variant === undefined || have.variant === want.variant || (have.variant === undefined && want.variant === 'v8');
}

/** The index entry for `want`; an error listing what the index offers when none fits. */
export function choosePlatform(index: Index, want: Platform, what: string): Descriptor {
  const found = index.manifests.find((m) => platformMatches(m.platform, want));
  if (found !== undefined) return found;
  const offered = index.manifests.map((m) => (m.platform ? formatPlatform(m.platform) : '?')).join(', ');
  throw new OciError('NO_PLATFORM', `${what}: no image for ${formatPlatform(want)} (it has: ${offered || 'nothing'})`, {
    hint: 'pick one with --platform os/arch[/variant]',
  });
}
