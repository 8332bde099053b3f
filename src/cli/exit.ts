/** The one place that turns an error into a CLI exit code and a single readable line. */
import { OffloadError } from '../core/errors.js';

export const EXIT = Object.freeze({ OK: 0, FAILURE: 1, USAGE: 2, INTERRUPTED: 130 });

/** Exit code for an error: 2 for bad usage or bad input, 1 for runtime failures. */
export function exitCodeFor(err: unknown): number {
  return err instanceof OffloadError && err.isInputError ? EXIT.USAGE : EXIT.FAILURE;
}

/** One line describing the error; the stack only with --debug. */
export function describeError(err: unknown, debug: boolean): string {
  if (debug && err instanceof Error && err.stack) {
    let text = err.stack;
    if (err.cause instanceof Error && err.cause.stack) text += `\nCaused by: ${err.cause.stack}`;
    return text;
  }
  const message = err instanceof Error ? err.message : String(err);
  const code = err instanceof OffloadError ? ` [${err.code}]` : '';
  return `offload: error${code}: ${message.replace(/^\[offload\]\s*/, '').replace(/\s*\n\s*/g, ' ')}`;
}
