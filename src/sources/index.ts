/** Opens a source from a URL: `sqlite:./hr.db`, a plain file path, or a driver URL registered here. */
import { ErrorCode, OffloadError } from '../core/errors.js';
import type { Source } from './source.js';

type Opener = (url: string) => Promise<Source>;

/** URL scheme → backend. Each backend is imported only when used, so its driver loads lazily. */
const openers: Record<string, Opener> = {
  sqlite: async (url) => (await import('./sqlite.js')).sqliteSource({ path: sqlitePath(url) }),
  file: async (url) => (await import('./sqlite.js')).sqliteSource({ path: sqlitePath(url) }),
  postgres: async (url) => (await import('./postgres.js')).postgresSource({ url }),
  postgresql: async (url) => (await import('./postgres.js')).postgresSource({ url }),
  mysql: async (url) => (await import('./mysql.js')).mysqlSource({ url }),
  mariadb: async (url) => (await import('./mysql.js')).mysqlSource({ url }),
};

function sqlitePath(url: string): string {
  const rest = url.replace(/^(sqlite|file):/, '');
  // sqlite:///abs/path and sqlite://./rel are accepted as well as sqlite:./rel
  return rest.startsWith('//') ? rest.slice(2) || '.' : rest;
}

/** The scheme of a source URL, or `sqlite` for a bare path. */
export function sourceScheme(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return m && m[1]!.length > 1 ? m[1]!.toLowerCase() : 'sqlite';
}

/**
 * Opens a source.
 * @example const source = await openSource('sqlite:./hr.db');
 */
export async function openSource(url: string): Promise<Source> {
  const scheme = sourceScheme(url);
  const opener = openers[scheme];
  if (!opener) {
    throw new OffloadError(ErrorCode.BAD_REQUEST, `[offload] unsupported source "${url}" (schemes: ${Object.keys(openers).join(', ')})`);
  }
  return opener(scheme === 'sqlite' && !url.startsWith('sqlite:') ? `sqlite:${url}` : url);
}

export type { Batch, ReadPlan, Source, TableInfo } from './source.js';
