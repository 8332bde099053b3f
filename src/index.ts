/** Offload's public library API: the exporter, the seam contracts and the built-in backends. */
export { createExporter, planExport, type Exporter, type ExporterOptions, type ExportRun, type ExportOutcome } from './core/exporter.js';
export { runSlice, DEFAULT_BATCH_SIZE, DEFAULT_PART_SIZE, type ExportPlan, type Progress, type SliceOptions, type SliceResult } from './core/engine.js';
export { resolveTable, type TableRequest, type ResolvedTable } from './core/plan.js';
export { CHECKPOINT_VERSION, type Checkpoint, type CheckpointSink } from './core/checkpoint.js';
export { ErrorCode, OffloadError, toOffloadError } from './core/errors.js';
export type { ColumnInfo, Cursor, Filter, FilterOp, JsonValue, KeyTuple, LogicalType, Row, TableSchema, Value } from './core/types.js';
export type { Batch, ReadPlan, Source, TableInfo } from './sources/source.js';
export { openSource } from './sources/index.js';
export { sqliteSource, type SqliteSourceOptions } from './sources/sqlite.js';
export type { Encoder, EncoderContext, Format } from './formats/format.js';
export { csvFormat, ndjsonFormat, jsonFormat, xlsxFormat, sqlFormat, gzipped, getFormat, formatNames } from './formats/index.js';
export type { ByteRange, ObjectMeta, Storage, StoredFile, Upload } from './storage/storage.js';
export { fsStorage, type FsStorageOptions } from './storage/fs.js';
export { CheckpointFile } from './store/checkpoint-file.js';
export { signWebhook, verifyWebhook, SIGNATURE_HEADER } from './notify/signature.js';
