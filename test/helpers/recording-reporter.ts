/** A reporter that records every event, for assertions on skips and progress. */
import type { ReportEvent, Reporter } from '../../src/report.js';

export interface RecordingReporter extends Reporter {
  readonly events: ReportEvent[];
  readonly results: string[];
  /** Digests of blobs reported with `state`. */
  blobs(state: 'start' | 'done' | 'skipped'): string[];
  /** Every log message joined, to search for leaks. */
  text(): string;
}

export function recordingReporter(): RecordingReporter {
  const events: ReportEvent[] = [];
  const results: string[] = [];
  return {
    events,
    results,
    emit: (e) => void events.push(e),
    result: (s) => void results.push(s),
    blobs: (state) => events.flatMap((e) => (e.kind === 'blob' && e.state === state ? [e.digest] : [])),
    text: () => [...events.map((e) => JSON.stringify(e)), ...results].join('\n'),
  };
}
