// The library's public entry (dist/index.js + dist/index.d.ts): what notebooks and scripts
// import. In a tslab notebook (kernel cwd = project root):  import * as lab from "./dist/index";
// tslab compiles cells to CommonJS with TypeScript 5.0 (moduleResolution node10) and
// Node ≥ 20.19 loads this ESM entry through require(esm): keep every module reachable from
// here free of top-level await. Shared file: add exports, do not reorder or remove.

// Running experiments
export { loadConfig, resolveConfig, type ConfigOverrides, type RunConfig } from "./runner/config.js";
export { type RunOptions, type RunResult } from "./runner/run.js";
// In a notebook, a kernel interrupt stops the run cleanly (lib/notebook/run.ts); elsewhere the runner's own.
export { runMatrix, RunInterrupted } from "./notebook/run.js";
export type { RunEvents } from "./runner/events.js";
export { formatPlan, planRun, type RunPlan } from "./runner/plan.js";
export { DatasetSpecSchema, type DatasetSpec } from "./generators/dataset.js";
export { readManifest, verifyDataset, writeDataset, type Manifest, type VerifyResult } from "./generators/manifest.js";
export { formatBytes, parseBytes } from "./bytes.js";
export { systemNames, EMBEDDED_SYSTEMS } from "./systems/registry.js";
export { UsageError, SystemError } from "./errors.js";

// Results
export { loadBundles, type BundleMeta, type LoadedBundles } from "./results/bundle.js";
export { tableRows } from "./results/arrow-io.js";
export type { ResultRow, HistogramRow, LatencyRow, TimeseriesRow } from "./results/schema.js";
export { formatSummary, summaryLines, type SummaryLine } from "./analysis/summary.js";

// The one definition of percentiles and confidence intervals
export { aggregate, mean, PERCENTILES, quantile, quantileSorted, sd, summarize, tQuantile975, type Aggregate, type LatencySummary } from "./metrics/stats.js";

// Analysis (arquero frames over bundles)
export { cellsOf, CONFIG_DIMS, datasetLabel, framesOf, frame, gradeOrder, loadFrames, rowsOf, STAGE_LABELS, type Frame, type LabFrames } from "./analysis/frames.js";
export { overRepeats } from "./analysis/repeats.js";
export { edrTable, EDR_METRICS, type EdrMetric, type EdrRow } from "./analysis/edr.js";
export { BOUNDARIES, boundaryFactor, reductionTable, whereReduced, WHERE_THRESHOLD, type Boundary, type ReductionRow, type Where } from "./analysis/reduction.js";
export { datasetSizes, sizeTable, LAYER_LABELS, type DatasetSizes, type SizeRow } from "./analysis/sizes.js";
export { throughputTable, THROUGHPUT_METRICS, type ThroughputRow } from "./analysis/throughput.js";
export { latencyCurve, latencyPercentiles, latencySamples, latencySpectrum, latencyTable, LATENCY_BY, LATENCY_STATS } from "./analysis/latency.js";
export { hasTimeseries, timeseriesTable, type TimeseriesPoint } from "./analysis/timeseries.js";
export { inSlice, slicesOf, systemSeries, type Slice } from "./analysis/slices.js";
export { systemColor, OKABE_ITO } from "./analysis/palette.js";

// Thesis figures and tables (the same functions `dedup-lab figures|tables` call)
export type { FigureSpec } from "./analysis/figure-style.js";
export { printSize, PRINT_DEFAULTS, type PrintSize } from "./analysis/figure-style.js";
export { edrFigure, latencyFigure, sizesFigure, throughputFigure, timeseriesFigure } from "./analysis/figures.js";
export { reductionFigure } from "./analysis/figures.js";
export { FigureRenderer, writeFigures, FIGURE_FORMATS, type FigureFormat, type WrittenFigure } from "./analysis/render.js";
export { edrThesisTable, formatStat, latencyRepeatsThesisTable, latencyThesisTable, toLatex, toMarkdown, writeTables, type ThesisTable } from "./analysis/thesis-tables.js";
export { reductionThesisTable } from "./analysis/thesis-tables.js";
export { FIGURE_POTENTIALS, hasPotential, potentialFrame, POTENTIAL_QUANTITIES, type PotentialRow } from "./analysis/potential.js";
export { potentialFigure } from "./analysis/figures.js";
export { potentialThesisTable } from "./analysis/thesis-tables.js";
export {
  analyzePotential, loadPotentialCodecs, PotentialAnalyzer, potentialMetrics, potentialTable, sampleFractionFor, DEFAULT_POTENTIAL_OPTIONS,
  type PotentialOptions, type PotentialReport,
} from "./metrics/potential.js";
export { FastCdc, fastCdcParams, type FastCdcParams } from "./metrics/fastcdc.js";
export { datasetPotential, recordPotential } from "./runner/potential-rows.js";
export { thesisFigures, thesisTables, type ThesisFigures } from "./analysis/thesis.js";

// Notebook helpers
export { display, figureBundle, notebookProgress, showFigure, showMarkdown, showTable } from "./notebook/display.js";

// One statistics path: latency cells from pooled raw samples (HdrHistograms as fallback), the validity rule in analysis
export { isUsable, latencyCells, leftOut, leftOutNote, type LatencyCellRow, type LatencySource } from "./analysis/cells.js";
export { formatMs, SUMMARY_BY } from "./analysis/summary.js";
export { formatValue } from "./analysis/thesis-tables.js";
export { tQuantile, tUpperTail } from "./metrics/stats.js";
export { rowValid } from "./results/schema.js";

// Sharded studies: plan N shards (isolation domains kept whole), merge their bundles
export { assignShards, checkAssignment, formatShard, parseShard, planShards, shardCells, studyId, ShardConflict, type Shard, type ShardAssignment, type ShardSpec } from "./runner/shards.js";
export { cellEstimateSeconds } from "./runner/plan.js";
export { checkSameStudy, mergedRunId, planMerge, readMergeSources, writeMerged, type MergePlan, type MergeResult, type MergeSource } from "./results/merge.js";

// Typed records (issue 14): schemas, L0 logical bytes, seeded record datasets, the insertion and keys dimensions
export {
  decodeRecord, encodeRecord, fieldLogicalBytes, naturalKey, FIELD_TYPES, recordDigest, recordLogicalBytes, recordsEqual, RecordTotalsBuilder, validateRecord,
  type FieldSpec, type FieldTotals, type FieldType, type FieldValue, type RecordSchema, type RecordTotals, type RecordValues,
} from "./generators/records.js";
export {
  RecordDataset, recordSchemaOf, SYNTHETIC_RECORD_SCHEMAS,
  type GeneratedRecord, type RecordDatasetSpec, type RecordManifest, type RecordManifestEntry,
} from "./generators/records-synthetic.js";
export {
  FORMAT_NAMES, GHARCHIVE_SCHEMA, GUTENBERG_SCHEMA, openBankTransactions, openCsv, openForumPosts, openGhArchive, openGutenberg, openRandomNumbers,
  openSqliteTable, openXlsx, readAllRecords, realRecordTotals, RECORD_PARSERS, sqliteTables, type ParsedRecords, type RecordFormat,
} from "./data/records.js";
export { INSERTIONS, insertionModes, KEY_CHOICES, keyModes } from "./runner/config.js";
export { insertionLabel } from "./results/schema.js";
export { KEY_MODES, type CollisionBehaviour, type KeyMode, type TypedCell } from "./systems/contract.js";
