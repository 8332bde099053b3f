/** Turns a caller's export request into a read plan for the operator's dataset, tenant predicate included. */
import type { DatasetConfig, LoadedConfig, TenantConfig } from './config.js';
import { ErrorCode, OffloadError } from './core/errors.js';
import type { ExportRequest } from './core/job.js';
import type { TableRequest } from './core/plan.js';
import type { Filter } from './core/types.js';
import { formatNames, getFormat } from './formats/index.js';
import type { Format } from './formats/format.js';

/** Datasets the tenant may export. */
export function datasetsFor(config: LoadedConfig, tenant: TenantConfig): DatasetConfig[] {
  return config.datasets.filter((d) => !tenant.datasets || tenant.datasets.includes(d.name));
}

export function formatsFor(dataset: DatasetConfig): string[] {
  return dataset.formats ?? formatNames();
}

export interface ResolvedRequest {
  dataset: DatasetConfig;
  format: Format;
  formatOptions: Record<string, unknown>;
  table: TableRequest;
}

/**
 * Checks a request against the config: the dataset is the tenant's, columns are exportable,
 * filters use allowed operators, the format is offered. Adds the tenant predicate, which callers
 * cannot remove. Identifiers only ever come from the config.
 */
export function resolveRequest(config: LoadedConfig, tenant: TenantConfig, req: ExportRequest): ResolvedRequest {
  const bad = (code: ErrorCode, msg: string): OffloadError => new OffloadError(code, `[offload] ${msg}`);
  const dataset = datasetsFor(config, tenant).find((d) => d.name === req.dataset);
  if (!dataset) throw bad(ErrorCode.UNKNOWN_DATASET, `unknown dataset "${req.dataset}"`);
  if (!formatsFor(dataset).includes(req.format)) {
    throw bad(ErrorCode.UNSUPPORTED_FORMAT, `format "${req.format}" is not offered for "${dataset.name}" (one of: ${formatsFor(dataset).join(', ')})`);
  }
  const format = getFormat(req.format, req.compression ?? 'none');
  const formatOptions = format.parseOptions(req.options ?? {});
  const columns = req.columns ?? dataset.columns;
  for (const c of columns) {
    if (!dataset.columns.includes(c)) throw bad(ErrorCode.UNKNOWN_COLUMN, `column "${c}" is not exportable from "${dataset.name}" (columns: ${dataset.columns.join(', ')})`);
  }
  const filters: Filter[] = (req.filters ?? []).map((f) => {
    const allowed = dataset.filters[f.column];
    if (!allowed) throw bad(ErrorCode.INVALID_FILTER, `column "${f.column}" of "${dataset.name}" is not filterable (filterable: ${Object.keys(dataset.filters).join(', ') || 'none'})`);
    if (!allowed.includes(f.op)) throw bad(ErrorCode.INVALID_FILTER, `operator "${f.op}" is not allowed on "${f.column}" (allowed: ${allowed.join(', ')})`);
    return f as Filter;
  });
  filters.push({ column: dataset.tenantColumn, op: 'eq', value: tenant.id });
  return {
    dataset,
    format,
    formatOptions,
    table: { table: dataset.table, columns, filters, ...(dataset.key ? { key: dataset.key } : {}) },
  };
}
