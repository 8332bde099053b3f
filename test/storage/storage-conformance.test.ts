/** The storage contract against the local filesystem and against S3 (s3rver, real protocol). */
import { rmSync } from 'node:fs';
import { fsStorage } from '../../src/storage/fs.js';
import { s3Storage } from '../../src/storage/s3.js';
import { testStorage } from '../conformance/storage-suite.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

const dir = tempDir('offload-fs-storage-');
testStorage({ name: 'fs', open: async () => fsStorage({ root: dir }), cleanup: async () => rmSync(dir, { recursive: true, force: true }) });

let s3: TestS3 | null = null;
testStorage({
  name: 's3',
  async open() {
    s3 = await startS3('conformance');
    return s3Storage({ bucket: s3.bucket, prefix: 'offload', endpoint: s3.endpoint, forcePathStyle: true, region: 'us-east-1', credentials: s3.credentials });
  },
  cleanup: async () => s3?.close(),
});
