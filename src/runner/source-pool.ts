/** Keeps one open Source per URL for the life of a runner (drivers pool their own connections). */
import { openSource } from '../sources/index.js';
import type { Source } from '../sources/source.js';

export class SourcePool {
  private readonly sources = new Map<string, Promise<Source>>();

  get(url: string): Promise<Source> {
    let s = this.sources.get(url);
    if (!s) {
      s = openSource(url);
      // A failed open is not cached: the next job tries again (the database may be back).
      s.catch(() => this.sources.delete(url));
      this.sources.set(url, s);
    }
    return s;
  }

  async closeAll(): Promise<void> {
    const all = [...this.sources.values()];
    this.sources.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => null))?.close()));
  }
}
