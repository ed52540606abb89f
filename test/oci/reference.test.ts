import test from 'ava';
import { formatImageRef, normalizeRef, parseImageRef, OciError } from '../../src/oci/index.js';

const D = 'sha256:' + 'a'.repeat(64);

test('references normalize as Docker does', (t) => {
  const cases: Array<[string, string]> = [
    ['nginx', 'docker.io/library/nginx:latest'],
    ['nginx:1.25', 'docker.io/library/nginx:1.25'],
    ['labring/kubernetes:v1.24.2', 'docker.io/labring/kubernetes:v1.24.2'],
    ['docker.io/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/library/nginx:1', 'docker.io/library/nginx:1'],
    ['localhost:5000/a/b:1', 'localhost:5000/a/b:1'],
    ['localhost/a', 'localhost/a:latest'],
    ['registry.k8s.io/kube-apiserver:v1.25.0', 'registry.k8s.io/kube-apiserver:v1.25.0'],
    [`nginx@${D}`, `docker.io/library/nginx@${D}`],
    [`nginx:1@${D}`, `docker.io/library/nginx:1@${D}`],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['[::1]:5000/x:2', '[::1]:5000/x:2'],
    ['a/b/c/d:e', 'docker.io/a/b/c/d:e'],
    ['my_repo/x-y.z__w:T_1.0-a', 'docker.io/my_repo/x-y.z__w:T_1.0-a'],
  ];
  for (const [raw, want] of cases) t.is(normalizeRef(raw), want, raw);
});

test('parts are kept apart', (t) => {
  const r = parseImageRef('localhost:5000/team/app:v1');
  t.like(r, { domain: 'localhost:5000', path: 'team/app', tag: 'v1', digest: undefined, raw: 'localhost:5000/team/app:v1' });
  t.is(formatImageRef({ ...r, tag: undefined }), 'localhost:5000/team/app');
});

test('invalid references are refused with the reason', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['Nginx', /lowercase/],
    ['docker.io/Library/x', /lowercase/],
    ['nginx:', /tag/],
    ['nginx:-x', /tag/],
    ['nginx@sha256:abc', /digest/],
    ['a//b', /path component/],
    ['a/-b', /path component/],
    [':1', /repository/],
    ['x'.repeat(300), /longer than 255/],
  ];
  for (const [raw, why] of bad) {
    const err = t.throws(() => parseImageRef(raw), { instanceOf: OciError }, raw);
    t.is(err?.code, 'BAD_REFERENCE');
    t.regex(err?.message ?? '', why, raw);
  }
});
