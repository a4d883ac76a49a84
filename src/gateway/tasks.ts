/**
 * The gateway's pool task (runs in workers as dist/src/gateway/tasks.js; the main thread's side is codec.ts): a
 * large body's routing summary from its skeleton. The body arrives by transfer and goes back the same way.
 */
import type { SummarizeInput, SummarizeOutput } from '../dialects/offload.js';
import { failed, succeededMoving, type TaskOutcome } from '../pool/task.js';
import { summarizeLong } from './long-body.js';

export function summarizeLongBody(input: SummarizeInput): TaskOutcome<SummarizeOutput> {
  let summary;
  try {
    summary = summarizeLong(input.dialect, input.body, input.sessionField);
  } catch (err) {
    return failed(err);
  }
  return succeededMoving<SummarizeOutput>({ summary, body: input.body }, [input.body.buffer]);
}
