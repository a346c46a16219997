// The C++ programs some tests run, and what a missing one means.
//   MICSTREAM_BUILD set (make test sets it; run-node-tests.sh passes it on):
//     the programs are looked for in that folder only, and a missing one fails
//     every test that needs it, saying which and where.
//   MICSTREAM_BUILD unset (a developer running a test file by hand): the usual
//     build folders are searched, and the tests that need a program none of
//     them has skip.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { repoRoot } from './doc-vectors.js';

const USUAL_BUILDS = ['build/dev', 'build/release', 'build/asan', 'build/relwithdebinfo'];

/**
 * Finds programs in one build folder.
 * @param {string[]} programs paths inside a build folder, e.g. 'server/micstream-server'
 * @param {string} howToBuild a command that builds them (for the messages)
 * @returns {{skip: string|false, paths: () => string[]}} skip: node:test's
 *   option for the tests that need them; paths(): their absolute paths, or,
 *   under MICSTREAM_BUILD, an error saying what is missing (call it in each
 *   test, or in a suite's before hook, so that each fails with it).
 */
export function findBuilt(programs, howToBuild) {
  const given = process.env.MICSTREAM_BUILD;
  for (const dir of given ? [given] : USUAL_BUILDS) {
    const paths = programs.map((p) => join(resolve(repoRoot, dir), p));
    if (paths.every((p) => existsSync(p))) return { skip: false, paths: () => paths };
  }
  const names = programs.join(' and ');
  if (!given) return { skip: `${names} not built (${howToBuild})`, paths: () => assert.fail(`${names} not built`) };
  const missing = programs.filter((p) => !existsSync(join(resolve(repoRoot, given), p)));
  const message = `MICSTREAM_BUILD=${given} has no ${missing.join(' and ')} (${resolve(repoRoot, given)}): `
    + `make test needs ${missing.length > 1 ? 'them' : 'it'} built there, and fails rather than skip these tests`;
  return { skip: false, paths: () => assert.fail(message) };
}
