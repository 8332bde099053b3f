/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
import { z } from 'zod';
import { ErrorCode } from '../core/errors.js';
import { ExportRequestSchema, JOB_STATES } from '../core/job.js';

const ErrorSchema = z.object({ error: z.object({ code: z.enum(Object.values(ErrorCode) as [string, ...string[]]), message: z.string() }) });
const ProgressSchema = z.object({ rows: z.number().int(), totalRows: z.number().int().nullable(), percent: z.number().nullable(), bytes: z.number().int(), etaSeconds: z.number().nullable() });
const ExportSchema = z.object({
  id: z.string(),
  object: z.literal('export'),
  status: z.enum(JOB_STATES as [string, ...string[]]),
  dataset: z.string(),
  format: z.string(),
  columns: z.array(z.string()).nullable(),
  filters: z.array(z.object({ column: z.string(), op: z.string(), value: z.unknown().optional() })),
  options: z.record(z.string(), z.unknown()),
  progress: ProgressSchema,
  attempts: z.number().int(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  file: z.object({ size: z.number().int(), sha256: z.string(), contentType: z.string(), filename: z.string(), expiresAt: z.string() }).nullable(),
  cancelRequested: z.boolean(),
  webhookUrl: z.string().nullable(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  links: z.record(z.string(), z.string()),
});
const ListSchema = z.object({ object: z.literal('list'), data: z.array(ExportSchema), nextCursor: z.string().nullable() });
const DeliverySchema = z.object({ attempt: z.number().int(), at: z.string(), durationMs: z.number().int(), statusCode: z.number().int().nullable(), error: z.string().nullable() });
const WebhookEventSchema = z.object({
  id: z.string(), type: z.enum(['export.succeeded', 'export.failed', 'export.cancelled']), url: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']), attempts: z.number().int(), createdAt: z.string(),
  nextAttemptAt: z.string().nullable(), deliveredAt: z.string().nullable(), lastError: z.string().nullable(), deliveries: z.array(DeliverySchema),
});
const WebhookListSchema = z.object({ object: z.literal('list'), data: z.array(WebhookEventSchema) });
const DatasetSchema = z.object({ name: z.string(), description: z.string().nullable(), columns: z.array(z.string()), filters: z.array(z.object({ column: z.string(), operators: z.array(z.string()) })), formats: z.array(z.string()) });

const schema = (s: z.ZodType): unknown => z.toJSONSchema(s, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
const ref = (name: string): unknown => ({ $ref: `#/components/schemas/${name}` });
const json = (name: string, description: string): unknown => ({ description, content: { 'application/json': { schema: ref(name) } } });
const errors = (...codes: number[]): Record<string, unknown> => Object.fromEntries(codes.map((c) => [String(c), json('Error', 'error')]));
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

/** The document served at /openapi.json. */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Offload', version: '0.1.0', description: 'Asynchronous, resumable exports of large datasets.' },
    servers: [{ url: serverUrl }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { ExportRequest: schema(ExportRequestSchema), Export: schema(ExportSchema), ExportList: schema(ListSchema), Dataset: schema(DatasetSchema), Error: schema(ErrorSchema), WebhookList: schema(WebhookListSchema) },
    },
    paths: {
      '/v1/exports': {
        post: {
          summary: 'Create an export (runs in the background)',
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('ExportRequest') } } },
          responses: { 202: json('Export', 'accepted'), 200: json('Export', 'idempotent replay'), ...errors(400, 401, 409, 413, 422, 429) },
        },
        get: {
          summary: "List the tenant's exports, newest first",
          parameters: [
            { name: 'status', in: 'query', schema: { type: 'string', enum: JOB_STATES } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { 200: json('ExportList', 'a page of exports'), ...errors(401, 422) },
        },
      },
      '/v1/exports/{id}': { get: { summary: 'Status and progress', parameters: [idParam], responses: { 200: json('Export', 'the export'), ...errors(401, 404) } } },
      '/v1/exports/{id}/cancel': { post: { summary: 'Cancel', parameters: [idParam], responses: { 202: json('Export', 'cancelled or cancelling'), ...errors(401, 404, 409) } } },
      '/v1/exports/{id}/download': {
        get: {
          summary: 'Download the file (Range supported); also accepts a signed link instead of a key',
          parameters: [idParam, { name: 'expires', in: 'query', schema: { type: 'integer' } }, { name: 'signature', in: 'query', schema: { type: 'string' } }],
          responses: { 200: { description: 'the file' }, 206: { description: 'a byte range' }, ...errors(401, 403, 404, 409, 410, 416) },
        },
      },
      '/v1/exports/{id}/link': { post: { summary: 'A signed, expiring download URL', parameters: [idParam], responses: { 200: { description: '{url, expiresAt}' }, ...errors(401, 404, 409, 410) } } },
      '/v1/exports/{id}/events': { get: { summary: 'Server-Sent Events: progress until a terminal event', parameters: [idParam], responses: { 200: { description: 'text/event-stream' }, ...errors(401, 404) } } },
      '/v1/exports/{id}/webhooks': { get: { summary: 'Webhook events of the export and every delivery attempt', parameters: [idParam], responses: { 200: json('WebhookList', 'events'), ...errors(401, 404) } } },
      '/v1/datasets': { get: { summary: 'Datasets this tenant may export', responses: { 200: { description: 'list', content: { 'application/json': { schema: { type: 'object', properties: { data: { type: 'array', items: ref('Dataset') } } } } } }, ...errors(401) } } },
      '/v1/datasets/{name}/rows.csv': { get: { summary: 'Synchronous CSV stream for small exports (row cap)', parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }, { name: 'columns', in: 'query', schema: { type: 'string' } }, { name: 'where', in: 'query', schema: { type: 'array', items: { type: 'string' } } }], responses: { 200: { description: 'text/csv' }, ...errors(401, 413, 422) } } },
      '/v1/datasets/{name}/rows.ndjson': { get: { summary: 'Synchronous NDJSON stream for small exports (row cap)', parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: { description: 'application/x-ndjson' }, ...errors(401, 413, 422) } } },
      '/healthz': { get: { security: [], summary: 'Liveness', responses: { 200: { description: 'ok' } } } },
      '/readyz': { get: { security: [], summary: 'Readiness (job store reachable)', responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } } } },
    },
  };
}
