/** The embedded SQLite job store runs the shared job-store conformance suite. */
import { join } from 'node:path';
import { sqliteJobStore } from '../../src/store/sqlite.js';
import { testJobStore } from '../conformance/job-store-suite.js';
import { tempDir } from '../helpers/sqlite-fixture.js';

testJobStore({ name: 'sqlite', open: async () => sqliteJobStore({ path: join(tempDir('offload-store-'), 'jobs.db') }) });
