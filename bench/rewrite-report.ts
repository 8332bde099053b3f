/** `npm run bench:report`: rewrites BENCHMARKS.md from bench/results.json and bench/analysis.md, without running anything. */
import { rewriteReport } from './report.js';

rewriteReport();
