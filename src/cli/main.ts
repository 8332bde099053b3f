#!/usr/bin/env node
/** The `offload` command line. */
import { Command, CommanderError } from 'commander';
import { registerDemo } from './demo.js';
import { describeError, EXIT, exitCodeFor } from './exit.js';
import { registerExport } from './export-command.js';
import { registerService } from './serve.js';

const debug = process.argv.includes('--debug');
// The AWS SDK warns on every start under Node 20 that its 2027 releases will need Node 22; in a
// CLI whose stderr carries progress and one-line errors that is noise (README: Requirements).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

async function run(fn: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await fn();
  } catch (err) {
    process.stderr.write(`${describeError(err, debug)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}

const program = new Command()
  .name('offload')
  .description('Resumable, memory-bounded exports of large datasets: a CLI, an HTTP service and workers.')
  .version('0.1.0')
  .option('--debug', 'print stack traces on errors')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerExport(program, run);
registerDemo(program, run);
registerService(program, run);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every other parse error is bad usage.
    process.exitCode = err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  } else {
    process.stderr.write(`${describeError(err, debug)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
