/** /v1/datasets: what a tenant may export, and the synchronous streaming path for small exports. */
import type { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { parseList, parseWhere } from '../cli/args.js';
import { ErrorCode } from '../core/errors.js';
import type { ExportRequest } from '../core/job.js';
import { resolveTable } from '../core/plan.js';
import { datasetsFor, resolveRequest } from '../datasets.js';
import { SourcePool } from '../runner/source-pool.js';
import type { AppDeps, Env } from './app.js';
import { HttpError } from './errors.js';
import { datasetView } from './views.js';

export function registerDatasetRoutes(app: Hono<Env>, deps: AppDeps): void {
  const { config } = deps;
  const sources = new SourcePool();

  app.get('/v1/datasets', (c) => c.json({ object: 'list', data: datasetsFor(config, c.get('tenant')).map((d) => datasetView(d, c.get('base'))) }));

  app.get('/v1/datasets/:name/:rows{rows\\.(csv|ndjson)}', async (c) => {
    const tenant = c.get('tenant');
    const format = c.req.param('rows').endsWith('.csv') ? 'csv' : 'ndjson';
    const columnsParam = c.req.query('columns');
    const where = c.req.queries('where') ?? [];
    const request = {
      dataset: c.req.param('name'),
      format,
      ...(columnsParam ? { columns: parseList(columnsParam, 'columns') } : {}),
      filters: where.map(parseWhere) as ExportRequest['filters'],
    };
    const resolved = resolveRequest(config, tenant, request);
    const source = await sources.get(resolved.dataset.source);
    const table = await resolveTable(source, resolved.table, config.export.batchSize);
    const count = await source.count(table.read);
    if (count !== null && count > config.limits.syncRowCap) {
      throw new HttpError(ErrorCode.TOO_MANY_ROWS, `${count} rows match, more than the ${config.limits.syncRowCap} this synchronous endpoint streams: create an export with POST /v1/exports instead`);
    }
    const encoder = resolved.format.create({ tables: [table.schema], options: resolved.formatOptions });
    c.header('Content-Type', resolved.format.contentType);
    c.header('Content-Disposition', `attachment; filename="${resolved.dataset.name}.${resolved.format.extension}"`);
    return stream(c, async (out) => {
      await out.write(encoder.beginTable(0));
      for await (const batch of source.batches(table.read, null)) {
        if (out.aborted) return;
        await out.write(encoder.encode(batch.rows));
      }
      await out.write(encoder.endTable());
      await out.write(encoder.finish());
    });
  });
}
