/** Public JSON shapes of jobs and datasets (what the API returns; internal fields stay inside). */
import type { DatasetConfig } from '../config.js';
import type { Job } from '../core/job.js';
import { formatsFor } from '../datasets.js';

export function jobView(job: Job, base: string): Record<string, unknown> {
  const self = `${base}/v1/exports/${job.id}`;
  return {
    id: job.id,
    object: 'export',
    status: job.state,
    dataset: job.dataset,
    format: job.format,
    columns: job.request.columns ?? null,
    filters: job.request.filters ?? [],
    options: job.request.options ?? {},
    progress: job.progress,
    attempts: job.attempts,
    error: job.error,
    file: job.file && job.state === 'succeeded'
      ? { size: job.file.size, sha256: job.file.sha256, contentType: job.file.contentType, filename: job.file.filename, expiresAt: job.file.expiresAt }
      : null,
    cancelRequested: job.cancelRequested,
    webhookUrl: job.webhookUrl ?? null,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    links: { self, events: `${self}/events`, download: `${self}/download`, cancel: `${self}/cancel`, link: `${self}/link`, webhooks: `${self}/webhooks` },
  };
}

export function datasetView(d: DatasetConfig, base: string): Record<string, unknown> {
  return {
    name: d.name,
    description: d.description ?? null,
    columns: d.columns,
    filters: Object.entries(d.filters).map(([column, operators]) => ({ column, operators })),
    formats: formatsFor(d),
    links: { rowsCsv: `${base}/v1/datasets/${d.name}/rows.csv`, rowsNdjson: `${base}/v1/datasets/${d.name}/rows.ndjson` },
  };
}
