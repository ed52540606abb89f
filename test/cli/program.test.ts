import test from 'ava';
import { Command } from 'commander';
import { buildProgram, COMMAND_GROUPS } from '../../src/cli/program.js';

const namesOf = (program: Command): string[] => program.commands.flatMap((c) => [c.name(), ...c.aliases()]).sort();

test('each command group registers exactly the names it is loaded for', async (t) => {
  for (const group of COMMAND_GROUPS) {
    const program = new Command();
    (await group.load())(program, () => {
      throw new Error('not called');
    });
    t.deepEqual(namesOf(program), [...group.names].sort());
  }
});

test('a command line loads only its group; help and unknown commands get them all', async (t) => {
  t.deepEqual(namesOf(await buildProgram(['node', 'sealos', '--debug', 'images', '-q'])), ['images', 'inspect', 'load', 'prune', 'rmi', 'save', 'tag']);
  t.deepEqual(namesOf(await buildProgram(['node', 'sealos', 'bud', '-t', 'x', '.'])), ['bud', 'build', 'build-using-dockerfile']);
  const all = COMMAND_GROUPS.flatMap((g) => g.names).sort();
  t.deepEqual(namesOf(await buildProgram(['node', 'sealos', '--help'])), all);
  t.deepEqual(namesOf(await buildProgram(['node', 'sealos', 'imagez'])), all);
});
