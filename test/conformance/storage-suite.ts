/** The Storage contract, run against every backend (fs, S3). */
import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Storage } from '../../src/storage/storage.js';

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const meta = { contentType: 'text/csv; charset=utf-8', filename: 'people é.csv', jobId: 'job_1' };

export interface StorageSuite {
  name: string;
  open(): Promise<Storage>;
  cleanup?(): Promise<void>;
}

export function testStorage(suite: StorageSuite): void {
  describe(`Storage contract: ${suite.name}`, () => {
    let storage: Storage;
    let partSize: number;
    beforeAll(async () => {
      storage = await suite.open();
      partSize = Math.max(storage.minPartSize, 64 * 1024);
    });
    afterAll(async () => suite.cleanup?.());

    it('publishes a small object in one go, with its size and SHA-256', async () => {
      const body = Buffer.from('id,name\r\n1,"a, b"\r\n');
      const up = await storage.createUpload('small/one.csv', meta);
      const file = await up.complete(body);
      expect(file).toEqual({ key: 'small/one.csv', size: body.length, sha256: sha(body) });
      expect((await storage.stat('small/one.csv'))?.size).toBe(body.length);
      expect((await bytesOf(await storage.read('small/one.csv'))).equals(body)).toBe(true);
    });

    it('writes parts, serves ranges, and publishes only at completion', async () => {
      const parts = [randomBytes(partSize), randomBytes(partSize), randomBytes(1000)];
      const up = await storage.createUpload('multi/a.bin', meta);
      await up.writePart(parts[0]!);
      await up.writePart(parts[1]!);
      expect(await storage.stat('multi/a.bin')).toBeNull(); // nothing visible before completion
      const file = await up.complete(parts[2]!);
      const all = Buffer.concat(parts);
      expect(file.size).toBe(all.length);
      expect(file.sha256).toBe(sha(all));
      expect((await bytesOf(await storage.read('multi/a.bin'))).equals(all)).toBe(true);
      const mid = await bytesOf(await storage.read('multi/a.bin', { start: partSize - 10, end: partSize + 9 }));
      expect(mid.equals(all.subarray(partSize - 10, partSize + 10))).toBe(true);
    });

    it('keeps no reference to the bytes it was given: the caller reuses one buffer for every part', async () => {
      const parts = [randomBytes(partSize), randomBytes(partSize), randomBytes(777)];
      const reused = Buffer.alloc(partSize);
      const up = await storage.createUpload('reuse/a.bin', meta);
      for (const p of parts.slice(0, 2)) {
        p.copy(reused);
        await up.writePart(reused);
        reused.fill(0); // what the engine does next: the next part's bytes go into the same memory
      }
      parts[2]!.copy(reused);
      const file = await up.complete(reused.subarray(0, 777));
      reused.fill(0);
      const all = Buffer.concat(parts);
      expect(file.sha256).toBe(sha(all));
      expect((await bytesOf(await storage.read('reuse/a.bin'))).equals(all)).toBe(true);
    });

    it('resumes from a state: finished parts are kept, anything written after the state is replaced', async () => {
      const [p1, p2, lost, p3] = [randomBytes(partSize), randomBytes(partSize), randomBytes(partSize), randomBytes(500)];
      const up = await storage.createUpload('resume/r.bin', meta);
      await up.writePart(p1!);
      await up.writePart(p2!);
      const state = JSON.parse(JSON.stringify(up.state())) as typeof up extends { state(): infer S } ? S : never;
      await up.writePart(lost!); // written, but its checkpoint never saved (a crash right here)
      await up.release?.();
      const again = await storage.resumeUpload('resume/r.bin', meta, state);
      const file = await again.complete(p3!);
      const expected = Buffer.concat([p1!, p2!, p3!]);
      expect(file.size).toBe(expected.length);
      expect(file.sha256).toBe(sha(expected));
      expect((await bytesOf(await storage.read('resume/r.bin'))).equals(expected)).toBe(true);
    });

    it('abort and abortUpload discard everything; delete removes a published object', async () => {
      const up = await storage.createUpload('gone/a.bin', meta);
      await up.writePart(randomBytes(partSize));
      await up.abort();
      expect(await storage.stat('gone/a.bin')).toBeNull();

      const up2 = await storage.createUpload('gone/b.bin', meta);
      await up2.writePart(randomBytes(partSize));
      const state = up2.state();
      await up2.release?.();
      await storage.abortUpload('gone/b.bin', state);
      expect(await storage.stat('gone/b.bin')).toBeNull();
      if (storage.listUnfinished) {
        const keys: string[] = [];
        for await (const u of storage.listUnfinished()) keys.push(u.key);
        expect(keys).not.toContain('gone/a.bin');
        expect(keys).not.toContain('gone/b.bin');
      }

      await (await storage.createUpload('gone/c.bin', meta)).complete(Buffer.from('x'));
      await storage.delete('gone/c.bin');
      expect(await storage.stat('gone/c.bin')).toBeNull();
      await expect(storage.read('gone/c.bin')).rejects.toThrow();
    });
  });
}
