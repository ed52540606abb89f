import test from 'ava';
import { BuildError, parseKubefile, expandWord, expandWords, IgnoreRules, compilePattern } from '../../src/build/index.js';

const vars = new Map([
  ['A', 'a'],
  ['EMPTY', ''],
  ['SP', 'x y'],
]);

test('variable substitution follows Docker', (t) => {
  t.is(expandWord('$A ${A} ${A}b', vars), 'a a ab');
  t.is(expandWord('${NOPE:-dflt} ${EMPTY:-e} ${EMPTY-e} ${A:+set} ${NOPE:+set}', vars), 'dflt e  set ');
  t.is(expandWord('init.sh \\$registryDomain', vars), 'init.sh $registryDomain');
  t.is(expandWord('"in \\$quotes $A"', vars), 'in $quotes a');
  t.is(expandWord("'$A stays'", vars), '$A stays');
  t.is(expandWord('$(VAR) $1 $', vars), '$(VAR)  $');
  t.is(expandWord('${NOPE:-"a b"}', vars), 'a b');
  t.deepEqual(expandWords('$SP "q r" s\\ t', vars), ['x y', 'q r', 's t']);
  t.throws(() => expandWord('${A', vars), { message: /missing "}"/ });
  t.throws(() => expandWord('"open', vars), { message: /unterminated double quote/ });
  t.throws(() => expandWord('${NOPE:?must be set}', vars), { message: /NOPE: must be set/ });
});

test('parser: comments, continuations, directives, forms', (t) => {
  const kf = parseKubefile(
    [
      '# escape=`',
      '# a comment',
      'ARG V=1',
      'FROM scratch AS base',
      'LABEL a=b `',
      '  # comment inside a continuation',
      '  c="d e"',
      'CMD ["x", "y"]',
      'ENTRYPOINT echo hi',
      'copy --chmod=0755 a `',
      '  b /c/',
    ].join('\n'),
    'Kubefile',
  );
  t.is(kf.escape, '`');
  t.deepEqual(
    kf.instructions.map((i) => [i.cmd, i.pos.line]),
    [
      ['ARG', 3],
      ['FROM', 4],
      ['LABEL', 5],
      ['CMD', 8],
      ['ENTRYPOINT', 9],
      ['COPY', 10],
    ],
  );
  t.is(kf.instructions[2]!.rest, 'a=b   c="d e"');
  t.deepEqual(kf.instructions[3]!.json, ['x', 'y']);
  t.is(kf.instructions[4]!.json, undefined);
  t.deepEqual(kf.instructions[5]!.flags, [{ name: 'chmod', value: '0755' }]);
  t.is(kf.instructions[5]!.rest, 'a   b /c/');
});

test('parser errors name the file and line', (t) => {
  const bad = (text: string): BuildError => t.throws(() => parseKubefile(text, 'Kubefile'), { instanceOf: BuildError })!;
  t.is(bad('FROM scratch\nCOPY a b\n\nCOPPY x y').message, 'Kubefile:4: unknown instruction "COPPY"');
  t.regex(bad('FROM scratch\nCOPPY x y').hint!, /did you mean COPY/);
  t.regex(bad('FROM scratch\nLABEL a="open').message, /^Kubefile:2: LABEL: unterminated double quote/);
  t.regex(bad('FROM scratch\nCMD ["a", "b"').message, /^Kubefile:2: CMD: invalid JSON array/);
  t.regex(bad('FROM scratch\nSHELL sh -c').message, /^Kubefile:2: SHELL must be a JSON array/);
  t.regex(bad('LABEL a=b\nFROM scratch').message, /^Kubefile:1: LABEL before FROM/);
  t.regex(bad('FROM --plat=x scratch').message, /^Kubefile:1: unknown flag --plat for FROM/);
  t.regex(bad('ARG x').message, /no FROM instruction/);
  t.is(bad('FROM scratch\nCOPPY x y').code, 'BUILD_SYNTAX');
  // Shell form may start with "[" when it is not JSON.
  t.is(parseKubefile('FROM scratch\nCMD [ -f x ] && y', 'K').instructions[1]!.json, undefined);
});

test('dockerignore rules and patterns', (t) => {
  const r = IgnoreRules.parse('# c\n*.log\n!keep.log\nbuild/\n**/tmp\n/abs');
  t.true(r.excludes('a.log'));
  t.false(r.excludes('keep.log'));
  t.false(r.excludes('sub/a.log'));
  t.true(r.excludes('build/x/y'));
  t.true(r.excludes('deep/er/tmp'));
  t.true(r.excludes('tmp/file'));
  t.true(r.excludes('abs'));
  t.false(r.excludes('src/main.go'));
  t.true(compilePattern('a/*.txt').test('a/b.txt'));
  t.false(compilePattern('a/*.txt').test('a/b/c.txt'));
  t.true(compilePattern('[a-c]?').test('bz'));
  t.true(compilePattern('[^a-c]').test('z'));
});
